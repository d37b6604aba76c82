"""Forgetting: a note that turned private, was excluded, deleted or forgotten on demand
leaves every place Overlay keeps anything made of it.

    sync (indexer/) ──SyncReport.forgotten──▶ forget_after_sync      (the Face wires it)
    overlay forget PATH ──▶ Store.set_forgotten_on_demand ──▶ sync ──▶ the same
      1. a journal row (`forgetting.sqlite3`), committed before anything is touched:
         a process killed midway finishes the work at its next start (`resume`)
      2. its pairs, and the pairs made of log entries that cited it, become `forgotten`:
         their text goes, their ids and the note's path hash stay (the lineage)
      3. log entries citing it are scrubbed: answer, sources, reasoning and correction
         go; the question stays only when it does not quote the note
      4. runs trained on a forgotten pair become `tainted`: out of service at once (the
         newest clean adapter before it, or the base, answers), never servable again;
         their sample answer and any evaluation answer about the note are deleted
      5. the SQLite files are compacted, so deleted text survives in no free page
      6. the journal row is marked done and its path cleared (only the hash stays)

Un-marking a note as private brings it back through the ordinary sync; its pairs are
generated again by the next distill (a forgotten pair's text is never restored).
What no step can remove is what an adapter learned: only training again without the
note does that, which `train.auto` queues (`retrain_queued`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from distill.pairs import PairStore
from distill.runs import Run, RunRegistry
from indexer.store import CHROMA_DIR, DB_FILE, Store
from indexer.vectors import CHROMA_DB
from overlay.config import Settings
from overlay.core.conversations import ConversationLog
from overlay.errors import ConfigError
from overlay.sqlite import Database, Migration, vacuum
from vault_schema import SkippedFile, note_name, read_note
from vault_schema.vault_paths import RefusedPath

log = logging.getLogger("overlay.forgetting")

JOURNAL_FILE = "forgetting.sqlite3"
QUOTE_WORDS = 5  # this many words in a row, found in the note, make a quote

MIGRATIONS: list[Migration] = [
    (
        "0001_forgetting",
        """
        -- one row per note to forget, written before any of it is carried out
        CREATE TABLE forgotten_notes (
            path_hash TEXT PRIMARY KEY,    -- path_hash(path): what the lineage keeps
            path TEXT NOT NULL,            -- cleared ('') once the forgetting is done
            reason TEXT NOT NULL,          -- 'private', 'excluded', 'deleted', 'on demand'
            recorded REAL NOT NULL,
            done REAL,                     -- NULL: still to carry out (a crash midway)
            returned REAL                  -- the note came back (no longer private, ...)
        );
        -- retrains train.auto owes: a tainted adapter was taken out of service
        CREATE TABLE retrains (queued REAL NOT NULL, reason TEXT NOT NULL, started REAL);
        """,
    ),
]


def path_hash(path: str) -> str:
    """What a forgotten note's pairs and journal row keep of its path."""
    return "sha256:" + hashlib.sha256(path.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Forgotten:
    """What forgetting one note did."""

    path_hash: str
    reason: str
    pairs: int
    log_entries: int
    tainted_runs: list[str]
    taken_out_of_service: str | None  # the run that was serving, when it was tainted


class Journal:
    """The record of what is being and was forgotten, in the data dir."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._database = Database(path, MIGRATIONS, what="the forgetting journal")
        self._db = self._database.connection

    @classmethod
    def from_settings(cls, settings: Settings) -> Journal:
        return cls(settings.resolved_data_dir() / JOURNAL_FILE)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self._database.close()

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._database.transaction()

    def record(self, notes: Iterable[tuple[str, str]]) -> None:
        """Note these (path, reason) as to forget, before anything is carried out."""
        with self._transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO forgotten_notes VALUES (?, ?, ?, ?, NULL, NULL)",
                [(path_hash(path), path, reason, time.time()) for path, reason in notes],
            )

    def pending(self) -> list[tuple[str, str]]:
        """(path, reason) of each forgetting recorded but not finished."""
        rows = self._db.execute(
            "SELECT path, reason FROM forgotten_notes WHERE done IS NULL ORDER BY recorded"
        )
        return [(str(path), str(reason)) for path, reason in rows]

    def finish(self, path: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE forgotten_notes SET done = ?, path = '' WHERE path_hash = ?",
                (time.time(), path_hash(path)),
            )

    def returned(self, paths: Iterable[str]) -> int:
        """These notes are indexed again: they are no longer forgotten."""
        with self._transaction() as db:
            return sum(
                db.execute(
                    "UPDATE forgotten_notes SET returned = ? "
                    "WHERE path_hash = ? AND returned IS NULL AND done IS NOT NULL",
                    (time.time(), path_hash(path)),
                ).rowcount
                for path in paths
            )

    def forgotten(self) -> list[tuple[str, str, str]]:
        """(path hash, path or '' once done, reason) of every note forgotten and not back."""
        rows = self._db.execute(
            "SELECT path_hash, path, reason FROM forgotten_notes WHERE returned IS NULL"
        )
        return [(str(h), str(p), str(r)) for h, p, r in rows]

    def queue_retrain(self, reason: str) -> None:
        with self._transaction() as db:
            db.execute("INSERT INTO retrains VALUES (?, ?, NULL)", (time.time(), reason))

    def retrain_queued(self) -> bool:
        row = self._db.execute("SELECT 1 FROM retrains WHERE started IS NULL LIMIT 1")
        return row.fetchone() is not None

    def retrain_started(self) -> None:
        with self._transaction() as db:
            db.execute("UPDATE retrains SET started = ? WHERE started IS NULL", (time.time(),))


# ---- carrying it out ----


def forget_after_sync(
    settings: Settings, report: Any, purge: Callable[[], object]
) -> list[Forgotten]:
    """What the Face calls with each sync's report: forget what it dropped, and mark the
    notes it indexed again as returned. `purge` is the index store's `purge_deleted`."""
    with Journal.from_settings(settings) as journal:
        indexed = [*report.added, *report.changed, *(new for _, new in report.moved)]
        if indexed:
            journal.returned(indexed)
    return forget(settings, report.forgotten, purge)


class Syncable(Protocol):
    def sync(self, paths: Iterable[str] | None = None) -> Any: ...


@dataclass
class ForgettingSync:
    """A sync followed by the forgetting of what it dropped (the daemon's worker runs
    this); `on_service_change` hears when a tainted adapter was taken out of service."""

    settings: Settings
    inner: Syncable
    purge: Callable[[], object]  # the index store's `purge_deleted`
    on_service_change: Callable[[], object] = lambda: None

    def sync(self, paths: Iterable[str] | None = None) -> Any:
        report = self.inner.sync(paths)
        done = forget_after_sync(self.settings, report, self.purge)
        if any(item.taken_out_of_service for item in done):
            self.on_service_change()
        return report


def forget(
    settings: Settings, notes: Sequence[tuple[str, str]], purge: Callable[[], object]
) -> list[Forgotten]:
    """Forget these (vault path, reason) notes everywhere, and finish any forgetting a
    killed process left undone. Recorded first, so a crash midway is finished later.
    `purge` (the index store's `purge_deleted`) leaves no trace of them in its files."""
    with Journal.from_settings(settings) as journal:
        if notes:
            journal.record(notes)
        todo = journal.pending()
        if not todo:
            return []
        done = [_forget_one(settings, path, reason, journal) for path, reason in todo]
        purge()
        vacuum_other_stores(settings)
        for path, _ in todo:
            journal.finish(path)
    for item in done:
        log.info(
            "forgot %s (%s): %d pairs, %d log entries, tainted %s",
            item.path_hash, item.reason, item.pairs, item.log_entries,
            ", ".join(item.tainted_runs) or "no run",
        )  # fmt: skip
    return done


def resume(settings: Settings, purge: Callable[[], object]) -> list[Forgotten]:
    """Finish the forgetting a killed process left undone (call at start)."""
    if not (settings.resolved_data_dir() / JOURNAL_FILE).is_file():
        return []
    return forget(settings, [], purge)


def retrain_queued(settings: Settings) -> bool:
    """Whether a tainted adapter was taken out of service and nothing retrained since."""
    if not (settings.resolved_data_dir() / JOURNAL_FILE).is_file():
        return False
    with Journal.from_settings(settings) as journal:
        return journal.retrain_queued()


def retrain_started(settings: Settings) -> None:
    with Journal.from_settings(settings) as journal:
        journal.retrain_started()


def _forget_one(settings: Settings, path: str, reason: str, journal: Journal) -> Forgotten:
    hashed = path_hash(path)
    note_text = _note_text(settings, path, reason)
    entries = _scrub_log(settings, path, note_text)
    with PairStore.from_settings(settings) as store:
        pairs = store.forget_pairs(path, hashed, log_entries=entries)
        all_ids = store.forgotten_ids(hashed)
    tainted, out = _taint_runs(settings, all_ids, hashed)
    if out is not None and settings.train.auto:
        journal.queue_retrain(f"{out} trained on a forgotten note")
    return Forgotten(hashed, reason, pairs, len(entries), tainted, out)


def _note_text(settings: Settings, path: str, reason: str) -> str | None:
    """The note's text where it is still in the vault (None: deleted or unreadable)."""
    if reason == "deleted":
        return None
    try:
        return read_note(settings.require_vault(), path).body
    except SkippedFile:
        return None


def quotes(text: str, note_text: str | None) -> bool:
    """Whether `text` repeats the note: QUOTE_WORDS words in a row found in it (or all
    of a shorter text). Without the note's text nothing shows it does not: True."""
    if not text.strip():
        return False
    if note_text is None:
        return True
    words, source = _words(text), _words(note_text)
    size = min(QUOTE_WORDS, len(words))
    grams = {tuple(source[i : i + size]) for i in range(len(source) - size + 1)}
    return any(tuple(words[i : i + size]) in grams for i in range(len(words) - size + 1))


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())


