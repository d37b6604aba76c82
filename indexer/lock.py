"""One writer per index: a `filelock` lock in the data dir, and a file naming its holder.

The kernel drops the lock when the holder dies, even by SIGKILL, so a stale file
never blocks anyone; the holder file (pid and command) is only there to name the
holder in the error a second writer gets. Readers (status, search) never take it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from filelock import FileLock, Timeout

from overlay.errors import StoreLocked

LOCK_FILE = "writer.lock"
HOLDER_FILE = "writer.json"
# `read_holder` probes the lock by taking it for an instant: a writer waits that long
PROBE_WAIT_S = 0.25


class WriterLock:
    """Held while one process writes the index; `with WriterLock(data_dir, "overlay watch"):`."""

    def __init__(self, data_dir: Path, command: str) -> None:
        self.data_dir, self.command = data_dir, command
        self._lock = FileLock(str(data_dir / LOCK_FILE))

    def acquire(self) -> None:
        """Take the lock or raise StoreLocked naming the process that holds it."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=PROBE_WAIT_S)
        except Timeout:
            raise StoreLocked(self._held_message()) from None
        holder = {"pid": os.getpid(), "command": self.command, "since": time.time()}
        (self.data_dir / HOLDER_FILE).write_text(json.dumps(holder), encoding="utf-8")

    def release(self) -> None:
        if self._lock.is_locked:
            (self.data_dir / HOLDER_FILE).unlink(missing_ok=True)
            self._lock.release()

    def _held_message(self) -> str:
        holder = read_holder(self.data_dir) or {}
        who = f"pid {holder.get('pid', '?')}: {holder.get('command', 'unknown command')}"
        return (
            f"another Overlay process ({who}) is writing the index in {self.data_dir}; "
            "stop it or wait for it to finish"
        )

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.release()


def read_holder(data_dir: Path) -> dict[str, Any] | None:
    """The pid and command of the current writer, or None when no one writes."""
    if not (data_dir / LOCK_FILE).exists():
        return None
    probe = FileLock(str(data_dir / LOCK_FILE))
    try:
        probe.acquire(timeout=0)
    except Timeout:
        try:
            return dict(json.loads((data_dir / HOLDER_FILE).read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return {"pid": None, "command": None}  # between taking the lock and naming itself
    probe.release()
    return None
