"""Sync: make the index match the vault, doing only the work that changed.

Every indexing decision lives here, testable without a watcher:
- a file whose mtime and size match the manifest is not read; one that differs is
  read and hashed, and only a different hash makes it a changed note;
- chunks are content-addressed, so only chunks the store does not hold are embedded:
  a restart, a rename or a folder move embeds nothing, an edit embeds its new chunks;
- a file skipped for what it holds (`REMEMBERED_SKIPS`: a scan with no text layer, a
  broken or encrypted PDF, binary bytes, contents over a parser's budget) is remembered with its mtime and size and not
  read again until they change, yet every sync still reports it skipped; its memory
  goes when it is read again, is deleted or is no longer listed. Skips that follow
  from settings or a moment (too large for the cap in force, private, vanished,
  unreadable) are decided afresh each time;
- notes are written in batches of about `index.batch_size` new chunks, each one commit
  (`Store.commit`): a killed sync resumes where it stopped, without duplicates;
- a requested stop (`Indexer.request_stop`, at shutdown) does not wait for the batch
  being embedded, which takes minutes on a busy CPU: the embedding runs on a helper
  thread that is given up, its vectors dropped uncommitted;
- notes that vanished are deleted after everything else, so a moved note's chunks are
  still held by its new path when the old one goes; their vectors are kept for
  `index.vector_grace_s` (`indexer/parked.py`), so a move split across two syncs
  re-embeds nothing either;
- private notes (`is_private` with `parse.private_tags`) and excluded globs never reach
  the store, and leave it when they become private or excluded;
- a note that leaves the index because it turned private, was excluded, was deleted
  or was forgotten on demand (`Store.forget_on_demand`) is listed in
  `SyncReport.forgotten` with that reason: the Face hands the list to the forgetting
  step (`distill.forgetting`), which this layer must not import;
- `reconcile` (the first sync of an `Indexer`, and every full sync) binds the
  embedder, re-embedding everything once when it changed, deletes vectors no note
  holds and embeds chunks that lack a vector.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from indexer.embedders import Embedder
from indexer.integrity import vector_damage
from indexer.records import Batch, IndexedNote, NoteWrite, RememberedSkip, StoredChunk
from indexer.stops import Stop
from indexer.store import Store
from overlay.config import Settings
from overlay.errors import StoreError, VaultNotFound
from overlay.progress import Progress, Step
from vault_schema.chunks import Chunk, chunk_note
from vault_schema.files import (
    SkippedFile,
    file_kind,
    is_excluded,
    list_vault_files,
    read_note,
    vault_excludes,
)
from vault_schema.privacy_rule import is_private
from vault_schema.vault_paths import VaultListing, fs_path, is_hidden, stored_name

MAX_NOTES_PER_BATCH = 500  # commit at least this often even when nothing needs embedding
SKIPPED_KEPT = 100  # skipped files whose reasons a sync's record keeps
# ParseWarning codes that follow from a file's bytes alone. Not 'too-large' (the cap can
# change), 'unreadable' (permissions or an I/O error: a chmod leaves mtime alone, and a
# retry costs one failed open), 'vanished' or 'private' (parse.private_tags can change).
REMEMBERED_SKIPS = frozenset({"binary", "broken-pdf", "encrypted", "no-text", "over-budget"})


@dataclass
class SyncReport:
    """What a sync did. Paths are vault-relative."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    moved: list[tuple[str, str]] = field(default_factory=list)  # (old path, new path)
    deleted: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    # (path, 'private' | 'excluded' | 'deleted' | 'on demand'): notes that left the index
    # for good and must leave everything made of them
    forgotten: list[tuple[str, str]] = field(default_factory=list)
    unchanged: int = 0
    touched: int = 0  # mtime changed, content did not
    chunks_embedded: int = 0
    chunks_reused: int = 0  # chunks of written notes whose vector the store already held
    vectors_repaired: int = 0  # reconcile: chunks that lacked a vector, embedded
    vectors_orphaned: int = 0  # reconcile: vectors no note held, deleted
    embedder: str = ""
    embedder_switched_from: str | None = None
    embed_seconds: float = 0.0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def counts(self) -> dict[str, Any]:
        """The report with each list replaced by its length: small enough to keep; the
        first skipped files are kept with their reasons, for `overlay status`."""
        counts = {
            key: len(value) if isinstance(value, list) else value
            for key, value in self.to_dict().items()
        }
        counts["skipped_files"] = [list(pair) for pair in self.skipped[:SKIPPED_KEPT]]
        return counts

    def summary(self) -> str:
        """One line for people."""
        parts = [
            f"{len(self.added)} added",
            f"{len(self.changed)} changed",
            f"{len(self.moved)} moved",
            f"{len(self.deleted)} deleted",
            f"{len(self.skipped)} skipped",
            f"{self.unchanged + self.touched} unchanged",
        ]
        rate = self.chunks_embedded / self.embed_seconds if self.embed_seconds else 0.0
        return (
            f"notes: {', '.join(parts)}; chunks: {self.chunks_embedded} embedded "
            f"({rate:.0f}/s), {self.chunks_reused} reused; {self.seconds:.1f}s"
        )


