"""The app factory: `create_app(settings)` is the HTTP API that tests and the daemon run.

Two APIs share one app and one bearer token:
- `/api/v1/...`: the plugin API (health, status, search, related notes, note
  sections, chat over Server-Sent Events, the conversation log and its ratings,
  sync);
- `/v1/...`: the OpenAI-compatible API (models, chat completions, embeddings),
  so the `openai` client and Obsidian plugins that take a custom OpenAI URL
  work unchanged;
- `/mcp`: the same memory over the Model Context Protocol (streamable HTTP,
  `server.mcp`), for Claude Desktop, Cursor, VS Code and other MCP clients.

Routes only translate HTTP to calls on `overlay.core.memory.Memory`; every expected
failure is an `OverlayError`, turned into `{"error": {"type", "message"}}` with
the class's `http_status` in one handler.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from importlib.metadata import version
from typing import TYPE_CHECKING

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.routing import Route

from distill.forgetting import ForgettingSync
from indexer.sync_worker import SyncWorker
from overlay.config import Settings
from server import (
    chat,
    completions,
    conversations,
    embeddings,
    forget_route,
    health,
    mcp,
    model_list,
    notes,
    pairs,
    review,
    search,
)
from server import sync as sync_routes
from server.auth import load_token, require_token
from server.errors import add_error_handlers, error_responses
from server.limits import BodyLimit, GenerationGate, TimeLimit
from server.state import ServerState

if TYPE_CHECKING:
    from overlay.core.memory import Memory

log = logging.getLogger("overlay.server")
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

# Everything behind the token, in the order the OpenAPI page lists it.
GUARDED = (
    health,
    search,
    notes,
    chat,
    conversations,
    sync_routes,
    forget_route,
    pairs,
    model_list,
    completions,
    embeddings,
)

DESCRIPTION = """\
Overlay answers from your Obsidian vault: search, related notes, chat with
citations, and an OpenAI-compatible endpoint for other plugins.

Every route but `/api/v1/health` needs `Authorization: Bearer <token>`;
`overlay token` prints the token. Errors are `{"error": {"type", "message"}}`.
"""


def create_app(
    settings: Settings, *, memory: Memory | None = None, sync: SyncWorker | None = None
) -> FastAPI:
    """The API for `settings.vault`.

    `memory` defaults to `Memory(settings)`, built here and closed with the app;
    `sync` defaults to a worker the app starts and stops (the daemon passes its own).
    Either way the first full sync is the caller's to request.
    """
    owned_memory = memory is None
    if memory is None:
        from distill.promotion import RunCatalog
        from overlay.core.memory import Memory

        memory = Memory(settings, adapter_catalog=RunCatalog(settings))
    forgetting = ForgettingSync(
        settings, memory, memory.store.purge_deleted, memory.refresh_adapters
    )
    indexed = memory.store.last_sync() is not None
    state = ServerState(settings, memory, sync or SyncWorker(forgetting, indexed=indexed))
    mcp_sessions = mcp.session_manager(memory, settings)
    app = FastAPI(
        title="Overlay",
        version=version("overlay"),
        description=DESCRIPTION,
        lifespan=_lifespan(state, mcp_sessions, owned_memory=owned_memory, owned_sync=sync is None),
    )
    app.state.overlay = state
    app.state.token = load_token(settings)
    # The last added is the outermost: CORS, then the time limit (a queued answer's wait
    # counts), then the body limit (a body too large never takes a place in the queue).
    app.add_middleware(GenerationGate)
    app.add_middleware(BodyLimit, max_bytes=settings.server.max_body_bytes)
    app.add_middleware(
        TimeLimit,
        request_s=settings.server.request_timeout_s,
        generation_s=settings.server.generation_timeout_s,
    )
    _add_cors(app, settings)  # added last, so it is the outermost: every answer gets CORS
    add_error_handlers(app)
    app.include_router(health.public)
    app.include_router(review.page)  # the page holds no data; its calls carry the token
    for module in GUARDED:
        app.include_router(
            module.router,
            dependencies=[Depends(require_token)],
            responses=error_responses(401, 413, 422, 500, 504),
        )
    guard = mcp.TokenGuard(mcp_sessions, lambda: str(app.state.token))
    app.router.routes.append(Route("/mcp", guard, methods=["GET", "POST", "DELETE"]))
    return app


def _lifespan(
    state: ServerState,
    mcp_sessions: StreamableHTTPSessionManager,
    *,
    owned_memory: bool,
    owned_sync: bool,
) -> Lifespan:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if owned_sync:
            state.sync.start()
        try:
            async with mcp_sessions.run():
                yield
        finally:
            if state.streams.close_all():
                log.warning("an answer was still being generated at shutdown")
            if owned_sync:
                state.sync.stop()
            if owned_memory:
                state.memory.close()

    return lifespan


def _add_cors(app: FastAPI, settings: Settings) -> None:
    # Preflights are answered here, before any route, so they need no token.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.server.cors_origins,
        allow_methods=["GET", "POST", "OPTIONS"],
        # Any request header: OpenAI-style SDKs send their own families (x-stainless-*,
        # openai-*) that grow with each release. CORS guards which origins may call;
        # the bearer token guards the API itself.
        allow_headers=["*"],
        max_age=600,
    )
