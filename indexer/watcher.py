"""A dumb watcher: watchdog events in, sets of changed vault paths out, debounced.

It decides nothing about indexing (that is `sync`'s job): it only collects the
vault-relative paths an event touched (both ends of a move, folders included),
drops those under hidden folders (`.obsidian/`, `.trash/`, `.git/`) and hidden
files (editors' `.swp`), waits until the vault has been quiet for `debounce_s`
(editors save in bursts, and via a temp file renamed over the note), and calls
`on_change` with the coalesced set, from one worker thread, one call at a time.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from watchdog.events import (
    DirModifiedEvent,
    FileClosedNoWriteEvent,
    FileOpenedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

log = logging.getLogger(__name__)

IGNORED_EVENTS = (FileOpenedEvent, FileClosedNoWriteEvent, DirModifiedEvent)


class Watcher(FileSystemEventHandler):
    """Watches `vault` and reports changed paths to `on_change` after a quiet spell.

    A burst that never quiets down is still reported every `max_delay_s`.
    """

    def __init__(
        self,
        vault: Path,
        on_change: Callable[[set[str]], object],
        *,
        debounce_s: float = 0.3,
        max_delay_s: float = 5.0,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.vault = Path(vault).resolve()
        self.on_change = on_change
        self.debounce_s, self.max_delay_s = debounce_s, max(max_delay_s, debounce_s)
        self.on_error = on_error or (lambda error: log.exception("sync after a change failed"))
        self._pending: set[str] = set()
        self._first = self._last = 0.0
        self._wake = threading.Condition()
        self._stopping = False
        self._observer = Observer()
        self._worker = threading.Thread(target=self._run, name="overlay-watcher", daemon=True)

    # ---- lifecycle ----

    def start(self) -> None:
        self._observer.schedule(self, str(self.vault), recursive=True)
        self._observer.start()
        self._worker.start()

    def stop(self) -> None:
        """Stop watching; changes already seen are still reported before this returns."""
        self._observer.stop()
        self._observer.join()
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._worker.join()

    def __enter__(self) -> Watcher:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- events in ----

    def on_any_event(self, event: FileSystemEvent) -> None:
        if isinstance(event, IGNORED_EVENTS):
            return
        ends = (self._relative(event.src_path), self._relative(event.dest_path))
        paths = {path for path in ends if path is not None}
        if not paths:
            return
        now = time.monotonic()
        with self._wake:
            if not self._pending:
                self._first = now
            self._pending |= paths
            self._last = now
            self._wake.notify()

    def _relative(self, raw: str | bytes) -> str | None:
        path = os.fsdecode(raw)
        if not path:
            return None
        try:
            relative = Path(path).relative_to(self.vault).as_posix()
        except ValueError:
            return None
        if relative == "." or any(part.startswith(".") for part in relative.split("/")):
            return None
        return relative

    # ---- paths out ----

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._stopping:
                    self._wake.wait()
                if not self._pending and self._stopping:
                    return
                delay = self._delay()
                if delay > 0 and not self._stopping:
                    self._wake.wait(delay)
                    continue
                paths, self._pending = self._pending, set()
            try:
                self.on_change(paths)
            except Exception as error:  # a failed sync must not stop the watching
                self.on_error(error)

    def _delay(self) -> float:
        """Seconds until the pending paths are due: quiet for debounce_s, or max_delay_s."""
        now = time.monotonic()
        return min(self._last + self.debounce_s, self._first + self.max_delay_s) - now
