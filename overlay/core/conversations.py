"""The conversation log: every answer Overlay gave, and what the person said of it.

One SQLite file, `conversations.sqlite3` in the data dir, with named migrations.
Each finished answer (from the CLI, the plugin or the OpenAI-compatible API) is
one entry: the question as asked and as searched for, the sources with their
retrieval scores, the answer and its reasoning, the model and adapter, the
latency and the tokens generated. An answer that was stopped before it finished
is not logged. `log.enabled = false` logs nothing.

Private notes never appear in it: they are never indexed, so retrieval cannot
find them, and an answer is checked again when it is logged, because a note may
have turned private since the last sync: an answer resting on a note that is
private now is not logged at all (its text may quote the note). The index decides
for a note whose file is as it was indexed (its mtime and size); only a file
changed since is read again.

A rating (`good` or `bad`) and a corrected answer are kept on the entry;
`distill.ratings` turns them into training pairs.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from overlay.config import Settings
from overlay.errors import ConfigError, LogEntryNotFound
from overlay.sqlite import Database, Migration
from vault_schema import SkippedFile, count_tokens, is_private, read_note

if TYPE_CHECKING:  # at run time only answers' fields are read: distilling imports no LLM stack
    from indexer.store import Store
    from overlay.core.chat import Answer, AnswerEvent

logger = logging.getLogger("overlay.conversations")

INTERFACES = ("cli", "plugin", "openai")
RATINGS = ("good", "bad")
SCRUBBED = "scrubbed: a source was forgotten"  # what a scrubbed entry says instead of its answer

MIGRATIONS: list[Migration] = [
    (
        "0001_answers",
        """
        -- one row per finished answer, newest with the highest id
        CREATE TABLE answers (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            asked REAL NOT NULL,           -- epoch seconds when the question came
            interface TEXT NOT NULL,       -- 'cli', 'plugin' or 'openai'
            question TEXT NOT NULL,        -- the last message, as asked
            searched TEXT NOT NULL,        -- the standalone question retrieval searched for
            sources TEXT NOT NULL,         -- JSON list of {n, note_path, heading_path, score, cited}
            answer TEXT NOT NULL,
            reasoning TEXT NOT NULL,       -- '' when the model showed none
            model TEXT NOT NULL,           -- the model's name
            adapter TEXT NOT NULL,         -- the served adapter's name; '' for the base model
            rag INTEGER NOT NULL,          -- 0: the bare model, without the notes
            abstained INTEGER NOT NULL,    -- 1: 'not in your notes', the model was not asked
            latency REAL NOT NULL,         -- seconds from the question to the whole answer
            tokens INTEGER NOT NULL,       -- generated (answer and reasoning)
            rating TEXT NOT NULL DEFAULT '',      -- '', 'good' or 'bad'
            correction TEXT NOT NULL DEFAULT '',  -- the answer the person wrote instead
            rated REAL                            -- epoch seconds of the last rating
        );
        CREATE INDEX answers_by_time ON answers(asked);
        CREATE INDEX answers_by_rating ON answers(rating) WHERE rating != '';
        """,
    ),
]

_COLUMNS = (
    "id, asked, interface, question, searched, sources, answer, reasoning, model, adapter, "
    "rag, abstained, latency, tokens, rating, correction, rated"
)


@dataclass(frozen=True)
class LogEntry:
    """One logged answer; `id` is what `overlay log rate ID` and the API name it by."""

    id: int
    asked: float
    interface: str
    question: str
    searched: str
    sources: list[dict[str, Any]]  # {n, note_path, heading_path, score, cited}
    answer: str
    reasoning: str
    model: str
    adapter: str
    rag: bool
    abstained: bool
    latency: float
    tokens: int
    rating: str = ""
    correction: str = ""
    rated: float | None = None

    @property
    def served_by(self) -> str:
        """The adapter's name, or the model's when the base model answered."""
        return self.adapter or self.model

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LogFilter:
    """Which entries a listing shows; unset fields match everything."""

    since: float | None = None  # epoch seconds
    rating: str | None = None  # 'good', 'bad', 'unrated' or 'corrected'
    model: str | None = None  # a part of the model's or the adapter's name
    search: str | None = None  # a part of the question or the answer
    interface: str | None = None
    limit: int | None = 20


class ConversationLog:
    """The log of one data dir; one connection shared by the server's threads."""

    def __init__(self, path: Path) -> None:
        self._database = Database(path, MIGRATIONS, what="the conversation log")
        self._db = self._database.connection
        self._lock = self._database.lock  # one connection, shared by the server's threads
        self.path = path

    @classmethod
    def from_settings(cls, settings: Settings) -> ConversationLog:
        return cls(settings.resolved_data_dir() / "conversations.sqlite3")

    def close(self) -> None:
        self._database.close()

    def __enter__(self) -> ConversationLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._database.transaction()

    def record(self, entry: LogEntry) -> int:
        """Store a new entry (its `id` is ignored); returns the id it got."""
        row = _row(entry)[1:]
        with self._transaction() as db:
            cursor = db.execute(
                f"INSERT INTO answers ({_COLUMNS.removeprefix('id, ')}) "
                f"VALUES ({', '.join('?' * len(row))})",
                row,
            )
            assert cursor.lastrowid is not None
            return cursor.lastrowid

    def rate(self, entry_id: int, rating: str, correction: str | None = None) -> LogEntry:
        """Rate an entry `good` or `bad`; a `correction` replaces the one it had
        (None keeps it, '' removes it)."""
        if rating not in RATINGS:
            raise ConfigError(f"a rating is one of {', '.join(RATINGS)}, not {rating!r}")
        with self._transaction() as db:
            self._require(db, entry_id)
            db.execute(
                "UPDATE answers SET rating = ?, correction = coalesce(?, correction), rated = ? "
                "WHERE id = ?",
                (
                    rating,
                    _storable(correction.strip()) if correction is not None else None,
                    time.time(),
                    entry_id,
                ),
            )
        return self.get(entry_id)

    def get(self, entry_id: int) -> LogEntry:
        with self._lock:
            return _entry(self._require(self._db, entry_id))

    def list(self, where: LogFilter = LogFilter()) -> list[LogEntry]:
        """Entries matching `where`, newest first."""
        sql, params = _where(where)
        limit = "" if where.limit is None else f" LIMIT {int(where.limit)}"
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM answers{sql} ORDER BY id DESC{limit}", params
            ).fetchall()
        return [_entry(row) for row in rows]

    def citing(self, note_path: str) -> builtins.list[LogEntry]:
        """Every entry with `note_path` among its sources."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM answers WHERE instr(sources, ?) > 0 ORDER BY id",
                (json.dumps(note_path, ensure_ascii=False),),
            ).fetchall()
        entries = [_entry(row) for row in rows]
        return [e for e in entries if any(s.get("note_path") == note_path for s in e.sources)]

    def scrub(self, entry_id: int, *, question: str, searched: str) -> None:
        """A source of the entry was forgotten: keep only `question` and `searched` ('' to
        drop them); its answer, sources, reasoning and correction go."""
        with self._transaction() as db:
            db.execute(
                "UPDATE answers SET question = ?, searched = ?, sources = '[]', answer = ?, "
                "reasoning = '', correction = '' WHERE id = ?",
                (question, searched, SCRUBBED, entry_id),
            )

    def _require(self, db: sqlite3.Connection, entry_id: int) -> tuple[Any, ...]:
        row = db.execute(f"SELECT {_COLUMNS} FROM answers WHERE id = ?", (entry_id,)).fetchone()
        if row is None:
            raise LogEntryNotFound(f"no answer with id {entry_id} in the conversation log")
        return tuple(row)


def _row(entry: LogEntry) -> tuple[Any, ...]:
    values = [getattr(entry, name) for name in _COLUMNS.split(", ")]
    values[5] = json.dumps(entry.sources, ensure_ascii=False)
    values[10], values[11] = int(entry.rag), int(entry.abstained)
    return tuple(_storable(value) for value in values)


def _storable(value: Any) -> Any:
    """Text SQLite can store: a lone surrogate (possible in a JSON request) becomes '?'."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    return value


