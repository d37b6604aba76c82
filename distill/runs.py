"""The run registry: every training run with its parent, data, config, metrics and log.

One SQLite file, `runs.sqlite3` in the data dir, and one folder per run under
`runs/<id>/` (`config.json`, `log.jsonl`, `adapter/`, `loss.png`). The runs form a
tree through `parent`; the promotion history says which run answered when (None:
the base model). SQLite is the source of truth; `log.jsonl` mirrors each event so a
run folder copied elsewhere still tells its story.
"""

from __future__ import annotations

import builtins
import json
import secrets
import sqlite3
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from overlay.config import Settings
from overlay.errors import ConfigError, RunNotFound
from overlay.sqlite import Database, Migration

__all__ = ["RUN_STATUSES", "Run", "RunNotFound", "RunRegistry"]

TRAINING_LOCK = "training.lock"  # in the runs folder, held by the process that trains
KILLED = "killed: the process training it ended before the run finished"

RUN_STATUSES = (
    "training", "trained", "failed", "evaluated", "promoted", "rejected", "retired",
    "tainted",  # trained on a pair of a note forgotten since: never served again
)  # fmt: skip

MIGRATIONS: list[Migration] = [
    (
        "0001_runs",
        """
        -- one row per training run; `parent` makes the runs a tree
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,           -- 'r0007-3fa2c1': sequence number, then random
            seq INTEGER NOT NULL UNIQUE,
            parent TEXT REFERENCES runs(id),
            created TEXT NOT NULL,         -- ISO datetime, UTC
            data_hash TEXT NOT NULL,       -- sha256 of the training pairs' ids and messages
            config TEXT NOT NULL,          -- JSON object
            metrics TEXT NOT NULL,         -- JSON object, merged by each update
            fitness REAL,
            status TEXT NOT NULL
        );
        -- what happened during a run, recoveries included, oldest first
        CREATE TABLE run_events (
            run_id TEXT NOT NULL REFERENCES runs(id),
            time TEXT NOT NULL,
            event TEXT NOT NULL,
            fields TEXT NOT NULL           -- JSON object
        );
        CREATE INDEX run_events_by_run ON run_events(run_id);
        -- each change of the run in service; run NULL: the base model
        CREATE TABLE promotions (
            time TEXT NOT NULL,
            run TEXT REFERENCES runs(id),
            previous TEXT REFERENCES runs(id)
        );
        """,
    ),
]


@dataclass(frozen=True)
class Run:
    """One training run as recorded."""

    id: str
    parent: str | None
    created: datetime
    data_hash: str
    config: dict[str, Any]
    metrics: dict[str, Any]
    fitness: float | None
    status: str
    folder: Path
    log: list[dict[str, Any]]

    @property
    def adapter(self) -> Path:
        """The peft adapter folder (exists once the run is trained)."""
        return self.folder / "adapter"

    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data.update(created=self.created.isoformat(), folder=str(self.folder))
        return data


_COLUMNS = "id, parent, created, data_hash, config, metrics, fitness, status"