@dataclass
class _Plan:
    """What a sync will look at, before reading any file."""

    manifest: dict[str, IndexedNote] = field(default_factory=dict)  # the index before
    skips: dict[str, RememberedSkip] = field(default_factory=dict)  # remembered before
    to_read: list[tuple[str, float, int]] = field(default_factory=list)  # path, mtime, size
    gone: list[str] = field(default_factory=list)  # indexed notes no longer in the vault
    skips_gone: list[str] = field(default_factory=list)  # remembered skips no longer listed
    attachments_added: list[str] = field(default_factory=list)
    attachments_removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # refused by the listing


class Indexer:
    """Syncs one vault into one store with one embedder; safe to call from two threads."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        embedder: Embedder,
        *,
        progress: Progress | None = None,
        on_message: Callable[[str], None] | None = None,
    ) -> None:
        """`progress` hears how far a sync is; `on_message` hears what a person
        should know before a long wait (an embedder switch, vectors to repair)."""
        self.vault = settings.require_vault()
        self.parse = settings.parse
        self.exclude = vault_excludes(
            self.vault, settings.parse.exclude, templates=settings.parse.exclude_templates
        )
        self.batch_size = max(1, settings.index.batch_size)
        self.grace_s = settings.index.vector_grace_s
        self.store = store
        self.embedder = embedder
        self.progress = progress
        self.on_message = on_message or (lambda message: None)
        self._lock = threading.Lock()
        self._reconciled = False
        self._stop = Stop()

    def request_stop(self) -> None:
        """End a running sync (and refuse new ones) at once, unless it is committing: the
        batch in hand, embedded or not, is dropped uncommitted, so the store stays
        consistent."""
        self._stop.request()

    def sync(self, paths: Iterable[str] | None = None) -> SyncReport:
        """Full sync (paths None) or an incremental one of these vault-relative paths
        (files or folders, present or gone, as a watcher reports them)."""
        with self._lock:
            self._stop.check()
            started = time.perf_counter()
            report = SyncReport(embedder=self.embedder.name)
            if paths is None or not self._reconciled:
                self._reconcile(report)
            plan = self._plan(None if paths is None else set(paths))
            report.unchanged = plan.unchanged
            report.skipped += plan.skipped
            self._index(plan, report, _Counter(self.progress, len(plan.to_read)))
            report.forgotten = self._forgotten(report)
            self.store.expire_parked(self.grace_s)
            report.seconds = time.perf_counter() - started
            self.store.record_sync(report.counts())
            return report

    def _forgotten(self, report: SyncReport) -> list[tuple[str, str]]:
        """The notes this sync dropped from the index, each with why; a note dropped
        only because it cannot be read now (too large, not UTF-8) is not forgotten."""
        private = {path for path, reason in report.skipped if reason == "private"}
        on_demand = self.store.forgotten_on_demand()
        forgotten = []
        for path in report.deleted:
            if path in private:
                forgotten.append((path, "private"))
            elif path in on_demand:
                forgotten.append((path, "on demand"))
            elif is_hidden(path) or _excluded(path, self.exclude):
                forgotten.append((path, "excluded"))
            elif not (self.vault / path).exists():
                forgotten.append((path, "deleted"))
        return forgotten

    # ---- reconcile ----

    def _reconcile(self, report: SyncReport) -> None:
        switched = self.store.bind_embedder(self.embedder.name, self.embedder.dimension)
        report.embedder_switched_from = switched
        if damage := vector_damage(self.store):
            raise StoreError(damage)
        held, vectors = self.store.chunk_ids(), self.store.vector_ids()
        orphans, missing = vectors - held, held - vectors
        if orphans:
            self.store.delete_vectors(orphans)
        report.vectors_orphaned = len(orphans)
        if switched is not None and missing:
            self.on_message(
                f"the embedder changed from {switched} to {self.embedder.name}: "
                f"re-embedding all {len(missing)} chunks once"
            )
        elif missing:
            self.on_message(
                f"{len(missing)} chunks lack a vector (an interrupted run?): embedding them"
            )
        self._repair(missing, report)
        self.store.complete_mentions()
        self.store.drop_retired_collections()  # only now does the new collection hold all
        self._reconciled = True

    def _repair(self, missing: set[str], report: SyncReport) -> None:
        """Embed the chunks the manifest holds but the vector collection lacks."""
        first_holders: dict[str, StoredChunk] = {}
        for chunk in self.store.chunks(ids=missing) if missing else ():
            first_holders.setdefault(chunk.id, chunk)
        chunks = list(first_holders.values())
        bar = _Counter(self.progress, len(chunks), "re-embedding")
        for start in range(0, len(chunks), self.batch_size):
            self._stop.check()
            part = chunks[start : start + self.batch_size]
            self.store.add_vectors(part, self._embed(part, report))
            bar.advance(len(part), len(part))
        report.vectors_repaired = len(chunks)

    def _embed(self, chunks: Sequence[Chunk | StoredChunk], report: SyncReport) -> Any:
        started = time.perf_counter()
        texts = [c.embedding_text for c in chunks]
        vectors = self._stop.unless_stopped(lambda: self.embedder.embed_documents(texts))
        report.embed_seconds += time.perf_counter() - started
        report.chunks_embedded += len(chunks)
        return vectors

    # ---- plan: stat files, compare with the manifest ----

    def _plan(self, scope: set[str] | None) -> _Plan:
        if not self.vault.is_dir():  # unmounted or moved: never take that for "all deleted"
            raise VaultNotFound(f"the vault {self.vault} is not there any more")
        roots = None if scope is None else {stored_name(p).strip("/") for p in scope} - {""}
        manifest = self.store.manifest(under=roots)
        attachments = self.store.attachments()
        listing = self._list(roots)
        present = set(listing.files) - self.store.forgotten_on_demand()  # neither note nor file
        skips = self.store.skipped_files()
        plan = _Plan(manifest=manifest, skips=skips, skipped=listing.skipped)
        notes = {p for p in present if file_kind(p) in self.parse.file_kinds}
        others = present - notes
        plan.gone = sorted(p for p in manifest if _in_scope(p, roots) and p not in notes)
        plan.skips_gone = sorted(p for p in skips if _in_scope(p, roots) and p not in notes)
        plan.attachments_added = sorted(others - attachments)
        plan.attachments_removed = sorted(
            p for p in attachments if _in_scope(p, roots) and p not in others
        )
        for path in sorted(notes):
            self._compare(path, plan)
        return plan

    def _compare(self, path: str, plan: _Plan) -> None:
        """Count the note unchanged, report it skipped as remembered, or plan to read it."""
        stat = _stat(fs_path(self.vault, path))
        if stat is None:
            return  # vanished since listing: it is simply not there
        known, skip = plan.manifest.get(path), plan.skips.get(path)
        if known is not None and (known.mtime, known.size) == stat:
            plan.unchanged += 1
        elif skip is not None and (skip.mtime, skip.size) == stat and self._under_cap(skip):
            plan.skipped.append((path, skip.reason))
        else:
            plan.to_read.append((path, *stat))

    def _under_cap(self, skip: RememberedSkip) -> bool:
        """Whether the size cap in force lets the file be read: a lowered cap makes a
        remembered skip 'too-large' now, which reading it again tells."""
        return skip.size <= self.parse.max_file_bytes

    def _list(self, roots: set[str] | None) -> VaultListing:
        """The vault's files (or those at or below each root) and the ones refused, why."""
        if roots is None:
            return list_vault_files(self.vault, self.exclude)
        listing = VaultListing()
        for root in sorted(roots):
            part = list_vault_files(self.vault, self.exclude, under=root)
            listing.files += part.files
            listing.skipped += part.skipped
        return listing

    # ---- index: read, chunk, embed, commit ----

    def _index(self, plan: _Plan, report: SyncReport, bar: _Counter) -> None:
        manifest = plan.manifest
        batch, fresh = Batch(), dict[str, Chunk]()
        added: dict[str, str] = {}  # content hash -> path of notes new to the index
        for path, mtime, size in plan.to_read:
            self._stop.check()
            if path in plan.skips:  # changed since it was skipped: what it holds is news
                batch.skips_forgotten.append(path)
            write = self._read(path, mtime, size, manifest, batch, report)
            bar.advance(files=1)
            if write is not None:
                if path not in manifest:
                    added.setdefault(write.note.content_hash, path)
                batch.written.append(write)
                new = {c.id: c for c in write.chunks if c.id not in fresh}
                for known in self.store.known_chunk_ids(new):
                    del new[known]
                for chunk_id, vector in self.store.parked_vectors(new).items():
                    batch.vectors[chunk_id] = vector  # a vanished note's, found again
                    del new[chunk_id]
                fresh.update(new)
                report.chunks_reused += len(write.chunks) - len(new)
            if len(fresh) >= self.batch_size or len(batch.written) >= MAX_NOTES_PER_BATCH:
                self._commit(batch, fresh, report, bar)
                batch, fresh = Batch(), {}
        batch.deleted += plan.gone
        batch.vanished += [p for p in plan.gone if not os.path.lexists(fs_path(self.vault, p))]
        batch.skips_forgotten += plan.skips_gone
        batch.attachments_added += plan.attachments_added
        batch.attachments_removed += plan.attachments_removed
        self._commit(batch, fresh, report, bar)
        _pair_moves(report, manifest, added)

    def _read(
        self,
        path: str,
        mtime: float,
        size: int,
        manifest: dict[str, IndexedNote],
        batch: Batch,
        report: SyncReport,
    ) -> NoteWrite | None:
        """The note to write, or None (and the batch told why: touched, to delete, or a
        skip to remember)."""
        known = manifest.get(path)
        try:
            note = read_note(self.vault, path, max_bytes=self.parse.max_file_bytes)
        except SkippedFile as skip:
            warning = skip.warning
            if warning.code != "vanished":
                report.skipped.append((path, f"{warning.code}: {warning.message}"))
            if warning.code in REMEMBERED_SKIPS:
                remembered = RememberedSkip(path, mtime, size, warning.code, warning.message)
                batch.skips_remembered.append(remembered)
            return self._leave(path, known, batch)
        if is_private(note, self.parse.private_tags):
            report.skipped.append((path, "private"))
            return self._leave(path, known, batch)
        if known is not None and known.content_hash == note.content_hash:
            batch.touched.append((path, note.mtime, size))
            report.touched += 1
            return None
        (report.changed if known is not None else report.added).append(path)
        chunks = chunk_note(note, self.parse.chunk_tokens, self.parse.chunk_chars)
        return NoteWrite(note, chunks, size)

    @staticmethod
    def _leave(path: str, known: object, batch: Batch) -> None:
        if known is not None:
            batch.deleted.append(path)

    def _commit(
        self, batch: Batch, fresh: dict[str, Chunk], report: SyncReport, bar: _Counter
    ) -> None:
        if fresh:
            self._stop.check()
            chunks = list(fresh.values())
            batch.vectors.update(zip(fresh, self._embed(chunks, report), strict=True))
            bar.advance(chunks=len(chunks))
        if batch:
            self.store.commit(batch)
        already = set(report.deleted)  # a note may be both skipped and gone
        report.deleted += [p for p in dict.fromkeys(batch.deleted) if p not in already]


