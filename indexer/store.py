"""The index: SQLite is the source of truth, Chroma holds the vectors.

SQLite (`index.sqlite3` in the data dir) keeps the manifest (note path -> content hash,
mtime, size, chunks), the distinct chunks with their text, the link graph with each
link's resolution, aliases, tags, the vault's attachments and the files skipped for
what they hold (with their mtime and size, so a sync does not read them again). Chroma
(`vectors.py`) keeps one vector per chunk id, one collection per embedder.

Writes go through `Store.commit`, which keeps DESIGN decision 2 in one place: new
vectors are written to Chroma first, then the manifest is committed in one SQLite
transaction, then vectors no note holds any more are deleted. A process killed at any
point leaves at worst vectors no note refers to, or (after an embedder switch) chunks
without a vector; the next sync's reconcile step (`sync.Indexer`) repairs both.

Only one process writes (see `lock.WriterLock`); any number may read.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from indexer import generations, parked
from indexer import mentions as mention_index
from indexer.integrity import REBUILD_HINT
from indexer.link_graph import LinkGraphReads
from indexer.manifest_writes import ManifestWriter
from indexer.migrations import MIGRATIONS
from indexer.records import (
    Batch,
    IndexedNote,
    NoteName,
    RememberedSkip,
    StoredChunk,
    StoreStats,
)
from indexer.scrub import scrub_deleted_documents, zero_spare_hnsw_room
from indexer.vectors import CHROMA_DB, ChromaVectors, ChunkLike, VectorCollection, VectorReads
from overlay.errors import StoreError
from overlay.sqlite import (
    apply_migrations,
    connect,
    forget_clean,
    mark_clean,
    sqlite_damage,
    temp_keys,
    transaction,
    vacuum,
)
from vault_schema.chunks import Chunk

if TYPE_CHECKING:
    from overlay.config import Settings

DB_FILE = "index.sqlite3"
CHROMA_DIR = "chroma"


# ---- the store ----------------------------------------------------------------------


class Store(LinkGraphReads, VectorReads):
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
        if damage := sqlite_damage(self.data_dir / DB_FILE):
            raise StoreError(f"cannot open the index in {self.data_dir}: {damage}; {REBUILD_HINT}")
        forget_clean(self.data_dir / DB_FILE)
        try:
            apply_migrations(self.db, MIGRATIONS)
        except sqlite3.DatabaseError as error:
            raise StoreError(
                f"cannot open the index in {self.data_dir}: {error}; {REBUILD_HINT}"
            ) from error
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
            # one per thread, autocommit: a reader never sits in a stale snapshot
            connection = connect(
                self.data_dir / DB_FILE,
                what="the index",
                foreign_keys=True,
                durable=False,  # rebuilt from the vault; a killed process still loses nothing
            )
            self._local.db = connection
            with self._connections_lock:
                self._connections.append(connection)
        return connection

    def purge_deleted(self) -> None:
        """Leave no trace of deleted chunks in the store's files: Chroma's queued metadata
        of deleted embeddings blanked and its HNSW files' spare room zeroed (embedded
        Chroma only: a server keeps its files), then both SQLite files vacuumed."""
        chroma = self.data_dir / CHROMA_DIR
        if self.vectors.url is None and chroma.is_dir():
            scrub_deleted_documents(chroma)
            zero_spare_hnsw_room(chroma)
            if (chroma / CHROMA_DB).is_file():
                vacuum(chroma / CHROMA_DB, what="the vector store", wal=False)
        vacuum(self.data_dir / DB_FILE, what="the index")

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
        with contextlib.suppress(OSError):
            mark_clean(self.data_dir / DB_FILE)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with transaction(self.db):
            yield

    # ---- meta and the embedder binding ----

    def _meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str | None) -> None:
        if value is None:
            self.db.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def forgotten_on_demand(self) -> set[str]:
        """Notes `overlay forget` named: still in the vault, never indexed again."""
        return set(json.loads(self._meta("forgotten_on_demand") or "[]"))

    def set_forgotten_on_demand(self, paths: Iterable[str]) -> None:
        """Replace the notes forgotten on demand; the next sync drops (or takes back) them."""
        with self._transaction():
            kept = sorted(set(paths))
            self._set_meta("forgotten_on_demand", json.dumps(kept) if kept else None)

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

    # ---- the manifest: reads ----

    def manifest(self, under: Iterable[str] | None = None) -> dict[str, IndexedNote]:
        """Every indexed note by path; with `under`, those at or below these paths (a
        range of the path index each: a one-file sync reads one row, not the vault)."""
        sql = "SELECT path, title, content_hash, mtime, size, indexed_at FROM notes"
        if under is None:
            return {row[0]: IndexedNote(*row) for row in self.db.execute(sql)}
        found: dict[str, IndexedNote] = {}
        for root in under:  # '/' < '0': the paths below `root/` sort between the two
            rows = self.db.execute(
                f"{sql} WHERE path = ? OR (path > ? AND path < ?)", (root, root + "/", root + "0")
            )
            found.update((row[0], IndexedNote(*row)) for row in rows)
        return found

    def notes(self) -> list[IndexedNote]:
        """Every indexed note, sorted by path."""
        return sorted(self.manifest().values(), key=lambda note: note.path)

    def note(self, path: str) -> IndexedNote | None:
        row = self.db.execute(
            "SELECT path, title, content_hash, mtime, size, indexed_at FROM notes WHERE path = ?",
            (path,),
        ).fetchone()
        return None if row is None else IndexedNote(*row)

    def names(self, paths: Iterable[str] | None = None) -> list[NoteName]:
        """Titles and aliases of every note (or of these), for finding notes a text names."""
        aliases: dict[str, list[str]] = defaultdict(list)
        with temp_keys(self.db, "named", paths) as table:
            where = f" WHERE {{}} IN (SELECT key FROM {table})" if table else ""
            for path, alias in self.db.execute(
                f"SELECT note_path, alias FROM aliases{where.format('note_path')} ORDER BY alias"
            ).fetchall():
                aliases[path].append(alias)
            rows = self.db.execute(
                f"SELECT path, title FROM notes{where.format('path')} ORDER BY path"
            ).fetchall()
        return [NoteName(path, title, tuple(aliases.get(path, ()))) for path, title in rows]

    def scene_notes(self) -> set[str]:
        """Notes marked `overlay: scene`: how to answer, not what is true."""
        return {row[0] for row in self.db.execute("SELECT path FROM notes WHERE scene")}

    def attachments(self) -> set[str]:
        return {row[0] for row in self.db.execute("SELECT path FROM attachments")}

    def skipped_files(self) -> dict[str, RememberedSkip]:
        """Files skipped for what they hold, by path: a sync does not read them again
        while their mtime and size stay."""
        rows = self.db.execute("SELECT path, mtime, size, code, message FROM skipped_files")
        return {row[0]: RememberedSkip(*row) for row in rows}

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
        with temp_keys(self.db, "wanted", note_paths if note_paths is not None else ids) as table:
            if table is not None:
                column = "n.note_path" if note_paths is not None else "n.chunk_id"
                sql += f" WHERE {column} IN (SELECT key FROM {table})"
            rows = self.db.execute(sql + " ORDER BY n.note_path, n.ordinal").fetchall()
        return [StoredChunk(r[0], r[1], r[2], tuple(json.loads(r[3])), *r[4:]) for r in rows]

    def chunk_count(self) -> int:
        """Distinct chunks the manifest holds (each should have one vector)."""
        return int(self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def vector_count(self) -> int:
        return self._vectors().count()

    def chunk_ids(self) -> set[str]:
        """Ids of every distinct chunk some note holds."""
        return {row[0] for row in self.db.execute("SELECT id FROM chunks")}

    def known_chunk_ids(self, ids: Iterable[str]) -> set[str]:
        """Which of `ids` the index holds already (their vectors need no embedding)."""
        with temp_keys(self.db, "probe", ids) as table:
            rows = self.db.execute(f"SELECT id FROM chunks WHERE id IN (SELECT key FROM {table})")
            return {row[0] for row in rows}

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
            generations.advance(self.db, paths)
        return len(notes)

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

    # ---- the index generation (indexer/generations.py) ----

    def generation(self) -> int:
        """Advanced by every commit that changes what retrieval sees, by nothing else."""
        return generations.current(self.db)

    def changes_since(self, generation: int) -> tuple[int, set[str] | None]:
        """The current generation and the notes changed since `generation` (None: unknown)."""
        return generations.changes_since(self.db, generation)

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
                writer = ManifestWriter(self.db)
                dropped = writer.write(batch)
                holders = writer.restamp_vector_notes(batch)
                if batch.attachments_added or batch.attachments_removed:
                    generations.advance(self.db, None)
                elif batch.written or batch.deleted:
                    generations.advance(
                        self.db, [*(w.note.path for w in batch.written), *batch.deleted]
                    )
        except sqlite3.IntegrityError as error:
            raise StoreError(f"a chunk to write has no vector: {error}") from error
        stale = [c for c in self.chunks(ids=holders) if c.note_path == holders[c.id]]
        if stale:
            self._vectors().retag(list({c.id: c for c in stale}.values()))
        if writer.parkable:  # vanished notes' vectors, kept a while (indexer/parked.py)
            kept = self.stored_vectors(writer.parkable)
            with self._transaction():
                parked.park(self.db, str(self._meta("collection")), kept)
        if dropped:
            self.delete_vectors(dropped)
        return dropped

    def parked_vectors(self, ids: Iterable[str]) -> dict[str, npt.NDArray[np.float32]]:
        """The vectors of these chunk ids kept since their notes vanished."""
        return parked.find(self.db, str(self._meta("collection")), ids)

    def expire_parked(self, grace_s: float) -> None:
        """Delete the vectors parked longer than `grace_s` ago."""
        with self._transaction():
            parked.expire(self.db, grace_s)

    def record_sync(self, report: Mapping[str, Any]) -> None:
        with self._transaction():
            self.db.execute(
                "INSERT INTO syncs (finished, report) VALUES (?, ?)",
                (time.time(), json.dumps(report, ensure_ascii=False, default=str)),
            )
            self.db.execute("DELETE FROM syncs WHERE id <= (SELECT MAX(id) FROM syncs) - 100")


def _folder_size(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                continue
    return total
