"""Request limits: a body over `server.max_body_bytes` gets 413 in the usual error shape;
embeddings are bounded in texts and characters; generations queue behind a gate; an
answer that has not begun within its route's time limit gets 504.

FastAPI's own limit answers in plain text from outside the middleware stack, so a
browser would see a CORS failure instead of the 413; these sit inside CORS.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.errors import error_body, status_type

log = logging.getLogger("overlay.server")

NO_NUL = r"^[^\x00]*$"  # no file name holds a NUL byte; the OS would refuse it anyway
SYNC_WAIT_S = 600.0  # the longest a request waits for the sync it asked for


class BodyLimit:
    """Refuse a declared Content-Length over the limit at once; count a chunked body as it comes."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse()(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise HTTPException(413, self._message())  # reaches the app's error handler
            return message

        await self.app(scope, counted, send)

    def _message(self) -> str:
        return f"the request body is larger than {self.max_bytes} bytes (server.max_body_bytes)"

    def _refuse(self) -> JSONResponse:
        body = error_body(status_type(413), self._message())
        return JSONResponse(body, 413, headers={"Connection": "close"})


MAX_EMBED_ITEMS = 256  # texts per /v1/embeddings request
MAX_EMBED_CHARS = 100_000  # characters over all its texts: about a minute of CPU embedding


def check_embedding_request(texts: list[str]) -> None:
    """413, naming both limits, for an embeddings request too large to answer promptly.

    The body limit alone lets through a request that embeds for minutes (and keeps
    embedding after the client left); a client that needs more splits its input."""
    chars = sum(len(text) for text in texts)
    if len(texts) > MAX_EMBED_ITEMS or chars > MAX_EMBED_CHARS:
        raise HTTPException(
            413,
            f"{len(texts)} texts, {chars} characters: over the limits of {MAX_EMBED_ITEMS} "
            f"texts and {MAX_EMBED_CHARS} characters per request; send it in parts",
        )


GENERATION_PATHS = frozenset({"/api/v1/chat", "/v1/chat/completions"})
RUNNING_GENERATIONS = 1  # the in-process model answers one at a time anyway
WAITING_GENERATIONS = 8  # queued in arrival order; one more gets 429
RETRY_AFTER_S = 30


class GenerationGate:
    """At most `running` generations at once and `waiting` more queued; past that, 429
    with Retry-After. Each admitted answer carries `X-Queue-Position` (0: it ran at once).
    A client that leaves while queued gives up its place at once.

    Without it, five chats ran one after another with no limit, the fifth waiting
    minutes for its first token and the sixth, the seventh … queuing without end."""

    def __init__(
        self,
        app: ASGIApp,
        running: int = RUNNING_GENERATIONS,
        waiting: int = WAITING_GENERATIONS,
        retry_after_s: int = RETRY_AFTER_S,
    ) -> None:
        self.app, self.running, self.waiting = app, running, waiting
        self.retry_after_s = retry_after_s
        self._slots = asyncio.Semaphore(running)
        self._admitted = 0  # running + waiting; one event loop, so no lock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in GENERATION_PATHS:
            await self.app(scope, receive, send)
            return
        if self._admitted >= self.running + self.waiting:
            await self._refuse()(scope, receive, send)
            return
        position = max(self._admitted - self.running + 1, 0)
        self._admitted += 1
        try:
            async with self._slot(receive) as admitted:
                if admitted is not None:  # None: the client left while queued
                    sending = _with_header(send, "x-queue-position", position)
                    await self.app(scope, admitted, sending)
        finally:
            self._admitted -= 1

    @asynccontextmanager
    async def _slot(self, receive: Receive) -> AsyncIterator[Receive | None]:
        """Hold a slot; while queued, listen for the client leaving (then yield None).

        Only reading the request tells that its client left, so the queued one's body
        is read here and handed to the app as if it came now."""
        listener, held = Listener(receive), False
        try:
            if not self._slots.locked():
                await self._slots.acquire()  # free: no wait, nothing to listen for
                held = True
                yield receive
                return
            async with anyio.create_task_group() as group:
                group.start_soon(listener.listen, group.cancel_scope)
                await self._slots.acquire()  # cancelled when the listener hears the client go
                held = True
                group.cancel_scope.cancel()  # stop listening
            yield listener.replay if held else None
        finally:
            if held:
                self._slots.release()

    def _refuse(self) -> JSONResponse:
        message = (
            f"{self.running} answer(s) running and {self.waiting} waiting, the most this "
            f"server queues; retry in {self.retry_after_s} s"
        )
        body = error_body(status_type(429), message)
        return JSONResponse(body, 429, headers={"Retry-After": str(self.retry_after_s)})