def _pair_moves(report: SyncReport, before: dict[str, IndexedNote], added: dict[str, str]) -> None:
    """Report a deleted note whose content reappeared under a new path as a move."""
    new_paths = set(report.added)
    for old in report.deleted:
        new = added.pop(before[old].content_hash, None) if old in before else None
        if new is not None and new in new_paths:
            report.moved.append((old, new))
    if report.moved:
        gone, came = {old for old, _ in report.moved}, {new for _, new in report.moved}
        report.deleted = [p for p in report.deleted if p not in gone]
        report.added = [p for p in report.added if p not in came]


def _stat(path: Path) -> tuple[float, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_mtime, stat.st_size


def _excluded(path: str, patterns: Sequence[str]) -> bool:
    """Whether the path or a folder above it matches an exclude glob."""
    parts = path.split("/")
    return any(is_excluded("/".join(parts[: i + 1]), patterns) for i in range(len(parts)))


def _in_scope(path: str, roots: set[str] | None) -> bool:
    """Whether `path` is one of the roots or below one (everything when roots is None)."""
    return roots is None or any(path == root or path.startswith(root + "/") for root in roots)


class _Counter:
    """Tells `progress` files done of `total`, with chunks and chunks/s beside them."""

    def __init__(self, progress: Progress | None, total: int, task: str = "indexing") -> None:
        self.progress = progress if total > 0 else None
        self.total, self.task = total, task
        self.files = self.chunks = 0
        self.started = time.perf_counter()
        self.advance()

    def advance(self, files: int = 0, chunks: int = 0) -> None:
        self.files += files
        self.chunks += chunks
        if self.progress is not None:
            rate = self.chunks / max(time.perf_counter() - self.started, 1e-6)
            label = f"{self.chunks} chunks, {rate:.1f} chunks/s"
            self.progress(Step(self.task, self.files, self.total, label))
