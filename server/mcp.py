"""The vault's memory over the Model Context Protocol, for Claude Desktop, Cursor, VS Code.

One MCP server (`vault_server(memory)`, the official SDK's low-level `Server`) offers
the five tools of `server.mcp_tools` — `search`, `read`, `related`, `ask`, `recent` —
and every indexed note as a resource `overlay://note/<path>`. Each tool calls the same
`Memory` method as the HTTP route of the same job, so privacy, errors and the
conversation log are the plugin API's: a private, excluded or outside-the-vault note is
an error result with the HTTP error's type and message.

Two transports serve it:
- streamable HTTP at `/mcp` on the daemon (`session_manager`, behind `TokenGuard`:
  the API's bearer token), with DNS-rebinding protection allowing only the daemon's
  own host names;
- stdio (`overlay mcp`), which serves a local Memory or relays to the daemon
  (`relay_server`).
"""

from __future__ import annotations

import hmac
import json
import logging
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

import anyio
import mcp_types as types
from mcp.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError
from starlette.types import Receive, Scope, Send

from overlay.config import Settings
from overlay.errors import OverlayError
from server.mcp_tools import TOOLS, NoteText

if TYPE_CHECKING:
    from mcp.client.session import ClientSession

    from overlay.core.memory import Memory


NOTE_URI = "overlay://note/"
RESOURCE_PAGE = 100
INSTRUCTIONS = """\
Overlay is the user's Obsidian vault as memory: their notes on people, projects, places
and plans, in whatever languages they write (search matches across languages). Use `search` to find what the notes say (answers cite
`[[note#heading]]`), `read` to open a note or one section, `related` to follow a note's
links and neighbours, `recent` to see what the user works on now, and `ask` for
Overlay's own cited answer from the local model."""


def note_uri(path: str) -> str:
    return NOTE_URI + quote(path)


# ---- the server ------------------------------------------------------------------------


def vault_server(memory: Memory) -> Server[Any]:
    """The MCP server for one Memory; its blocking calls run on worker threads."""

    async def list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> Any:
        return types.ListToolsResult(tools=[spec.tool(name) for name, spec in TOOLS.items()])

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        return await anyio.to_thread.run_sync(
            call_tool_now, memory, params.name, params.arguments or {}
        )

    async def list_resources(
        ctx: Any, params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        cursor = params.cursor if params else None
        return await anyio.to_thread.run_sync(note_resources, memory, cursor)

    async def read_resource(
        ctx: Any, params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        return await anyio.to_thread.run_sync(read_note_resource, memory, str(params.uri))

    return overlay_server(list_tools, call_tool, list_resources, read_resource)


def call_tool_now(memory: Memory, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
    """A tool's result; a bad argument or an OverlayError is an error result, not a crash."""
    spec = TOOLS.get(name)
    if spec is None:
        return error_result("UnknownTool", f"no tool named {name!r}; tools: {', '.join(TOOLS)}")
    try:
        output = spec.run(memory, spec.input.model_validate(arguments))
    except ValidationError as invalid:
        return error_result("InvalidArguments", _first_problem(invalid))
    except OverlayError as error:
        return error_result(type(error).__name__, error.message)
    data = output.model_dump(mode="json")
    text = (
        output.markdown() if isinstance(output, NoteText) else json.dumps(data, ensure_ascii=False)
    )
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)], structured_content=data
    )


def error_result(kind: str, message: str) -> types.CallToolResult:
    """The same `type: message` an HTTP client reads in `{"error": {"type", "message"}}`."""
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=f"{kind}: {message}")], is_error=True
    )


def _first_problem(invalid: ValidationError) -> str:
    problem = invalid.errors()[0]
    where = ".".join(str(part) for part in problem["loc"]) or "arguments"
    return f"{where}: {problem['msg']}"


def note_resources(
    memory: Memory, cursor: str | None, page_size: int = RESOURCE_PAGE
) -> types.ListResourcesResult:
    """One page of indexed notes; the cursor is the offset of the next page."""
    start = int(cursor) if cursor and cursor.isdigit() else 0
    notes = memory.store.notes()
    page = notes[start : start + page_size]
    following = start + page_size
    return types.ListResourcesResult(
        resources=[
            types.Resource(
                uri=note_uri(n.path), name=n.path, title=n.title, mime_type="text/markdown"
            )
            for n in page
        ],
        next_cursor=str(following) if following < len(notes) else None,
    )