class RunRegistry:
    """The runs of one data dir. Use as a context manager, or call `close()`."""

    def __init__(self, path: Path, runs_dir: Path) -> None:
        self._database = Database(path, MIGRATIONS, what="the run registry")
        self._db = self._database.connection
        self._lock = self._database.lock  # one connection, shared by the server's threads
        self.path = path
        self.runs_dir = runs_dir

    @classmethod
    def from_settings(cls, settings: Settings) -> RunRegistry:
        data = settings.resolved_data_dir()
        return cls(data / "runs.sqlite3", data / "runs")

    def close(self) -> None:
        self._database.close()

    def __enter__(self) -> RunRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._database.transaction()

    # ---- writing ----

    def create(self, *, parent: str | None, data_hash: str, config: dict[str, Any]) -> Run:
        """A new run in status `training`, with its folder and `config.json`."""
        with self._transaction() as db:
            if parent is not None:
                parent = self._full_id(parent)
            seq = db.execute("SELECT coalesce(max(seq), 0) + 1 FROM runs").fetchone()[0]
            run_id = f"r{seq:04d}-{secrets.token_hex(3)}"
            created = _now()
            db.execute(
                f"INSERT INTO runs (seq, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, '{{}}', NULL, ?)",
                (seq, run_id, parent, created, data_hash, _dump(config), "training"),
            )
        folder = self.runs_dir / run_id
        folder.mkdir(parents=True, exist_ok=True)
        record = {"id": run_id, "parent": parent, "created": created, "data_hash": data_hash}
        (folder / "config.json").write_text(
            json.dumps({**record, "config": config}, ensure_ascii=False, indent=2, default=str),
            encoding="utf-8",
        )
        return self.get(run_id)

    def update(
        self,
        run_id: str,
        *,
        status: str | None = None,
        metrics: dict[str, Any] | None = None,
        fitness: float | None = None,
    ) -> Run:
        """Change a run's status, merge `metrics` into its metrics, set its fitness."""
        if status is not None and status not in RUN_STATUSES:
            raise ConfigError(f"unknown run status {status!r}; one of {', '.join(RUN_STATUSES)}")
        with self._transaction() as db:
            run_id = self._full_id(run_id)
            (old,) = db.execute("SELECT metrics FROM runs WHERE id = ?", (run_id,)).fetchone()
            merged = {**json.loads(old), **(metrics or {})}
            db.execute(
                "UPDATE runs SET status = coalesce(?, status), metrics = ?, "
                "fitness = coalesce(?, fitness) WHERE id = ?",
                (status, _dump(merged), fitness, run_id),
            )
        return self.get(run_id)

    def log_event(self, run_id: str, event: str, **fields: Any) -> None:
        """Record an event of the run, in the registry and in its `log.jsonl`."""
        time = _now()
        with self._transaction() as db:
            run_id = self._full_id(run_id)
            db.execute(
                "INSERT INTO run_events VALUES (?, ?, ?, ?)", (run_id, time, event, _dump(fields))
            )
        folder = self.runs_dir / run_id
        folder.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"time": time, "event": event, **fields}, ensure_ascii=False, default=str)
        with (folder / "log.jsonl").open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def set_promoted(self, run_id: str | None) -> None:
        """Put `run_id` in service (None: the base model); the one it replaces is retired."""
        with self._transaction() as db:
            run_id = self._full_id(run_id) if run_id is not None else None
            previous = self._promoted_id(db)
            if previous == run_id:
                return
            if previous is not None:
                db.execute("UPDATE runs SET status = 'retired' WHERE id = ?", (previous,))
            if run_id is not None:
                db.execute("UPDATE runs SET status = 'promoted' WHERE id = ?", (run_id,))
            db.execute("INSERT INTO promotions VALUES (?, ?, ?)", (_now(), run_id, previous))

    # ---- reading ----

    def get(self, run_id: str) -> Run:
        """The run with this id (a unique prefix of it will do)."""
        with self._lock:
            full = self._full_id(run_id)
            row = self._db.execute(f"SELECT {_COLUMNS} FROM runs WHERE id = ?", (full,)).fetchone()
            events = self._db.execute(
                "SELECT time, event, fields FROM run_events WHERE run_id = ? ORDER BY rowid",
                (full,),
            ).fetchall()
        log = [{"time": t, "event": e, **json.loads(f)} for t, e, f in events]
        return self._run(row, log)

    def list(self) -> list[Run]:
        """All runs, oldest first (their logs are left out: `get` one for its log)."""
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM runs ORDER BY seq").fetchall()
        return [self._run(row, []) for row in rows]

    def promoted(self) -> Run | None:
        """The run in service, or None when the base model answers."""
        with self._lock:
            run_id = self._promoted_id(self._db)
        return self.get(run_id) if run_id is not None else None

    def promotion_history(self) -> builtins.list[tuple[datetime, str | None, str | None]]:
        """(time, run put in service, run it replaced), oldest first; None: the base model."""
        with self._lock:
            rows = self._db.execute(
                "SELECT time, run, previous FROM promotions ORDER BY rowid"
            ).fetchall()
        return [(datetime.fromisoformat(t), run, previous) for t, run, previous in rows]

    # ---- helpers ----

    def _full_id(self, run_id: str) -> str:
        prefix = run_id.strip().replace("%", "").replace("_", "")
        rows = self._db.execute(
            "SELECT id FROM runs WHERE id LIKE ? LIMIT 2", (prefix + "%",)
        ).fetchall()
        if not prefix:
            raise RunNotFound("no run id given")
        if len(rows) != 1:
            problem = "no run" if not rows else "more than one run"
            raise RunNotFound(f"{problem} with id {run_id!r}")
        return str(rows[0][0])

    @staticmethod
    def _promoted_id(db: sqlite3.Connection) -> str | None:
        row = db.execute("SELECT run FROM promotions ORDER BY rowid DESC LIMIT 1").fetchone()
        return row[0] if row else None

    def _run(self, row: tuple[Any, ...], log: builtins.list[dict[str, Any]]) -> Run:
        run_id, parent, created, data_hash, config, metrics, fitness, status = row
        return Run(
            id=run_id,
            parent=parent,
            created=datetime.fromisoformat(created),
            data_hash=data_hash,
            config=json.loads(config),
            metrics=json.loads(metrics),
            fitness=fitness,
            status=status,
            folder=self.runs_dir / run_id,
            log=log,
        )


def training_lock(registry: RunRegistry) -> FileLock:
    """Held by the one process that trains in this data dir (flock: freed when it dies)."""
    registry.runs_dir.mkdir(parents=True, exist_ok=True)
    return FileLock(str(registry.runs_dir / TRAINING_LOCK))


def settle_abandoned_runs(registry: RunRegistry) -> list[Run]:
    """When no process trains, runs still `training` were abandoned (kill -9, a power
    cut): marked `failed`, saying so; returns them. Nothing, while one trains."""
    lock = training_lock(registry)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return []
    try:
        return mark_abandoned(registry)
    finally:
        lock.release()


def mark_abandoned(registry: RunRegistry) -> list[Run]:
    """Every run still `training` marked `failed` as killed: call with the training lock."""
    settled = []
    for run in registry.list():
        if run.status == "training":
            registry.log_event(run.id, "failed", reason=KILLED, error="Killed")
            settled.append(registry.update(run.id, status="failed", metrics={"error": KILLED}))
    return settled


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _dump(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
