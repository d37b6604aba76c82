"""One writer per index: an fcntl lock file in the data dir naming its holder.

The kernel drops the lock when the holder dies, even by SIGKILL, so a stale file
never blocks anyone; the pid and command inside are only there to name the holder
in the error a second writer gets. Readers (status, search) never take it.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from overlay.errors import StoreLocked

LOCK_FILE = "writer.lock"


class WriterLock:
    """Held while one process writes the index; `with WriterLock(data_dir, "overlay watch"):`."""

    def __init__(self, data_dir: Path, command: str) -> None:
        self.path = data_dir / LOCK_FILE
        self.command = command
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock or raise StoreLocked naming the process that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+", encoding="utf-8")
        for attempt in range(5):  # a reader's brief shared lock (read_holder) is no writer
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == 4:
                    handle.close()
                    raise StoreLocked(self._held_message()) from None
                time.sleep(0.05)
        handle.seek(0)
        handle.truncate()
        holder = {"pid": os.getpid(), "command": self.command, "since": time.time()}
        handle.write(json.dumps(holder))
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is None:
            return
        self._handle.truncate(0)
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()
        self._handle = None

    def _held_message(self) -> str:
        holder = read_holder(self.path.parent) or {}
        who = f"pid {holder.get('pid', '?')}: {holder.get('command', 'unknown command')}"
        return (
            f"another Overlay process ({who}) is writing the index in {self.path.parent}; "
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
    path = data_dir / LOCK_FILE
    try:
        with path.open(encoding="utf-8") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                text = handle.read()
                return json.loads(text) if text.strip() else {"pid": None, "command": None}
            fcntl.flock(handle, fcntl.LOCK_UN)
            return None
    except (OSError, ValueError):
        return None
