"""A sync's stop: asked for from another thread (shutdown), honoured between files and
batches, and by the embedding in progress, which is given up rather than waited for
(a batch takes minutes on a busy CPU; a stop must take under two seconds)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from overlay.errors import OverlayError

POLL_S = 0.05  # how often a sync waiting for its embedder looks for a stop

T = TypeVar("T")


class SyncStopped(OverlayError):
    """`Indexer.request_stop` ended a sync early; what was committed stays, the rest waits."""


class Stop:
    """Set once, for good: a stopped indexer syncs no more."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def request(self) -> None:
        self._event.set()

    def check(self) -> None:
        if self._event.is_set():
            raise SyncStopped("the sync was stopped; the next one resumes where it ended")

    def unless_stopped(self, work: Callable[[], T]) -> T:
        """`work()` on a helper thread, given up (SyncStopped) as soon as a stop is
        requested; the thread ends with its work or with the process (a daemon thread)."""
        outcome: list[tuple[bool, Any]] = []
        done = threading.Event()

        def run() -> None:
            try:
                outcome.append((True, work()))
            except BaseException as error:  # handed to the waiting sync
                outcome.append((False, error))
            finally:
                done.set()

        threading.Thread(target=run, name="overlay-embed", daemon=True).start()
        while not done.wait(POLL_S):
            self.check()
        succeeded, value = outcome[0]
        if not succeeded:
            raise value
        result: T = value
        return result
