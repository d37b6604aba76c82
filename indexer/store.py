"""The index: SQLite is the source of truth, Chroma holds the vectors.

SQLite (`index.sqlite3` in the data dir) keeps the manifest (note path -> content hash,
mtime, size, chunks), the distinct chunks with their text, the link graph with each
link's resolution, aliases, tags and the vault's attachments. Chroma (`vectors.py`) keeps
one vector per chunk id, in one collection per embedder, so vectors of two models never
mix.

Writes go through `Store.commit`, which keeps DESIGN decision 2 in one place: new
vectors are written to Chroma first, then the manifest is committed in one SQLite
transaction, then vectors no note holds any more are deleted. A process killed at any
point leaves at worst vectors no note refers to, or (after an embedder switch) chunks
without a vector; the next sync's reconcile step (`sync.Indexer`) repairs both.

Only one process writes (see `lock.WriterLock`); any number may read.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from indexer import mentions as mention_index
from indexer.migrations import migrate
from indexer.vectors import ChromaVectors, ChunkLike, DenseHit, VectorCollection
from overlay.errors import StoreError
from vault_schema.chunks import Chunk
from vault_schema.links import LinkResolver, path_key
from vault_schema.notes import Note

if TYPE_CHECKING:
    from indexer.embedders import Embedder
    from overlay.config import Settings

DB_FILE = "index.sqlite3"
CHROMA_DIR = "chroma"


# ---- what readers get ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IndexedNote:
    """A note as the manifest knows it."""

    path: str
    title: str
    content_hash: str
    mtime: float
    size: int
    indexed_at: float


@dataclass(frozen=True, slots=True)
class StoredChunk:
    """A chunk held by a note. Two notes with an identical chunk share its `id` (and vector)."""

    id: str
    note_path: str
    ordinal: int
    heading_path: tuple[str, ...]
    text: str
    start_line: int
    end_line: int

    @property
    def embedding_text(self) -> str:
        """What was embedded (the same rule as `Chunk.embedding_text`)."""
        if not self.heading_path:
            return self.text
        return " > ".join(self.heading_path) + "\n\n" + self.text


@dataclass(frozen=True, slots=True)
class StoredLink:
    """A link as written in `source`; `resolved` is the target's path (None: unresolved)."""

    source: str
    target: str
    kind: str  # a vault_schema LinkKind value: 'wiki', 'embed', 'markdown', 'property'
    resolved: str | None
    display: str | None
    heading: str | None
    block: str | None
    line: int


@dataclass(frozen=True, slots=True)
class NoteName:
    """The names a note answers to: its title (file stem) and its aliases."""

    path: str
    title: str
    aliases: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StoreStats:
    """Counts for `overlay status`."""

    notes: int
    chunks: int  # chunks held by notes
    distinct_chunks: int  # vectors (shared chunks count once)
    links: int
    note_links: int  # links that resolve to a note
    unresolved_links: int
    tags: int  # distinct tags
    attachments: int
    embedder: str | None
    dimension: int | None
    last_sync: dict[str, Any] | None  # the last SyncReport, lists as counts, + 'finished'
    size_bytes: int  # the data dir on disk (SQLite and embedded Chroma)


# ---- what sync writes ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NoteWrite:
    """A note to (re)write in the manifest with its chunks; `size` is the file's in bytes."""

    note: Note
    chunks: Sequence[Chunk]
    size: int