def read_note_resource(memory: Memory, uri: str) -> types.ReadResourceResult:
    if not uri.startswith(NOTE_URI):
        raise MCPError(types.INVALID_PARAMS, f"not an Overlay note: {uri}")
    try:
        section = memory.read_note(unquote(uri.removeprefix(NOTE_URI)))
    except OverlayError as error:
        raise MCPError(types.INVALID_PARAMS, f"{type(error).__name__}: {error.message}") from error
    return types.ReadResourceResult(
        contents=[types.TextResourceContents(uri=uri, text=section.text, mime_type="text/markdown")]
    )


def _version() -> str:
    from importlib.metadata import version

    return version("overlay")


# ---- streamable HTTP on the daemon -----------------------------------------------------


def session_manager(memory: Memory, settings: Settings) -> StreamableHTTPSessionManager:
    """The `/mcp` endpoint's sessions; its `run()` belongs in the app's lifespan."""
    # Stateless, the SDK logs "Terminating session: None" at INFO after every call.
    logging.getLogger("mcp.server.streamable_http").setLevel(logging.WARNING)
    return StreamableHTTPSessionManager(
        app=vault_server(memory),
        json_response=True,  # one answer per call: no need to hold an event stream open
        # Stateless: Overlay keeps nothing per client and sends nothing unasked, and a
        # session's open GET stream would hold every daemon shutdown for uvicorn's
        # graceful timeout.
        stateless=True,
        security_settings=own_host_only(settings),
        max_request_body_size=settings.server.max_body_bytes,
    )


def own_host_only(settings: Settings) -> TransportSecuritySettings:
    """DNS-rebinding protection: the Host must name this machine as the daemon is reached
    (loopback, the bind address, or this host's names for a wildcard bind); the Origin,
    when a browser sends one, must be one of those or one the API allows for CORS."""
    names = [*LOOPBACK_NAMES, *_bind_names(settings.server.host)]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"{name}:*" for name in names],
        allowed_origins=[f"http://{name}:*" for name in names] + settings.server.cors_origins,
    )


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
WILDCARD_BINDS = ("0.0.0.0", "::", "[::]")


def _bind_names(host: str) -> list[str]:
    if host in WILDCARD_BINDS:
        return sorted({socket.gethostname(), socket.getfqdn()})
    if host in LOOPBACK_NAMES or host == "::1":
        return []
    return [f"[{host}]" if ":" in host and not host.startswith("[") else host]


class TokenGuard:
    """The `/mcp` ASGI endpoint: the API's bearer token first, then the MCP session."""

    def __init__(self, manager: StreamableHTTPSessionManager, token: Callable[[], str]) -> None:
        self.manager, self.token = manager, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers") or [])
        scheme, _, given = headers.get(b"authorization", b"").partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(
            given.strip(), self.token().encode()
        ):
            await self.manager.asgi_app(scope, receive, send)
            return
        body = json.dumps(
            {
                "error": {
                    "type": "Unauthorized",
                    "message": "missing or wrong bearer token; `overlay token` prints the right one",
                }
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", b"Bearer"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


# ---- relay: stdio in front of the daemon's /mcp ----------------------------------------


def relay_server(upstream: ClientSession) -> Server[Any]:
    """An MCP server that forwards every call to the daemon's, so `overlay mcp` holds no
    second copy of the index or the models."""

    async def list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> Any:
        return await upstream.list_tools(params=params)

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        return await upstream.call_tool(params.name, params.arguments)

    async def list_resources(ctx: Any, params: types.PaginatedRequestParams | None) -> Any:
        return await upstream.list_resources(params=params)

    async def read_resource(ctx: Any, params: types.ReadResourceRequestParams) -> Any:
        return await upstream.read_resource(str(params.uri))

    return overlay_server(list_tools, call_tool, list_resources, read_resource)


def overlay_server(
    list_tools: Any, call_tool: Any, list_resources: Any, read_resource: Any
) -> Server:
    """The MCP server Overlay is to clients, with these handlers (served here or relayed)."""
    return Server(
        "overlay",
        version=_version(),
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_read_resource=read_resource,
    )
