"""Starting `overlay serve` cleanly: a taken port stops it before any sync, and a
killed daemon's daemon.json is cleared with a log line."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from indexer.embedders import HashEmbedder, Vectors
from indexer.stops import SyncStopped
from indexer.store import DB_FILE, Store
from indexer.sync import Indexer
from overlay.cli.client import daemon_file
from overlay.core.memory import Memory
from overlay.daemon.daemon import Daemon
from overlay.daemon.lifecycle import clear_stale_daemon_file
from overlay.errors import ConfigError


def test_a_port_in_use_stops_serve_before_the_first_sync(
    make_vault: Any, make_settings: Any
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = make_settings(make_vault({"a.md": "alpha"}), server__port=port)
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
            Daemon(settings, watch=False).run()
    assert not (settings.resolved_data_dir() / DB_FILE).exists()  # no index opened, no sync


def test_a_dead_daemons_file_is_cleared_with_a_log_line(
    make_settings: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path)
    path = daemon_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    path.write_text(json.dumps({"pid": int(dead.stdout), "url": "http://127.0.0.1:1"}))
    with caplog.at_level(logging.INFO, logger="overlay.daemon"):
        assert clear_stale_daemon_file(path)
    assert not path.exists()
    assert f"pid {int(dead.stdout)} is not running" in caplog.text
    path.write_text(json.dumps({"pid": os.getpid(), "url": "http://x"}))
    assert not clear_stale_daemon_file(path) and path.exists()  # a live one stays


class PacedEmbedder(HashEmbedder):
    """A deterministic fake that takes 0.2 s per call, as a model on a busy CPU does,
    so that a sync lasts long enough to be stopped in the middle."""

    def embed_batch(self, texts: Sequence[str], *, query: bool = False) -> Vectors:
        time.sleep(0.2)
        return super().embed_batch(texts, query=query)


def test_a_stop_ends_a_sync_within_two_seconds_and_the_next_resumes(
    make_vault: Any, make_settings: Any
) -> None:
    notes = {f"n{i:02d}.md": f"# Note {i}\nfact number {i} of many\n" for i in range(40)}
    settings = make_settings(make_vault(notes), index__batch_size=2)
    store = Store.from_settings(settings)
    indexer = Indexer(settings, store, PacedEmbedder())
    errors: list[BaseException] = []

    def run() -> None:
        try:
            indexer.sync()
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 60
    while store.stats().notes == 0 and time.monotonic() < deadline:
        time.sleep(0.05)  # stop in the middle: after the first batch was committed
    asked = time.monotonic()
    indexer.request_stop()
    thread.join(10)
    assert time.monotonic() - asked < 2.0
    assert len(errors) == 1 and isinstance(errors[0], SyncStopped)
    assert 0 < store.stats().notes < len(notes)
    assert store.vector_ids() == store.chunk_ids()  # what was committed is whole
    resumed = Indexer(settings, store, PacedEmbedder()).sync()
    assert store.stats().notes == len(notes) and resumed.unchanged > 0
    store.close()


def test_a_daemon_shutting_down_refuses_the_sync_it_has_not_started(
    make_vault: Any, make_settings: Any
) -> None:
    memory = Memory(make_settings(make_vault({"a.md": "alpha"})), embedder=HashEmbedder())
    try:
        memory.stop_sync()  # SIGTERM before the worker's first sync built its Indexer
        with pytest.raises(SyncStopped):
            memory.sync()
        assert memory.store.stats().notes == 0
    finally:
        memory.close()
