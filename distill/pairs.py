"""The pair store: every training pair with its provenance, review status and history.

One SQLite file, `pairs.sqlite3` in the data dir. A pair's id derives from the
text it was made from (note, source kind, messages), so distilling the same text
again adds nothing. Every write is one transaction: a killed run loses nothing
it had written and the next run picks up where it stopped. What was distilled is
recorded per note and source (`distilled_hashes`), so a run of one source never
counts as a run of another.

Held-out questions, for evaluation: per fact and language the facts source holds
back `distill.held_out_per_fact` paraphrased questions (`Pair.held_out`); export
never writes them, so a model never trains on them. An evaluator lists them with
`PairStore.held_out(language)`: each pair's user message is the question, its
assistant message the reference answer (in the question's language), and `fact`
the id its fact's other pairs share, training ones included:
`store.list(PairFilter(fact=pair.fact, held_out=False))` are what was trained on.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
import time
from collections.abc import Collection, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from distill.pair_migrations import MIGRATIONS
from distill.pair_records import (
    GONE,
    STATUSES,
    Message,
    Pair,
    validate_messages,
)
from overlay.config import Settings
from overlay.errors import ConfigError, PairNotFound
from overlay.sqlite import Database


@dataclass(frozen=True)
class PairFilter:
    """Which pairs a listing or a bulk action means; unset fields match everything."""

    ids: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    note: str | None = None  # a note path or a folder prefix
    source: tuple[str, ...] = ()
    language: tuple[str, ...] = ()
    min_score: float | None = None  # the pair's lowest judge score; unscored pairs fail
    held_out: bool | None = None
    fact: str | None = None  # the id one fact's pairs share

    def is_empty(self) -> bool:
        return self == PairFilter()

    def for_bulk(self) -> PairFilter:
        """The pairs a bulk action by filter means: without ids or a status, every
        status but `stale` (stale pairs belong to text that has changed since)."""
        if self.ids or self.status:
            return self
        return replace(self, status=tuple(status for status in STATUSES if status not in GONE))


@dataclass(frozen=True)
class NoteUpdate:
    """What `replace_note` did to one note's pairs."""

    added: list[str]
    revived: list[str]
    staled: int


@dataclass(frozen=True)
class Edit:
    edited: float
    editor: str
    old_messages: list[Message]
    new_messages: list[Message]


_COLUMNS = (
    "id, messages, note_path, heading, content_hash, source, generator, prompt_version, "
    "language, status, held_out, fact, scores, note_date, created, updated, log_entry"
)