def _scrub_log(settings: Settings, path: str, note_text: str | None) -> list[int]:
    """Scrub the log entries citing the note; returns their ids."""
    if not (settings.resolved_data_dir() / "conversations.sqlite3").is_file():
        return []
    with ConversationLog.from_settings(settings) as conversations:
        entries = conversations.citing(path)
        for entry in entries:
            conversations.scrub(
                entry.id,
                question="" if quotes(entry.question, note_text) else entry.question,
                searched="" if quotes(entry.searched, note_text) else entry.searched,
            )
    return [entry.id for entry in entries]


def _taint_runs(
    settings: Settings, pair_ids: set[str], hashed: str
) -> tuple[list[str], str | None]:
    """Flag the runs trained on any of `pair_ids`; take a tainted one out of service.
    Returns (the runs tainted now, the run taken out of service or None)."""
    from distill.evaluation import DETAILS_FILE  # its model stack loads only when needed

    data = settings.resolved_data_dir()
    if not (data / "runs.sqlite3").is_file() or not pair_ids:
        return [], None
    with RunRegistry.from_settings(settings) as registry:
        runs = registry.list()
        dirty = {run.id for run in runs if pair_ids & set(run.config.get("pair_ids", []))}
        out = _take_out_of_service(registry, dirty)
        tainted = []
        for run in runs:
            _drop_evaluation_answers(run, pair_ids)
            if run.id in dirty and run.status != "tainted":
                registry.update(run.id, status="tainted", metrics={"sample": None})
                registry.log_event(run.id, "tainted", note=hashed)
                tainted.append(run.id)
            if run.id in dirty:
                (run.folder / DETAILS_FILE).unlink(missing_ok=True)
    return tainted, out


