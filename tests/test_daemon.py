"""The daemon's sync worker (one sync at a time, requests merged) and its daemon.json."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from indexer.stops import SyncStopped
from indexer.sync_worker import SyncWorker
from overlay.cli.client import read_daemon_file
from overlay.config import Settings
from overlay.daemon.daemon import remove_daemon_file, write_daemon_file
from overlay.errors import StoreLocked


class GatedSync:
    """A Memory stand-in whose syncs block until the test opens the gate; records each call."""

    def __init__(self) -> None:
        self.calls: list[list[str] | None] = []
        self.started = threading.Event()
        self.gate = threading.Event()
        self.failures: list[Exception] = []

    def sync(self, paths: Iterable[str] | None = None) -> dict[str, Any]:
        self.calls.append(None if paths is None else list(paths))
        self.started.set()
        assert self.gate.wait(10)
        if self.failures:
            raise self.failures.pop(0)
        return {"paths": self.calls[-1]}


@pytest.fixture
def memory() -> GatedSync:
    return GatedSync()


@pytest.fixture
def worker(memory: GatedSync) -> Any:
    worker = SyncWorker(memory)
    worker.start()
    yield worker
    memory.gate.set()
    worker.stop(timeout=5)


def test_requests_during_a_sync_merge_into_one_next_sync(
    worker: SyncWorker, memory: GatedSync
) -> None:
    worker.request(["a.md"])
    assert memory.started.wait(5)
    assert worker.state == "indexing"
    worker.request(["b.md"])
    worker.request(["c.md", "b.md"])
    last = worker.request(["a.md"])
    memory.gate.set()
    assert worker.wait(last, timeout=5)
    assert memory.calls == [["a.md"], ["a.md", "b.md", "c.md"]]
    assert worker.state == "idle"
    assert worker.last_report == {"paths": ["a.md", "b.md", "c.md"]}


def test_only_the_first_index_is_indexing_later_syncs_are_syncing(memory: GatedSync) -> None:
    worker = SyncWorker(memory)  # a data dir with no finished index yet
    worker.start()
    try:
        first = worker.request(None)
        assert memory.started.wait(5)
        assert worker.state == "indexing"
        memory.gate.set()
        assert worker.wait(first, timeout=5)
        memory.gate.clear()
        memory.started.clear()
        edit = worker.request(["a.md"])  # the plugin's sync two seconds after an edit
        assert memory.started.wait(5)
        assert worker.state == "syncing"
        memory.gate.set()
        assert worker.wait(edit, timeout=5) and worker.state == "idle"
    finally:
        memory.gate.set()
        worker.stop(timeout=5)


def test_a_restart_on_an_existing_index_is_syncing_not_indexing(memory: GatedSync) -> None:
    worker = SyncWorker(memory, indexed=True)
    worker.start()
    try:
        worker.request(None)
        assert memory.started.wait(5)
        assert worker.state == "syncing"
    finally:
        memory.gate.set()
        worker.stop(timeout=5)


def test_a_full_sync_swallows_path_requests(worker: SyncWorker, memory: GatedSync) -> None:
    worker.request(["first.md"])
    assert memory.started.wait(5)
    worker.request(["x.md"])
    last = worker.request(None)
    memory.gate.set()
    assert worker.wait(last, timeout=5)
    assert memory.calls == [["first.md"], None]


def test_a_failed_sync_is_reported_and_the_next_one_still_runs(
    worker: SyncWorker, memory: GatedSync
) -> None:
    memory.failures = [StoreLocked("another process writes"), RuntimeError("boom")]
    memory.gate.set()
    assert worker.wait(worker.request(None), timeout=5)
    assert worker.last_error == "another process writes"
    assert worker.wait(worker.request(None), timeout=5)
    assert worker.last_error == "RuntimeError: boom"
    assert worker.wait(worker.request(["n.md"]), timeout=5)
    assert worker.last_error is None and worker.last_report == {"paths": ["n.md"]}


def test_a_requested_stop_is_logged_as_news_not_as_a_failure(
    worker: SyncWorker, memory: GatedSync, caplog: pytest.LogCaptureFixture
) -> None:
    memory.failures = [SyncStopped("the sync was stopped")]
    memory.gate.set()
    with caplog.at_level(logging.INFO, logger="overlay.daemon.daemon"):
        assert worker.wait(worker.request(None), timeout=5)
    assert [r.levelname for r in caplog.records if "stopped" in r.message] == ["INFO"]
    assert worker.last_error is None


def test_stop_lets_the_running_sync_finish_and_drops_the_queue(
    worker: SyncWorker, memory: GatedSync
) -> None:
    worker.request(["a.md"])
    assert memory.started.wait(5)
    pending = worker.request(["b.md"])
    assert not worker.stop(timeout=0.2)  # the sync in progress is not cut short
    memory.gate.set()
    assert worker.stop(timeout=5)
    assert memory.calls == [["a.md"]]
    assert not worker.wait(pending, timeout=0.1)


def test_daemon_json_names_this_process_and_only_it_removes_it(tmp_path: Path) -> None:
    settings = Settings.model_validate({"vault": str(tmp_path), "data_dir": str(tmp_path / "d")})
    path = write_daemon_file(settings, "http://127.0.0.1:9999")
    info = json.loads(path.read_text())
    assert info["pid"] == os.getpid() and info["url"] == "http://127.0.0.1:9999"
    assert read_daemon_file(settings) == info
    path.write_text(json.dumps({**info, "pid": 1}))  # another (newer) daemon's file
    remove_daemon_file(settings)
    assert path.exists()
    write_daemon_file(settings, "http://127.0.0.1:9999")
    remove_daemon_file(settings)
    assert not path.exists() and read_daemon_file(settings) is None