def _entry(row: Sequence[Any]) -> LogEntry:
    values = list(row)
    values[5] = json.loads(values[5])
    values[10], values[11] = bool(values[10]), bool(values[11])
    return LogEntry(*values)


def _where(where: LogFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if where.since is not None:
        clauses.append("asked >= ?")
        params.append(where.since)
    if where.rating in RATINGS:
        clauses.append("rating = ?")
        params.append(where.rating)
    elif where.rating == "unrated":
        clauses.append("rating = ''")
    elif where.rating == "corrected":
        clauses.append("correction != ''")
    elif where.rating is not None:
        raise ConfigError(f"--rating is one of good, bad, unrated, corrected; not {where.rating!r}")
    if where.model:
        clauses.append("(instr(lower(model), ?) > 0 OR instr(lower(adapter), ?) > 0)")
        params.extend([where.model.lower()] * 2)
    if where.search:
        clauses.append("(instr(lower(question), ?) > 0 OR instr(lower(answer), ?) > 0)")
        params.extend([where.search.lower()] * 2)
    if where.interface:
        clauses.append("interface = ?")
        params.append(where.interface)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


# ---- recording answers as they are given ----


@dataclass
class Recording:
    """What a log entry needs besides the answer itself; `stream` logs the answer
    when it is done and gives the `done` event the entry's id (`Answer.log_id`)."""

    log: ConversationLog
    vault: Path
    private_tags: Sequence[str]
    interface: str
    question: str
    adapter: str  # '' for the base model
    rag: bool
    llm: Any = None  # what answered, whose tokenizer counts the tokens
    store: Store | None = None  # the index, which knows which notes were private when read

    def stream(self, events: Iterator[AnswerEvent]) -> Iterator[AnswerEvent]:
        asked, started = time.time(), time.monotonic()
        for event in events:
            if event.kind == "done":
                latency = time.monotonic() - started
                event = replace(event, data=self.logged(event.data, asked, latency))
            yield event

    def logged(self, answer: Answer, asked: float, latency: float) -> Answer:
        """The answer with the id of its new log entry (none for one that rests on a
        note that is private now)."""
        if any(self.is_private(c.note_path) for c in answer.citations):
            return answer
        entry = LogEntry(
            id=0,
            asked=asked,
            interface=self.interface,
            question=self.question,
            searched=answer.question,
            sources=[_source(c) for c in answer.citations],
            answer=answer.text,
            reasoning=answer.reasoning,
            model=answer.model,
            adapter=self.adapter,
            rag=self.rag,
            abstained=answer.abstained,
            latency=round(latency, 3),
            tokens=0 if answer.abstained else self.tokens(answer),
        )
        try:
            return replace(answer, log_id=self.log.record(entry))
        except sqlite3.Error as error:  # the answer matters more than its log entry
            logger.warning("the answer could not be logged: %s", error)
            return answer

    def tokens(self, answer: Answer) -> int:
        """The answer's tokens as Chat counted them, and its reasoning's: the tokenizer is
        asked only when the model reasoned, so an extractive answer never loads a model
        just to be counted."""
        thought = generated_tokens(self.llm, answer.reasoning) if answer.reasoning else 0
        return answer.completion_tokens + thought

    def is_private(self, note_path: str) -> bool:
        """Whether the note is private now. A note indexed from the file as it is now was
        not (private notes are never indexed), so only a file changed since its sync, or
        one the index does not hold, is read again."""
        if self.store is not None and (indexed := self.store.note(note_path)) is not None:
            with contextlib.suppress(OSError):
                stat = (self.vault / note_path).stat()
                if (stat.st_mtime, stat.st_size) == (indexed.mtime, indexed.size):
                    return False
        try:
            return is_private(read_note(self.vault, note_path), self.private_tags)
        except SkippedFile:
            return True  # gone or unreadable: nothing shows it is safe to keep


def _source(citation: Any) -> dict[str, Any]:
    return {
        "n": citation.n,
        "note_path": citation.note_path,
        "heading_path": list(citation.heading_path),
        "score": round(float(citation.score), 4),
        "cited": citation.cited,
    }


def generated_tokens(llm: Any, text: str) -> int:
    """`text` counted in the model's tokens where this process runs it (transformers,
    vLLM in-process), else estimated (`vault_schema.count_tokens`)."""
    tokenizer = None
    if callable(loaded := getattr(llm, "loaded", None)):
        tokenizer = loaded()[1]
    elif callable(engine := getattr(llm, "engine", None)):
        tokenizer = engine().get_tokenizer()
    if tokenizer is None:
        return count_tokens(text)
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])
