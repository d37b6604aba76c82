"""`SyncWorker`: every sync of a process, one at a time, on a background thread.

The daemon feeds it the first full sync, the watcher's changed paths and
`POST /api/v1/sync`; the server reads its state for `/api/v1/health`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from indexer.stops import SyncStopped
from overlay.errors import OverlayError

log = logging.getLogger("overlay.daemon.daemon")

# 'indexing': the vault's first index is being built (nothing to search yet);
# 'syncing': an index that holds the vault is being brought up to date
SyncState = Literal["indexing", "syncing", "idle"]


class Syncable(Protocol):
    """What the worker needs of a Memory: one blocking sync with a report."""

    def sync(self, paths: Iterable[str] | None = None) -> Any: ...


@dataclass
class _Request:
    full: bool
    paths: set[str]
    ticket: int


class SyncWorker:
    """Runs syncs one at a time on a background thread.

    Requests made while a sync runs are merged into the next one (a full sync
    swallows path lists; path lists are joined), so a burst of watcher events or
    a double-clicked "sync" costs one more sync, not many. `request` returns a
    ticket; `wait(ticket)` blocks until a sync that covered it has finished.
    """

    def __init__(self, memory: Syncable, *, indexed: bool = False) -> None:
        """`indexed`: the data dir already holds a finished index of the vault."""
        self._memory = memory
        self._indexed = indexed
        self._changed = threading.Condition()
        self._pending: _Request | None = None
        self._issued = 0
        self._done = 0
        self._running = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.last_report: dict[str, Any] | None = None
        self.last_error: str | None = None
        self.last_finished: float | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="overlay-sync", daemon=True)
            self._thread.start()

    @property
    def state(self) -> SyncState:
        with self._changed:
            if not (self._running or self._pending):
                return "idle"
            return "syncing" if self._indexed else "indexing"

    def request(self, paths: Iterable[str] | None = None) -> int:
        """Ask for a sync of these vault-relative paths (None: the whole vault)."""
        with self._changed:
            self._issued += 1
            pending = self._pending or _Request(False, set(), self._issued)
            pending.full = pending.full or paths is None
            pending.paths.update(paths or ())
            pending.ticket = self._issued
            self._pending = pending
            self._changed.notify_all()
            return self._issued

    def wait(self, ticket: int, timeout: float | None = None) -> bool:
        """Block until the sync covering `ticket` finished; False on timeout or stop."""
        with self._changed:
            return (
                self._changed.wait_for(lambda: self._done >= ticket or self._stopping, timeout)
                and self._done >= ticket
            )

    def stop(self, timeout: float | None = None) -> bool:
        """Drop pending requests, let the running sync finish; False if it outlived timeout."""
        with self._changed:
            self._stopping = True
            self._pending = None
            self._changed.notify_all()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _loop(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._pending is not None or self._stopping)
                if self._stopping:
                    return
                job, self._pending = self._pending, None
                self._running = True
            assert job is not None
            self._run(job)
            with self._changed:
                self._running = False
                self._done = max(self._done, job.ticket)
                self._changed.notify_all()

    def _run(self, job: _Request) -> None:
        scope = "the whole vault" if job.full else f"{len(job.paths)} changed path(s)"
        log.info("sync of %s started", scope)
        try:
            report = self._memory.sync(None if job.full else sorted(job.paths))
        except SyncStopped as stopped:  # asked for (shutdown): not a failure
            log.info("sync of %s stopped: %s", scope, stopped.message)
        except OverlayError as error:
            self.last_error = error.message
            log.error("sync failed: %s", error.message)
        except Exception as error:  # the worker must outlive one bad sync
            self.last_error = f"{type(error).__name__}: {error}"
            log.exception("sync failed")
        else:
            self.last_report = report.to_dict() if hasattr(report, "to_dict") else dict(report)
            self.last_error = None
            self._indexed = self._indexed or job.full
            summary = report.summary() if hasattr(report, "summary") else "done"
            log.info("sync of %s finished: %s", scope, summary)
        self.last_finished = time.time()