class Listener:
    """Reads a request while it waits, to hear a client that leaves; `replay` then hands
    the app what was read, before whatever comes next."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._heard: deque[Message] = deque()
        self._failure: Exception | None = None

    async def listen(self, waiting: anyio.CancelScope) -> None:
        """Read until the client leaves, then cancel `waiting`."""
        try:
            while True:
                message = await self._receive()
                self._heard.append(message)
                if message["type"] == "http.disconnect":
                    break
        except Exception as error:  # a body over the limit: the app meets it as it reads
            self._failure = error
            return
        waiting.cancel()

    async def replay(self) -> Message:
        if self._heard:
            return self._heard.popleft()
        if self._failure is not None:
            raise self._failure
        return await self._receive()


WAITING_PATHS = frozenset({"/api/v1/sync", "/api/v1/forget"})  # may wait SYNC_WAIT_S
LONG_PATHS = GENERATION_PATHS | {"/mcp"}  # MCP's `ask` generates


class TimeLimit:
    """An answer that has not begun within its route's limit gets 504, naming the limit
    and its setting, instead of leaving the client to hang; the route then hears what a
    client that left would say (`http.disconnect`), so a generation stops.

    Generation routes (`server.generation_timeout_s`, their time in the queue included)
    get longer than the rest (`server.request_timeout_s`); sync and forget, which may wait
    SYNC_WAIT_S for a sync, get that much more. Only the start of an answer is timed:
    once a stream has begun its status cannot change, its events show the client that
    it is alive, and a client that stops waiting closes it, which stops the generation.
    A search or an embedding already in a worker thread cannot be interrupted: it
    finishes unseen, within a bounded time (its input is limited).
    """

    def __init__(self, app: ASGIApp, request_s: float, generation_s: float) -> None:
        self.app, self.request_s, self.generation_s = app, request_s, generation_s

    def limit(self, path: str) -> tuple[float, str]:
        """Seconds a request to `path` may take to begin, and the setting that sets them."""
        if path.rstrip("/") in LONG_PATHS:
            return self.generation_s, "server.generation_timeout_s"
        if path in WAITING_PATHS:
            waited = f"server.request_timeout_s beyond the {SYNC_WAIT_S:g} s sync wait"
            return SYNC_WAIT_S + self.request_s, waited
        return self.request_s, "server.request_timeout_s"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        begun, expired = asyncio.Event(), False

        async def sending(message: Message) -> None:
            if expired:
                return  # the 504 went out instead
            if message["type"] == "http.response.start":
                begun.set()
            await send(message)

        async def receiving() -> Message:
            return {"type": "http.disconnect"} if expired else await receive()

        # A task of its own: a route blocked in a thread cannot be interrupted, and the
        # 504 must not wait for it.
        work = asyncio.ensure_future(self.app(scope, receiving, sending))
        seconds, setting = self.limit(scope["path"])
        if not await _begins(work, begun, seconds):
            expired = True
            work.cancel()
            work.add_done_callback(_log_failure)
            await self._refuse(seconds, setting)(scope, receive, send)
            return
        await work  # begun: no limit on the rest

    def _refuse(self, seconds: float, setting: str) -> JSONResponse:
        message = (
            f"the answer did not begin within {seconds:g} s, the limit of {setting}; "
            "try again later, or raise the limit"
        )
        return JSONResponse(error_body(status_type(504), message), 504)


async def _begins(work: asyncio.Future[None], begun: asyncio.Event, seconds: float) -> bool:
    """Whether `work` began its answer (or ended) within `seconds`."""
    beginning: asyncio.Future[Any] = asyncio.ensure_future(begun.wait())
    try:
        await asyncio.wait({work, beginning}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        work.cancel()  # the server stops: so does the request
        raise
    finally:
        beginning.cancel()
    return begun.is_set() or work.done()


def _log_failure(work: asyncio.Future[None]) -> None:
    """A request given up on may still fail as it winds down; say so, once."""
    if not work.cancelled() and work.exception() is not None:
        log.warning("a request past its time limit failed", exc_info=work.exception())


def _with_header(send: Send, name: str, value: object) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            MutableHeaders(scope=message).append(name, str(value))
        await send(message)

    return sending
