"""Watcher: real watchdog events, debounced into path sets; with sync, the index follows."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from indexer.embedders import CountingEmbedder
from indexer.store import Store
from indexer.sync import Indexer
from indexer.watcher import Watcher


def eventually(check: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


class Calls:
    """Records what the watcher reports."""

    def __init__(self) -> None:
        self.batches: list[set[str]] = []
        self.lock = threading.Lock()

    def __call__(self, paths: set[str]) -> None:
        with self.lock:
            self.batches.append(paths)

    @property
    def seen(self) -> set[str]:
        with self.lock:
            return set().union(*self.batches) if self.batches else set()


@pytest.fixture
def vault(make_vault: Any) -> Path:
    return Path(make_vault({"a.md": "alpha", "Folder/b.md": "beta"}))


def test_a_burst_of_saves_is_reported_once(vault: Path) -> None:
    calls = Calls()
    with Watcher(vault, calls, debounce_s=0.3):
        for round_ in range(5):
            (vault / "a.md").write_text(f"alpha {round_}", encoding="utf-8")
            time.sleep(0.02)
        assert eventually(lambda: calls.seen == {"a.md"})
        time.sleep(0.5)
    assert calls.batches == [{"a.md"}]


def test_hidden_folders_are_ignored(vault: Path) -> None:
    calls = Calls()
    with Watcher(vault, calls, debounce_s=0.1):
        (vault / ".obsidian" / "workspace.json").write_text("{}", encoding="utf-8")
        (vault / ".trash").mkdir()
        (vault / ".trash" / "old.md").write_text("gone", encoding="utf-8")
        (vault / "c.md").write_text("gamma", encoding="utf-8")
        assert eventually(lambda: "c.md" in calls.seen)
    assert calls.seen == {"c.md"}


def test_a_temp_file_renamed_over_the_note_reports_the_note(vault: Path) -> None:
    calls = Calls()
    with Watcher(vault, calls, debounce_s=0.1):
        (vault / "a.md.tmp").write_text("alpha, saved atomically", encoding="utf-8")
        os.replace(vault / "a.md.tmp", vault / "a.md")
        assert eventually(lambda: "a.md" in calls.seen)


def test_a_folder_move_reports_both_ends(vault: Path) -> None:
    calls = Calls()
    with Watcher(vault, calls, debounce_s=0.1):
        os.rename(vault / "Folder", vault / "Moved")
        assert eventually(lambda: {"Folder", "Moved"} <= calls.seen)


def test_a_failing_callback_does_not_stop_the_watcher(vault: Path) -> None:
    errors: list[BaseException] = []
    calls = Calls()

    def flaky(paths: set[str]) -> None:
        calls(paths)
        if len(calls.batches) == 1:
            raise RuntimeError("sync failed")

    with Watcher(vault, flaky, debounce_s=0.1, on_error=errors.append):
        (vault / "a.md").write_text("one", encoding="utf-8")
        assert eventually(lambda: len(calls.batches) == 1)
        time.sleep(0.2)
        (vault / "a.md").write_text("two", encoding="utf-8")
        assert eventually(lambda: len(calls.batches) == 2)
    assert [str(e) for e in errors] == ["sync failed"]


def test_the_index_follows_edits_renames_and_deletes(
    vault: Path, make_settings: Any, counting_embedder: CountingEmbedder
) -> None:
    settings = make_settings(vault)
    store = Store.from_settings(settings)
    indexer = Indexer(settings, store, counting_embedder)
    indexer.sync()
    with Watcher(vault, indexer.sync, debounce_s=0.1):
        (vault / "a.md").write_text("The lighthouse keeper feeds the gulls.", encoding="utf-8")

        def edit_is_searchable() -> bool:
            # Mid-sync a hit's chunk may already be replaced: its text is then not found.
            hits = store.dense_search("who feeds the gulls", counting_embedder, k=1)
            found = store.chunks(ids=[hit.chunk_id for hit in hits])
            return any("lighthouse" in chunk.text for chunk in found)

        assert eventually(edit_is_searchable)
        os.rename(vault / "Folder" / "b.md", vault / "Folder" / "renamed.md")
        assert eventually(lambda: {n.path for n in store.notes()} == {"a.md", "Folder/renamed.md"})
        (vault / "a.md").unlink()
        assert eventually(lambda: [n.path for n in store.notes()] == ["Folder/renamed.md"])
    assert store.vector_ids() == store.chunk_ids()
