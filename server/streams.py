"""Answer streams: Server-Sent Event frames, relayed from a blocking generator.

A model's answer is a blocking iterator (`Memory.stream_answer`). Each event is
pulled in a worker thread and written to the client as it comes. Closing the
iterator stops the generation, so it is closed when the stream ends, when the
client hangs up, and at shutdown: `OpenStreams.close_all` waits for a pull in
progress to return and then closes, so no model thread outlives the server.
An answer sent whole (`stream: false`) is pulled the same way (`OpenStreams.collect`),
asking between events whether its client is still there.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Annotated, Any

import anyio.from_thread
from fastapi import Depends, Request, Response
from fastapi.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from overlay.errors import OverlayError

log = logging.getLogger("overlay.server")

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
CLIENT_CLOSED = 499  # nginx's "client closed request": the access log's word for it


def frame(event: str | None, data: Any) -> str:
    """One SSE frame; JSON never holds a raw newline, so one `data:` line suffices."""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n"


def error_frame(error: BaseException) -> str:
    if isinstance(error, OverlayError):
        return frame("error", {"type": type(error).__name__, "message": error.message})
    log.error("answer stream failed", exc_info=error)
    return frame("error", {"type": "InternalError", "message": type(error).__name__})


class OpenStreams:
    """The answer iterators being relayed, and which of them a worker thread is inside."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[int, Iterator[Any]] = {}
        self._busy: set[int] = set()

    def response(
        self,
        events: Iterator[Any],
        render: Callable[[Any], str],
        left: Callable[[], bool],
        wrap: Callable[[AsyncIterator[str]], AsyncIterator[str]] | None = None,
    ) -> Response:
        """Pull the first event now, so a failure to start (no model, bad input) is a
        proper HTTP error; later failures become an `error` frame. A client gone by then
        (or out of time) gets nothing, and `events` is closed before it generates."""
        first = next(events, None)
        if left():
            self.close(events)
            return client_gone()
        with self._lock:
            self._open[id(events)] = events
        frames = self._relay(first, events, render)
        return EventSourceResponse(wrap(frames) if wrap else frames, headers=HEADERS)

    def collect(self, events: Iterator[Any], left: Callable[[], bool]) -> Any | None:
        """The last event, every one pulled here (a worker thread); None once `left()`
        says the client left (or its time ran out), and then `events` is closed, which
        stops the generation, instead of running to the end for no one."""
        with self._lock:
            self._open[id(events)] = events
        last = None
        try:
            while (event := self._pull(events)) is not None:
                if left():
                    return None
                last = event
        finally:
            self.close(events)
        return last

    async def _relay(
        self, first: Any, events: Iterator[Any], render: Callable[[Any], str]
    ) -> AsyncIterator[str]:
        try:
            event = first
            while event is not None:
                yield render(event)
                event = await run_in_threadpool(self._pull, events)
        except Exception as error:
            yield error_frame(error)
        finally:
            self.close(events)  # a client that hung up stops the generation

    def _pull(self, events: Iterator[Any]) -> Any:
        with self._lock:
            self._busy.add(id(events))
        try:
            return next(events, None)
        finally:
            with self._lock:
                self._busy.discard(id(events))

    def close(self, events: Iterator[Any]) -> bool:
        """Close `events` unless a thread is inside it (then False: try again later)."""
        with self._lock:
            if id(events) in self._busy:
                return False
            self._open.pop(id(events), None)
        close = getattr(events, "close", None)
        if close is not None:
            close()
        return True

    def close_all(self, timeout: float = 30.0) -> int:
        """At shutdown: close every stream, waiting for pulls in progress; returns how
        many could not be closed in time."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = list(self._open.values())
            left = [events for events in pending if not self.close(events)]
            if not left or time.monotonic() > deadline:
                return len(left)
            time.sleep(0.05)


async def client_left(request: Request) -> Callable[[], bool]:
    """Whether the client has gone: to ask from a route's worker thread."""
    return lambda: anyio.from_thread.run(request.is_disconnected)


ClientLeft = Annotated[Callable[[], bool], Depends(client_left)]


def client_gone() -> Response:
    """What a route returns for a client that left: no one reads it, the log shows 499."""
    return Response(status_code=CLIENT_CLOSED)
