"""Store: the SQLite manifest and link graph, vectors in real embedded Chroma, the lock."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from indexer.embedders import HashEmbedder
from indexer.lock import WriterLock, read_holder
from indexer.migrations import MIGRATIONS
from indexer.records import Batch, NoteWrite
from indexer.store import Store
from overlay.errors import StoreError, StoreLocked
from overlay.sqlite import apply_migrations
from vault_schema import chunk_note, parse_note

EMBEDDER = HashEmbedder(32)


def write(path: str, text: str) -> NoteWrite:
    note = parse_note(path, text, mtime=1.0, content_hash=f"hash-of-{text}")
    return NoteWrite(note, chunk_note(note), len(text.encode()))


def commit(store: Store, *writes: NoteWrite, deleted: tuple[str, ...] = ()) -> set[str]:
    batch = Batch(written=list(writes), deleted=list(deleted))
    unknown = {c.id: c for w in writes for c in w.chunks}
    for known in store.known_chunk_ids(unknown):
        del unknown[known]
    vectors = EMBEDDER.embed_documents([c.embedding_text for c in unknown.values()])
    batch.vectors = dict(zip(unknown, vectors, strict=True))
    return store.commit(batch)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = Store(tmp_path / "data")
    opened.bind_embedder(EMBEDDER.name, EMBEDDER.dimension)
    return opened


def test_migrations_run_once_and_are_recorded(tmp_path: Path) -> None:
    Store(tmp_path / "data").close()
    db = sqlite3.connect(tmp_path / "data" / "index.sqlite3")
    assert [row[0] for row in db.execute("SELECT name FROM _migrations")] == [
        name for name, _ in MIGRATIONS
    ]
    assert apply_migrations(db, MIGRATIONS) == []


def test_a_committed_note_is_readable_through_every_read_call(store: Store) -> None:
    commit(
        store,
        write(
            "People/Anna.md",
            "---\naliases: [Аня]\ntags: [family]\n---\n"
            "# Anna\nMy sister. See [[Kazan]] and [[Nowhere]].\n",
        ),
        write("Places/Kazan.md", "A city. #travel\n\n## Food\nEchpochmak with [[Аня]].\n"),
    )
    assert [n.path for n in store.notes()] == ["People/Anna.md", "Places/Kazan.md"]
    assert store.note("Places/Kazan.md") is not None and store.note("x.md") is None
    names = {n.path: n for n in store.names()}
    assert names["People/Anna.md"].title == "Anna" and names["People/Anna.md"].aliases == ("Аня",)
    chunks = store.chunks(note_paths=["Places/Kazan.md"])
    assert [c.heading_path for c in chunks] == [(), ("Food",)]
    assert chunks[1].text.startswith("Echpochmak")
    assert sorted(store.edges()) == [
        ("People/Anna.md", "Places/Kazan.md", "wiki"),
        ("Places/Kazan.md", "People/Anna.md", "wiki"),  # through the alias
    ]
    assert [link.source for link in store.backlinks("Places/Kazan.md")] == ["People/Anna.md"]
    assert [link.target for link in store.unresolved_links()] == ["Nowhere"]
    assert store.tags() == {"family": ["People/Anna.md"], "travel": ["Places/Kazan.md"]}
    stats = store.stats()
    assert (stats.notes, stats.chunks, stats.links, stats.unresolved_links) == (2, 3, 3, 1)
    assert stats.embedder == "hash:32" and stats.size_bytes > 0


def test_dense_search_returns_the_nearest_chunk(store: Store) -> None:
    commit(store, write("a.md", "sailing the boat at sea"), write("b.md", "baking bread at home"))
    hits = store.dense_search("bread baking", EMBEDDER, k=2)
    assert len(hits) == 2 and hits[0].distance <= hits[1].distance
    assert store.chunks(ids=[hits[0].chunk_id])[0].note_path == "b.md"


def test_a_notes_text_is_kept_in_the_index_not_in_chroma(tmp_path: Path, store: Store) -> None:
    """One place holds the text, so forgetting has one place to take it from: Chroma gets
    vectors and metadata (note, heading), never the chunk's words."""
    commit(store, write("a.md", "# Rigging\nThe shrouds want the quartermaster's violet ledger."))
    store.close()
    phrase = b"violet ledger"
    data = tmp_path / "data"
    assert phrase in (data / "index.sqlite3").read_bytes()
    chroma_files = [p for p in (data / "chroma").rglob("*") if p.is_file()]
    assert chroma_files
    assert [p for p in chroma_files if phrase in p.read_bytes()] == []