def _take_out_of_service(registry: RunRegistry, dirty: set[str]) -> str | None:
    """Serve the newest clean adapter that served before (or the base) when the run in
    service is tainted; returns the run taken out."""
    from distill.promotion import has_adapter, service_stack

    current = registry.promoted()
    if current is None or current.id not in dirty:
        return None
    stack = service_stack(registry.promotion_history())[:-1]
    clean = [
        run for run in stack if run is None or (run not in dirty and has_adapter(registry.get(run)))
    ]
    target = clean[-1] if clean else None
    registry.set_promoted(target)
    registry.log_event(current.id, "taken out of service", reason="trained on a forgotten note")
    log.warning("%s trained on a forgotten note: %s answers now", current.id, target or "the base")
    return current.id


def _drop_evaluation_answers(run: Run, pair_ids: set[str]) -> None:
    """Remove the evaluation answers to held-out questions about forgotten notes."""
    from distill.evaluation import DETAILS_FILE

    details = run.folder / DETAILS_FILE
    if not details.is_file():
        return
    data = json.loads(details.read_text(encoding="utf-8"))
    answers = data.get("answers", [])
    kept = [row for row in answers if row.get("pair") not in pair_ids]
    if len(kept) != len(answers):
        data["answers"] = kept
        details.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")


def vacuum_other_stores(settings: Settings) -> None:
    """Vacuum every SQLite file of the data dir but the index store's own (which
    `Store.purge_deleted` looks after): pairs, the log, runs, this journal."""
    data_dir = settings.resolved_data_dir()
    theirs = {data_dir / DB_FILE, data_dir / CHROMA_DIR / CHROMA_DB}
    for path in sorted(set(data_dir.rglob("*.sqlite3")) - theirs):
        vacuum(path, what="the data dir's store")


def forget_on_demand(
    store: Store, vault: Path, paths: Sequence[str], *, undo: bool = False
) -> list[str]:
    """Mark notes forgotten on demand (with `undo`: no longer); the next sync of them then
    forgets them everywhere (or indexes them again). Returns them as vault-relative names;
    a path that is not a note of the vault is a ConfigError, and nothing is marked."""
    wanted = [_note_of_the_vault(vault, path) for path in paths]
    listed = store.forgotten_on_demand()
    store.set_forgotten_on_demand(listed - set(wanted) if undo else listed | set(wanted))
    return wanted


def _note_of_the_vault(vault: Path, path: str) -> str:
    try:
        return note_name(vault, path)
    except RefusedPath as refused:
        raise ConfigError(f"{path} is not a note of the vault: {refused.reason}") from refused