@dataclass
class Batch:
    """One commit: the unit that survives a kill as a whole or not at all."""

    written: list[NoteWrite] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    touched: list[tuple[str, float, int]] = field(default_factory=list)  # path, mtime, size
    attachments_added: list[str] = field(default_factory=list)
    attachments_removed: list[str] = field(default_factory=list)
    # vectors of the written notes' chunks the store does not hold yet, by chunk id
    vectors: dict[str, npt.NDArray[np.float32]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(
            self.written
            or self.deleted
            or self.touched
            or self.attachments_added
            or self.attachments_removed
        )


def link_key(target: str) -> str:
    """The part of a path or link target that a rename changes: its last part, no '.md'."""
    name = path_key(target).rstrip("/").rsplit("/", 1)[-1]
    return name.removesuffix(".md")


# ---- the store ----------------------------------------------------------------------


class Store:
    """The index of one vault, in `data_dir` (and at `chroma_url` when given).

    Opening is cheap: SQLite is migrated at once, Chroma is reached on first vector use,
    so `overlay status` never touches Chroma.
    """

    def __init__(self, data_dir: Path, *, chroma_url: str | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.chroma_url = chroma_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        try:
            migrate(self.db)
        except sqlite3.DatabaseError as error:
            raise StoreError(f"cannot open the index in {self.data_dir}: {error}") from error
        if self._meta("store_id") is None:
            with self._transaction():
                self._set_meta("store_id", uuid.uuid4().hex[:12])
        self.vectors = ChromaVectors(self.data_dir / CHROMA_DIR, chroma_url)

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection: each thread reads committed data only, and the
        sync thread's open transaction or temp tables never leak into a reader's."""
        connection: sqlite3.Connection | None = getattr(self._local, "db", None)
        if connection is None:
            try:
                # autocommit: a reader never sits in a stale snapshot; writes use _transaction
                connection = sqlite3.connect(
                    self.data_dir / DB_FILE,
                    check_same_thread=False,
                    isolation_level=None,
                    timeout=30,
                )
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA foreign_keys=ON")
                connection.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.DatabaseError as error:
                raise StoreError(f"cannot open the index in {self.data_dir}: {error}") from error
            self._local.db = connection
            with self._connections_lock:
                self._connections.append(connection)
        return connection

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        return cls(settings.resolved_data_dir(), chroma_url=settings.store.url)

    def close(self) -> None:
        """Close every thread's connection; the Store cannot be used afterwards."""
        with self._connections_lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
        self._local = threading.local()
        self.vectors.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # ---- meta and the embedder binding ----

    def _meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str | None) -> None:
        if value is None:
            self.db.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    @property
    def embedder_name(self) -> str | None:
        """The embedder whose vectors the index holds (None before the first sync)."""
        return self._meta("embedder")

    @property
    def dimension(self) -> int | None:
        value = self._meta("dimension")
        return None if value is None else int(value)

    def bind_embedder(self, name: str, dimension: int) -> str | None:
        """Make `name` the index's embedder; returns the previous one when it changed.

        A change starts a new Chroma collection; the old one is retired (dropped by
        `drop_retired_collections` once the new one holds every chunk), so vectors of
        two models never meet in one collection.
        """
        previous = self.embedder_name
        if previous == name and self.dimension == dimension:
            return None
        retired = json.loads(self._meta("retired_collections") or "[]")
        old = self._meta("collection")
        if old is not None:
            retired.append(old)
        collection = f"ov_{self._meta('store_id')}_{uuid.uuid4().hex[:8]}_{dimension}"
        with self._transaction():
            self._set_meta("embedder", name)
            self._set_meta("dimension", str(dimension))
            self._set_meta("collection", collection)
            self._set_meta("retired_collections", json.dumps(retired))
        return previous

    def drop_retired_collections(self) -> list[str]:
        """Delete the collections of embedders no longer in use; returns their names."""
        retired: list[str] = json.loads(self._meta("retired_collections") or "[]")
        for name in retired:
            self.vectors.drop(name)
        with self._transaction():
            self._set_meta("retired_collections", "[]")
        return retired

    # ---- vectors (Chroma) ----

    def _vectors(self) -> VectorCollection:
        name = self._meta("collection")
        if name is None:
            raise StoreError("the index has no embedder yet: run `overlay index` first")
        return self.vectors.collection(name)

    def vector_ids(self) -> set[str]:
        """Every chunk id with a vector in the current embedder's collection."""
        return self._vectors().ids()

    def add_vectors(
        self, chunks: Sequence[ChunkLike], vectors: npt.NDArray[np.float32] | Sequence[Any]
    ) -> None:
        """Upsert vectors of chunks the manifest holds (a repair); idempotent."""
        self._vectors().upsert(chunks, vectors)
        with self._transaction():  # Chroma now names these notes
            self.db.executemany(
                "UPDATE chunks SET vector_note = ? WHERE id = ?",
                [(c.note_path, c.id) for c in chunks],
            )

    def delete_vectors(self, ids: Iterable[str]) -> None:
        self._vectors().delete(ids)

    def vector_metadata(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Chroma's metadata of these chunk ids (note, heading, ordinal, folder)."""
        return self._vectors().metadata(ids)

    def nearest(self, vector: npt.NDArray[np.float32], k: int) -> list[DenseHit]:
        """The k chunk ids nearest to `vector`, nearest first."""
        return self._vectors().nearest(vector, k)

    def dense_search(self, query: str, embedder: Embedder, k: int) -> list[DenseHit]:
        """Embed `query` with the index's own embedder and return the k nearest chunks."""
        if embedder.name != self.embedder_name:
            raise StoreError(
                f"the index holds vectors of {self.embedder_name or 'no embedder'}, not "
                f"{embedder.name}: run `overlay index` to re-embed"
            )
        return self.nearest(embedder.embed_query(query), k)

    # ---- the manifest: reads ----

    def manifest(self) -> dict[str, IndexedNote]:
        """Every indexed note by path."""
        rows = self.db.execute(
            "SELECT path, title, content_hash, mtime, size, indexed_at FROM notes"
        )
        return {row[0]: IndexedNote(*row) for row in rows}

    def notes(self) -> list[IndexedNote]:
        """Every indexed note, sorted by path."""
        return sorted(self.manifest().values(), key=lambda note: note.path)

    def note(self, path: str) -> IndexedNote | None:
        row = self.db.execute(
            "SELECT path, title, content_hash, mtime, size, indexed_at FROM notes WHERE path = ?",
            (path,),
        ).fetchone()
        return None if row is None else IndexedNote(*row)

    def names(self) -> list[NoteName]:
        """Titles and aliases of every note, for matching a note named in a question."""
        aliases: dict[str, list[str]] = defaultdict(list)
        for path, alias in self.db.execute("SELECT note_path, alias FROM aliases ORDER BY alias"):
            aliases[path].append(alias)
        rows = self.db.execute("SELECT path, title FROM notes ORDER BY path")
        return [NoteName(path, title, tuple(aliases.get(path, ()))) for path, title in rows]

    def attachments(self) -> set[str]:
        return {row[0] for row in self.db.execute("SELECT path FROM attachments")}

    def chunks(
        self, *, note_paths: Iterable[str] | None = None, ids: Iterable[str] | None = None
    ) -> list[StoredChunk]:
        """Chunks held by notes (all, or of these notes, or with these ids), in note order.

        A chunk shared by two notes comes once per note.
        """
        sql = (
            "SELECT c.id, n.note_path, n.ordinal, c.heading_path, c.text, n.start_line, "
            "n.end_line FROM note_chunks n JOIN chunks c ON c.id = n.chunk_id"
        )
        with self._keys("wanted", note_paths if note_paths is not None else ids) as table:
            if table is not None:
                column = "n.note_path" if note_paths is not None else "n.chunk_id"
                sql += f" WHERE {column} IN (SELECT key FROM {table})"
            rows = self.db.execute(sql + " ORDER BY n.note_path, n.ordinal").fetchall()
        return [StoredChunk(r[0], r[1], r[2], tuple(json.loads(r[3])), *r[4:]) for r in rows]

    def chunk_ids(self) -> set[str]:
        """Ids of every distinct chunk some note holds."""
        return {row[0] for row in self.db.execute("SELECT id FROM chunks")}

    def known_chunk_ids(self, ids: Iterable[str]) -> set[str]:
        """Which of `ids` the index holds already (their vectors need no embedding)."""
        with self._keys("probe", ids) as table:
            rows = self.db.execute(f"SELECT id FROM chunks WHERE id IN (SELECT key FROM {table})")
            return {row[0] for row in rows}

    def links(self, *, source: str | None = None, resolved: str | None = None) -> list[StoredLink]:
        """Links as written, all or those from `source` or those resolving to `resolved`."""
        sql = "SELECT source, target, kind, resolved, display, heading, block, line FROM links"
        args: tuple[str, ...] = ()
        if source is not None:
            sql, args = sql + " WHERE source = ?", (source,)
        elif resolved is not None:
            sql, args = sql + " WHERE resolved = ?", (resolved,)
        rows = self.db.execute(sql + " ORDER BY source, ordinal", args)
        return [StoredLink(*row) for row in rows]

    def edges(self) -> list[tuple[str, str, str]]:
        """The note-to-note link graph: (source, target, kind), one per link written."""
        rows = self.db.execute(
            "SELECT l.source, l.resolved, l.kind FROM links l "
            "JOIN notes n ON n.path = l.resolved ORDER BY l.source, l.ordinal"
        )
        return [(s, t, k) for s, t, k in rows]

    def mentions(self) -> list[mention_index.Mention]:
        """Unlinked mentions: a note's title or alias written in another (indexer/mentions.py)."""
        return mention_index.edges(self.db)

    def complete_mentions(self) -> int:
        """Add the notes the mention index lacks, from their stored chunks (an index built
        before mentions existed); returns how many."""
        paths = mention_index.missing(self.db)
        if not paths:
            return 0
        texts: dict[str, list[str]] = defaultdict(list)
        for chunk in self.chunks(note_paths=paths):
            texts[chunk.note_path].append(chunk.embedding_text)
        names = {name.path: name for name in self.names()}
        notes = [
            mention_index.StoredText(p, names[p].title, names[p].aliases, "\n\n".join(texts[p]))
            for p in paths
        ]
        with self._transaction():
            mention_index.update(self.db, notes, [])
        return len(notes)

    def mentioned_by(self, path: str) -> list[mention_index.Mention]:
        """The notes that write `path`'s title or an alias of it, unlinked."""
        return mention_index.mentioning(self.db, path)

    def outlinks(self, path: str) -> list[StoredLink]:
        return self.links(source=path)

    def backlinks(self, path: str) -> list[StoredLink]:
        """Links from other notes (and from itself) that resolve to `path`."""
        return self.links(resolved=path)

    def unresolved_links(self) -> list[StoredLink]:
        """Links to notes not written yet (or to files not in the vault)."""
        return [link for link in self.links() if link.resolved is None]

    def tags(self) -> dict[str, list[str]]:
        """Tag -> the paths of the notes carrying it (nested tags as written: 'a/b')."""
        result: dict[str, list[str]] = defaultdict(list)
        for tag, path in self.db.execute("SELECT tag, note_path FROM tags ORDER BY tag, note_path"):
            result[tag].append(path)
        return dict(result)

    def note_tags(self, path: str) -> list[str]:
        rows = self.db.execute("SELECT tag FROM tags WHERE note_path = ? ORDER BY tag", (path,))
        return [row[0] for row in rows]

    def last_sync(self) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT finished, report FROM syncs ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return None if row is None else {"finished": row[0], **json.loads(row[1])}

    def stats(self) -> StoreStats:
        def count(sql: str) -> int:
            return int(self.db.execute(sql).fetchone()[0])

        return StoreStats(
            notes=count("SELECT COUNT(*) FROM notes"),
            chunks=count("SELECT COUNT(*) FROM note_chunks"),
            distinct_chunks=count("SELECT COUNT(*) FROM chunks"),
            links=count("SELECT COUNT(*) FROM links"),
            note_links=count("SELECT COUNT(*) FROM links l JOIN notes n ON n.path = l.resolved"),
            unresolved_links=count("SELECT COUNT(*) FROM links WHERE resolved IS NULL"),
            tags=count("SELECT COUNT(DISTINCT tag) FROM tags"),
            attachments=count("SELECT COUNT(*) FROM attachments"),
            embedder=self.embedder_name,
            dimension=self.dimension,
            last_sync=self.last_sync(),
            size_bytes=_folder_size(self.data_dir),
        )

    # ---- the manifest: writes ----

    def commit(self, batch: Batch) -> set[str]:
        """Write a batch: new vectors, then the manifest in one transaction, then drop
        the vectors no note holds any more (returned by id)."""
        fresh: dict[str, Chunk] = {}
        for write in batch.written:
            for chunk in write.chunks:
                if chunk.id in batch.vectors:
                    fresh.setdefault(chunk.id, chunk)  # the first holder names the vector
        if fresh:
            self._vectors().upsert(list(fresh.values()), [batch.vectors[i] for i in fresh])
        try:
            with self._transaction():
                dropped = self._write_manifest(batch)
                stale = self._restamp_vector_notes(batch)
        except sqlite3.IntegrityError as error:
            raise StoreError(f"a chunk to write has no vector: {error}") from error
        if stale:
            self._vectors().retag(stale)
        if dropped:
            self.delete_vectors(dropped)
        return dropped

    def record_sync(self, report: Mapping[str, Any]) -> None:
        with self._transaction():
            self.db.execute(
                "INSERT INTO syncs (finished, report) VALUES (?, ?)",
                (time.time(), json.dumps(report, ensure_ascii=False, default=str)),
            )
            self.db.execute("DELETE FROM syncs WHERE id <= (SELECT MAX(id) FROM syncs) - 100")

    def _write_manifest(self, batch: Batch) -> set[str]:
        before = {
            p: self._aliases_of(p) for p in [*(w.note.path for w in batch.written), *batch.deleted]
        }
        existed = set(self.manifest_paths(before))
        unknown = {c.id for w in batch.written for c in w.chunks} - set(batch.vectors)
        unknown -= self.known_chunk_ids(unknown)
        if unknown:
            raise StoreError(f"{len(unknown)} chunks to write have no vector (e.g. {min(unknown)})")
        old_chunks = self._chunk_ids_of([*before])
        for path in batch.deleted:
            self.db.execute("DELETE FROM notes WHERE path = ?", (path,))
        for write in batch.written:
            self._write_note(write)
        for path, mtime, size in batch.touched:
            self.db.execute(
                "UPDATE notes SET mtime = ?, size = ? WHERE path = ?", (mtime, size, path)
            )
        self._write_attachments(batch)
        dropped = self._drop_unheld(old_chunks)
        self._relink(batch, before, existed)
        mention_index.update(self.db, [w.note for w in batch.written], batch.deleted)
        return dropped

    def manifest_paths(self, paths: Iterable[str]) -> list[str]:
        """Which of `paths` are indexed notes."""
        with self._keys("paths", paths) as table:
            rows = self.db.execute(
                f"SELECT path FROM notes WHERE path IN (SELECT key FROM {table})"
            )
            return [row[0] for row in rows]

    def _aliases_of(self, path: str) -> frozenset[str]:
        rows = self.db.execute("SELECT alias FROM aliases WHERE note_path = ?", (path,))
        return frozenset(row[0] for row in rows)

    def _chunk_ids_of(self, paths: Sequence[str]) -> set[str]:
        with self._keys("holders", paths) as table:
            rows = self.db.execute(
                f"SELECT chunk_id FROM note_chunks WHERE note_path IN (SELECT key FROM {table})"
            )
            return {row[0] for row in rows}

    def _write_note(self, write: NoteWrite) -> None:
        note = write.note
        self.db.execute("DELETE FROM notes WHERE path = ?", (note.path,))
        self.db.execute(
            "INSERT INTO notes VALUES (?, ?, ?, ?, ?, ?)",
            (note.path, note.title, note.content_hash, note.mtime, write.size, time.time()),
        )
        self.db.executemany(
            "INSERT OR IGNORE INTO chunks (id, heading_path, text, vector_note) VALUES (?, ?, ?, ?)",
            [
                (c.id, json.dumps(c.heading_path, ensure_ascii=False), c.text, note.path)
                for c in write.chunks
            ],
        )
        self.db.executemany(
            "INSERT INTO note_chunks VALUES (?, ?, ?, ?, ?)",
            [(note.path, i, c.id, c.start_line, c.end_line) for i, c in enumerate(write.chunks)],
        )
        self.db.executemany(
            "INSERT INTO links VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
            [
                (
                    note.path,
                    i,
                    link.target,
                    link_key(link.target),
                    link.kind.value,
                    link.display,
                    link.heading,
                    link.block,
                    link.line,
                )
                for i, link in enumerate(note.links)
            ],
        )
        self.db.executemany(
            "INSERT OR IGNORE INTO aliases VALUES (?, ?)",
            [(note.path, alias) for alias in note.aliases],
        )
        self.db.executemany(
            "INSERT OR IGNORE INTO tags VALUES (?, ?)", [(note.path, tag) for tag in note.tags]
        )

    def _write_attachments(self, batch: Batch) -> None:
        self.db.executemany(
            "INSERT OR IGNORE INTO attachments VALUES (?)",
            [(path,) for path in batch.attachments_added],
        )
        self.db.executemany(
            "DELETE FROM attachments WHERE path = ?",
            [(path,) for path in batch.attachments_removed],
        )

    def _restamp_vector_notes(self, batch: Batch) -> list[StoredChunk]:
        """Chunks of this batch's notes whose vector names a note that no longer holds
        them (it moved or was deleted): re-point them at a current holder."""
        paths = [*(w.note.path for w in batch.written), *batch.deleted]
        with self._keys("touched_notes", paths) as table:
            rows = self.db.execute(
                "SELECT c.id, MIN(n.note_path) FROM chunks c JOIN note_chunks n ON n.chunk_id = c.id "
                "WHERE c.vector_note IN (SELECT key FROM " + str(table) + ") AND NOT EXISTS ("
                "SELECT 1 FROM note_chunks h WHERE h.chunk_id = c.id AND h.note_path = c.vector_note)"
                " GROUP BY c.id"
            ).fetchall()
        self.db.executemany(
            "UPDATE chunks SET vector_note = ? WHERE id = ?",
            [(holder, chunk_id) for chunk_id, holder in rows],
        )
        holders = {chunk_id: holder for chunk_id, holder in rows}
        chosen = {c.id: c for c in self.chunks(ids=holders) if c.note_path == holders[c.id]}
        return list(chosen.values())

    def _drop_unheld(self, candidates: set[str]) -> set[str]:
        with self._keys("candidates", candidates) as table:
            rows = self.db.execute(
                f"SELECT key FROM {table} WHERE key NOT IN (SELECT chunk_id FROM note_chunks)"
            ).fetchall()
        dropped = {row[0] for row in rows}
        self.db.executemany("DELETE FROM chunks WHERE id = ?", [(i,) for i in dropped])
        return dropped

    def _relink(
        self, batch: Batch, aliases_before: Mapping[str, frozenset[str]], existed: set[str]
    ) -> None:
        """Re-resolve the links whose target may have changed meaning.

        A new, moved or deleted note (or attachment), or a changed alias, changes what
        links naming it resolve to: `[[Old Name]]` stops resolving after a rename. Only
        links whose last path part matches such a name are resolved again, plus the
        links of the notes written now.
        """
        keys: set[str] = set()
        for write in batch.written:
            path, aliases = write.note.path, frozenset(write.note.aliases)
            if path not in existed:
                keys.add(link_key(path))
            keys.update(link_key(a) for a in aliases ^ aliases_before.get(path, frozenset()))
        for path in batch.deleted:
            keys.add(link_key(path))
            keys.update(link_key(a) for a in aliases_before.get(path, frozenset()))
        keys.update(link_key(p) for p in [*batch.attachments_added, *batch.attachments_removed])
        sources = [w.note.path for w in batch.written]
        with self._keys("keys", keys) as key_table, self._keys("sources", sources) as src_table:
            rows = self.db.execute(
                "SELECT source, ordinal, target FROM links WHERE "
                f"target_key IN (SELECT key FROM {key_table}) "
                f"OR source IN (SELECT key FROM {src_table})"
            ).fetchall()
        if not rows:
            return
        resolver = self._resolver()
        self.db.executemany(
            "UPDATE links SET resolved = ? WHERE source = ? AND ordinal = ?",
            [
                (resolver.resolve(target, source), source, ordinal)
                for source, ordinal, target in rows
            ],
        )

    def _resolver(self) -> LinkResolver:
        aliases: dict[str, list[str]] = defaultdict(list)
        for path, alias in self.db.execute("SELECT note_path, alias FROM aliases"):
            aliases[path].append(alias)
        paths = [row[0] for row in self.db.execute("SELECT path FROM notes")]
        paths += [row[0] for row in self.db.execute("SELECT path FROM attachments")]
        return LinkResolver(paths, aliases)

    @contextmanager
    def _keys(self, name: str, keys: Iterable[str] | None) -> Iterator[str | None]:
        """A temporary one-column table of `keys` (None passes through), for IN queries
        of any size."""
        if keys is None:
            yield None
            return
        table = f"temp_{name}"
        self.db.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY)")
        self.db.execute(f"DELETE FROM {table}")
        self.db.executemany(f"INSERT OR IGNORE INTO {table} VALUES (?)", [(k,) for k in keys])
        try:
            yield table
        finally:
            self.db.execute(f"DELETE FROM {table}")


def _folder_size(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                continue
    return total