def test_dense_search_refuses_another_embedders_query(store: Store) -> None:
    commit(store, write("a.md", "text"))
    with pytest.raises(StoreError, match="overlay index"):
        store.dense_search("text", HashEmbedder(8), k=1)


def test_a_shared_chunk_has_one_vector_until_no_note_holds_it(store: Store) -> None:
    same = "Identical paragraph in two notes."
    commit(store, write("one.md", same), write("two.md", same))
    assert len(store.chunks()) == 2 and len(store.vector_ids()) == 1
    assert commit(store, deleted=("one.md",)) == set()
    assert len(store.vector_ids()) == 1
    dropped = commit(store, deleted=("two.md",))
    assert len(dropped) == 1 and store.vector_ids() == set() and store.chunk_ids() == set()


def test_new_notes_sharing_a_known_chunk_reuse_its_vector(store: Store) -> None:
    same = "A paragraph copied into three notes."
    commit(store, write("one.md", same))
    assert commit(store, write("two.md", same), write("three.md", same)) == set()
    assert len(store.chunks()) == 3 and len(store.vector_ids()) == 1


def test_a_chunk_without_a_vector_is_refused_and_nothing_is_written(store: Store) -> None:
    batch = Batch(written=[write("a.md", "never embedded")])
    with pytest.raises(StoreError, match="no vector"):
        store.commit(batch)
    assert store.notes() == [] and store.chunk_ids() == set()


def test_a_rename_changes_what_links_resolve_to(store: Store) -> None:
    commit(store, write("Old Name.md", "target"), write("a.md", "[[Old Name]] and [[New Name]]"))
    assert [link.resolved for link in store.outlinks("a.md")] == ["Old Name.md", None]
    commit(store, write("New Name.md", "target"), deleted=("Old Name.md",))
    assert [link.resolved for link in store.outlinks("a.md")] == [None, "New Name.md"]


def test_switching_embedders_never_mixes_vectors(store: Store) -> None:
    commit(store, write("a.md", "some text"))
    assert store.bind_embedder(EMBEDDER.name, EMBEDDER.dimension) is None  # same: no switch
    assert store.bind_embedder("hash:8", 8) == "hash:32"
    assert store.vector_ids() == set()  # a fresh collection for the new model
    assert len(store.drop_retired_collections()) == 1
    assert store.chunk_ids() != set()  # the manifest stays: sync re-embeds from it


def test_a_second_writer_is_told_who_holds_the_lock(tmp_path: Path) -> None:
    with WriterLock(tmp_path, "overlay watch /vault"):
        holder = read_holder(tmp_path)
        assert holder is not None and holder["command"] == "overlay watch /vault"
        with pytest.raises(StoreLocked, match=r"pid \d+: overlay watch /vault"):
            WriterLock(tmp_path, "overlay index").acquire()
    assert read_holder(tmp_path) is None
    again = WriterLock(tmp_path, "overlay index")
    again.acquire()  # free again
    again.release()


def test_a_corrupt_index_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "index.sqlite3").write_bytes(b"not a database" * 100)
    with pytest.raises(StoreError, match="cannot open the index"):
        Store(tmp_path / "data")


def test_the_manifest_of_a_scope_holds_the_notes_at_or_below_it(store: Store) -> None:
    for path in ("a.md", "a/b.md", "a/c/d.md", "a-b.md", "ab.md", "b/a.md"):
        commit(store, write(path, f"text of {path}"))
    assert set(store.manifest(under={"a"})) == {"a/b.md", "a/c/d.md"}
    assert set(store.manifest(under={"a.md", "b"})) == {"a.md", "b/a.md"}
    assert len(store.manifest()) == 6
