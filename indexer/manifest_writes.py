"""The write path of a sync: one batch into the manifest, in the caller's transaction.

Notes, their chunks, links, aliases, tags, attachments and the files remembered as
skipped are replaced as the batch says; chunks no note holds any more are dropped
(those of vanished notes named in `parkable`, whose vectors the store parks,
`indexer/parked.py`); links whose target may have changed meaning (a new, moved or
deleted note, a changed alias) are resolved again.
`Store.commit` wraps this between the vector writes (DESIGN decision 2).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from indexer import mentions as mention_index
from indexer import parked
from indexer.records import Batch, NoteWrite, link_key
from overlay.errors import StoreError
from overlay.sqlite import temp_keys
from vault_schema.links import LinkResolver
from vault_schema.scenes import is_scene_note


class ManifestWriter:
    """Writes batches through `db`, a connection inside a transaction."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.parkable: set[str] = set()  # dropped chunks only vanished notes held

    def write(self, batch: Batch) -> set[str]:
        """The batch into the manifest; returns the ids of chunks no note holds any more."""
        before = {
            p: self._aliases_of(p) for p in [*(w.note.path for w in batch.written), *batch.deleted]
        }
        existed = set(self._manifest_paths(before))
        unknown = {c.id for w in batch.written for c in w.chunks} - set(batch.vectors)
        unknown -= self._known_chunk_ids(unknown)
        if unknown:
            raise StoreError(f"{len(unknown)} chunks to write have no vector (e.g. {min(unknown)})")
        old_chunks = self._chunk_ids_of([*before])
        vanished = self._chunk_ids_of(batch.vanished)
        vanished -= self._chunk_ids_of([p for p in before if p not in batch.vanished])
        for path in batch.deleted:
            self.db.execute("DELETE FROM notes WHERE path = ?", (path,))
        for write in batch.written:
            self._write_note(write)
        for path, mtime, size in batch.touched:
            self.db.execute(
                "UPDATE notes SET mtime = ?, size = ? WHERE path = ?", (mtime, size, path)
            )
        self._write_attachments(batch)
        self._write_skips(batch)
        dropped = self._drop_unheld(old_chunks)
        self.parkable = dropped & vanished
        parked.unpark(self.db, batch.vectors)
        self._relink(batch, before, existed)
        mention_index.update(self.db, [w.note for w in batch.written], batch.deleted)
        return dropped

    def _known_chunk_ids(self, ids: Iterable[str]) -> set[str]:
        with temp_keys(self.db, "probe", ids) as table:
            rows = self.db.execute(f"SELECT id FROM chunks WHERE id IN (SELECT key FROM {table})")
            return {row[0] for row in rows}

    def _manifest_paths(self, paths: Iterable[str]) -> list[str]:
        """Which of `paths` are indexed notes."""
        with temp_keys(self.db, "paths", paths) as table:
            rows = self.db.execute(
                f"SELECT path FROM notes WHERE path IN (SELECT key FROM {table})"
            )
            return [row[0] for row in rows]

    def _aliases_of(self, path: str) -> frozenset[str]:
        rows = self.db.execute("SELECT alias FROM aliases WHERE note_path = ?", (path,))
        return frozenset(row[0] for row in rows)

    def _chunk_ids_of(self, paths: Sequence[str]) -> set[str]:
        with temp_keys(self.db, "holders", paths) as table:
            rows = self.db.execute(
                f"SELECT chunk_id FROM note_chunks WHERE note_path IN (SELECT key FROM {table})"
            )
            return {row[0] for row in rows}

    def _write_note(self, write: NoteWrite) -> None:
        note = write.note
        self.db.execute("DELETE FROM notes WHERE path = ?", (note.path,))
        self.db.execute(
            "INSERT INTO notes VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                note.path,
                note.title,
                note.content_hash,
                note.mtime,
                write.size,
                time.time(),
                is_scene_note(note),
            ),
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

    def _write_skips(self, batch: Batch) -> None:
        """Forget the skips of files read again or gone, and of notes written (a file
        that became readable); then remember this batch's."""
        forgotten = [*batch.skips_forgotten, *(w.note.path for w in batch.written)]
        self.db.executemany("DELETE FROM skipped_files WHERE path = ?", [(p,) for p in forgotten])
        self.db.executemany(
            "INSERT OR REPLACE INTO skipped_files VALUES (?, ?, ?, ?, ?)",
            [(s.path, s.mtime, s.size, s.code, s.message) for s in batch.skips_remembered],
        )

    def restamp_vector_notes(self, batch: Batch) -> dict[str, str]:
        """Chunks of this batch's notes whose vector names a note that no longer holds
        them (it moved or was deleted): re-point them at a current holder; returns
        chunk id -> its new holder."""
        paths = [*(w.note.path for w in batch.written), *batch.deleted]
        with temp_keys(self.db, "touched_notes", paths) as table:
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
        return {chunk_id: holder for chunk_id, holder in rows}

    def _drop_unheld(self, candidates: set[str]) -> set[str]:
        with temp_keys(self.db, "candidates", candidates) as table:
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
        with (
            temp_keys(self.db, "keys", keys) as key_table,
            temp_keys(self.db, "sources", sources) as src_table,
        ):
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