class PairStore:
    """The pairs of one data dir. Use as a context manager, or call `close()`."""

    def __init__(self, path: Path) -> None:
        self._database = Database(path, MIGRATIONS, what="the pair store")
        self._db = self._database.connection
        self.path = path

    @classmethod
    def from_settings(cls, settings: Settings) -> PairStore:
        return cls(settings.resolved_data_dir() / "pairs.sqlite3")

    def close(self) -> None:
        self._database.close()

    def __enter__(self) -> PairStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._database.transaction()

    # ---- writing ----

    def add(self, pairs: Iterable[Pair]) -> list[str]:
        """Store new pairs; returns the ids that were new (or stale and now revived)."""
        with self._transaction() as db:
            return [pair.id for pair in pairs if self._insert(db, pair)]

    def replace_note(
        self,
        note_path: str,
        content_hash: str,
        pairs: Sequence[Pair],
        sources: Collection[str],
    ) -> NoteUpdate:
        """Make `pairs` the note's current pairs of `sources` (the kinds this run made)
        and record the note as distilled by each of them.

        Its other pairs of those kinds were made from text that is gone: they become
        `stale`, never deleted; pairs of other kinds stay as they are. All of it is one
        transaction.
        """
        with self._transaction() as db:
            staled = self._stale(db, note_path, {pair.id for pair in pairs}, sources)
            added, revived = [], []
            for pair in pairs:
                outcome = self._insert(db, pair)
                if outcome == "added":
                    added.append(pair.id)
                elif outcome == "revived":
                    revived.append(pair.id)
            db.executemany(
                "INSERT OR REPLACE INTO distilled_sources VALUES (?, ?, ?, ?)",
                [(note_path, source, content_hash, time.time()) for source in sources],
            )
        return NoteUpdate(added, revived, staled)

    def mark_stale(self, note_path: str, keep: Collection[str] = ()) -> int:
        """Mark the note's pairs stale, except the ids in `keep`; returns how many."""
        with self._transaction() as db:
            return self._stale(db, note_path, keep)

    def forget_note(self, note_path: str) -> int:
        """The note is gone or private: its pairs become stale, its record goes."""
        with self._transaction() as db:
            db.execute("DELETE FROM distilled_sources WHERE path = ?", (note_path,))
            return self._stale(db, note_path, ())

    def set_status(self, ids: Iterable[str], status: str) -> int:
        """Give these pairs `status`; returns how many changed."""
        if status not in STATUSES:
            raise ConfigError(f"unknown status {status!r}; one of {', '.join(STATUSES)}")
        with self._transaction() as db:
            changed = 0
            for pair in ids:
                cursor = db.execute(
                    "UPDATE pairs SET status = ?, updated = ? WHERE id = ? AND status != ?",
                    (status, time.time(), pair, status),
                )
                changed += cursor.rowcount
            return changed

    def edit(self, pair: str, messages: Sequence[Message], editor: str) -> Pair:
        """Replace a pair's messages, keep the old ones in its history; status `edited`."""
        new = validate_messages(messages)
        old = self.get(pair)
        now = time.time()
        with self._transaction() as db:
            db.execute(
                "INSERT INTO pair_edits VALUES (?, ?, ?, ?, ?)",
                (old.id, now, editor, _dump(old.messages), _dump(new)),
            )
            db.execute(
                "UPDATE pairs SET messages = ?, status = 'edited', updated = ? WHERE id = ?",
                (_dump(new), now, old.id),
            )
        return self.get(old.id)

    def forget_pairs(self, note_path: str, hashed: str, log_entries: Collection[int] = ()) -> int:
        """The note's pairs, and those made of these log entries, become `forgotten`:
        their text and edits are deleted, their ids stay, `note_path` becomes `hashed`
        (`distill.forgetting.path_hash`). Returns how many were forgotten now."""
        marks = ", ".join("?" * len(log_entries))
        by_entry = f" OR log_entry IN ({marks})" if log_entries else ""
        with self._transaction() as db:
            ids = [
                row[0]
                for row in db.execute(
                    f"SELECT id FROM pairs WHERE note_path = ?{by_entry}",
                    (note_path, *log_entries),
                )
            ]
            db.executemany("DELETE FROM pair_edits WHERE pair_id = ?", [(i,) for i in ids])
            db.executemany(
                "UPDATE pairs SET status = 'forgotten', messages = '[]', heading = '', "
                "note_path = ?, scores = '{}', note_date = NULL, updated = ? WHERE id = ?",
                [(hashed, time.time(), i) for i in ids],
            )
            db.execute("DELETE FROM distilled_sources WHERE path = ?", (note_path,))
            return len(ids)

    def forgotten_ids(self, hashed: str) -> set[str]:
        """The ids of the pairs forgotten with the note whose path hash is `hashed`."""
        rows = self._db.execute(
            "SELECT id FROM pairs WHERE note_path = ? AND status = 'forgotten'", (hashed,)
        )
        return {row[0] for row in rows}

    # ---- reading ----

    def get(self, pair: str) -> Pair:
        """The pair with this id (a unique prefix of it will do)."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM pairs WHERE id LIKE ? LIMIT 2", (_escape(pair) + "%",)
        ).fetchall()
        if not rows:
            raise PairNotFound(f"no pair with id {pair!r}")
        if len(rows) > 1:
            raise ConfigError(f"more than one pair with id {pair!r}; give more of it")
        return _pair(rows[0])

    def list(self, where: PairFilter = PairFilter(), limit: int | None = None) -> list[Pair]:
        """Pairs matching `where`, by note and creation order."""
        sql, params = _where(where)
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM pairs{sql} ORDER BY note_path, created, id", params
        )
        found = [_pair(row) for row in rows]
        if where.min_score is not None:
            least = where.min_score
            found = [p for p in found if p.scores and min(p.scores.values()) >= least]
        return found[:limit] if limit is not None else found

    def history(self, pair: str) -> builtins.list[Edit]:
        rows = self._db.execute(
            "SELECT edited, editor, old_messages, new_messages FROM pair_edits "
            "WHERE pair_id = ? ORDER BY edited, rowid",
            (pair,),
        )
        return [Edit(r[0], r[1], json.loads(r[2]), json.loads(r[3])) for r in rows]

    def distilled_hashes(self, note_path: str) -> dict[str, str]:
        """Source -> the content hash the note had when that source last distilled it."""
        rows = self._db.execute(
            "SELECT source, content_hash FROM distilled_sources WHERE path = ?", (note_path,)
        )
        return dict(rows.fetchall())

    def distilled_paths(self) -> set[str]:
        """Every note distilled so far by any source (and not forgotten since)."""
        return {row[0] for row in self._db.execute("SELECT DISTINCT path FROM distilled_sources")}

    def held_out(self, language: str | None = None) -> builtins.list[Pair]:
        """The held-out questions an evaluation asks, with their reference answers.

        Those of `language` ('ru', 'en') only, when given; never stale or rejected
        ones (their text is gone, or the judge or review found the answer wrong).
        Each pair's `fact` matches the training pairs of the same fact.
        """
        where = PairFilter(
            status=tuple(s for s in STATUSES if s not in (*GONE, "rejected")),
            language=(language,) if language else (),
            held_out=True,
        )
        return self.list(where)

    def counts(self) -> dict[str, dict[str, int]]:
        """How many pairs there are by status, and the live (not stale) ones by source
        and by language."""
        return {
            key: dict(self._db.execute(sql).fetchall())
            for key, sql in (
                ("status", "SELECT status, count(*) FROM pairs GROUP BY status"),
                ("source", _LIVE_COUNT.format("source")),
                ("language", _LIVE_COUNT.format("language")),
            )
        }

    # ---- inside transactions ----

    def _insert(self, db: sqlite3.Connection, pair: Pair) -> str | None:
        row = db.execute("SELECT status FROM pairs WHERE id = ?", (pair.id,)).fetchone()
        now = time.time()
        if row is None:
            stored = replace(pair, created=pair.created or now, updated=now)
            db.execute(f"INSERT INTO pairs ({_COLUMNS}) VALUES ({_MARKS})", _row(stored))
            return "added"
        if row[0] == "forgotten":  # made again from a note that came back: a new pair
            db.execute("DELETE FROM pairs WHERE id = ?", (pair.id,))
            return self._insert(db, pair)
        revive = row[0] == "stale"  # its text is back: the status a new pair would get
        db.execute(
            "UPDATE pairs SET content_hash = ?, status = ?, updated = ? WHERE id = ?",
            (pair.content_hash, pair.status if revive else row[0], now, pair.id),
        )
        return "revived" if revive else None

    def _stale(
        self,
        db: sqlite3.Connection,
        note_path: str,
        keep: Collection[str],
        sources: Collection[str] | None = None,
    ) -> int:
        ids = [
            row[0]
            for row in db.execute(
                "SELECT id, source FROM pairs WHERE note_path = ? "
                "AND status NOT IN ('stale', 'forgotten')",
                (note_path,),
            )
            if row[0] not in keep and (sources is None or row[1] in sources)
        ]
        now = time.time()
        db.executemany(
            "UPDATE pairs SET status = 'stale', updated = ? WHERE id = ?", [(now, i) for i in ids]
        )
        return len(ids)


_MARKS = ", ".join("?" * len(_COLUMNS.split(", ")))
_LIVE_COUNT = (
    "SELECT {0}, count(*) FROM pairs WHERE status NOT IN ('stale', 'forgotten') GROUP BY {0}"
)


def _dump(messages: Sequence[Message]) -> str:
    return json.dumps(list(messages), ensure_ascii=False)


def _escape(prefix: str) -> str:
    return prefix.replace("%", "").replace("_", "")


def _row(pair: Pair) -> tuple[Any, ...]:
    return (
        pair.id,
        _dump(pair.messages),
        pair.note_path,
        pair.heading,
        pair.content_hash,
        pair.source,
        pair.generator,
        pair.prompt_version,
        pair.language,
        pair.status,
        int(pair.held_out),
        pair.fact,
        json.dumps(pair.scores),
        pair.note_date.isoformat() if pair.note_date else None,
        pair.created,
        pair.updated,
        pair.log_entry,
    )


def _pair(row: Sequence[Any]) -> Pair:
    values = list(row)
    values[1] = json.loads(values[1])
    values[10] = bool(values[10])
    values[12] = json.loads(values[12])
    values[13] = datetime.fromisoformat(values[13]) if values[13] else None
    return Pair(*values)


def _where(where: PairFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for column, values in (
        ("id", where.ids),
        ("status", where.status),
        ("source", where.source),
        ("language", where.language),
    ):
        if values:
            clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
            params.extend(values)
    if where.note:
        prefix = where.note.rstrip("/")
        clauses.append("(note_path = ? OR substr(note_path, 1, ?) = ?)")
        params.extend([prefix, len(prefix) + 1, prefix + "/"])
    if where.held_out is not None:
        clauses.append("held_out = ?")
        params.append(int(where.held_out))
    if where.fact is not None:
        clauses.append("fact = ?")
        params.append(where.fact)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params
