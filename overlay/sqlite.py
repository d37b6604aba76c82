"""The one way Overlay opens SQLite: WAL, a busy timeout, migrations, `BEGIN IMMEDIATE`.

Every database (the index, the pair store, the run registry, the conversation log)
declares its schema as named, append-only migrations, `(version_name, SQL script)`,
named `0001_…`, `0002_…`: never edit or reorder one that has shipped, add a new one
at the end. Each runs once, in its own transaction, and is recorded in `_migrations`
by name, so a killed migration leaves the old schema and runs again next time.

Connections are in autocommit mode, so a reader always sees what another process
committed; every write goes through `transaction`, which takes the write lock at
once (`BEGIN IMMEDIATE`: two writers wait on each other instead of deadlocking on an
upgrade) and commits all or nothing, which is what makes a killed process lose no
acknowledged write.

Damage is noticed at open: a file that changed since its last clean close (a stamp of
its size and mtime beside it, `<file>.clean.json`) gets a `PRAGMA quick_check` first,
so a normal open costs one `stat`, and a crash, a bad disk block or a foreign write is
found before use and named, never met as a traceback halfway through a command.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from overlay.errors import StoreError

Migration = tuple[str, str]  # (version_name, SQL script); never edit one that shipped
BUSY_TIMEOUT_S = 30.0  # how long a write waits for another process's transaction
log = logging.getLogger("overlay.sqlite")
REPAIR_HINT = "restore it from a backup, or move it aside and Overlay starts it anew (empty)"


def connect(
    path: Path, *, what: str, foreign_keys: bool = False, durable: bool = True, wal: bool = True
) -> sqlite3.Connection:
    """An autocommit WAL connection to `path` that any thread may use; `what` names the
    database in the error a broken file gives. Every mode survives a killed process;
    `durable=False` (a database rebuilt from the vault) may lose the last commits to a
    power cut, for faster writes. `wal=False` leaves the file's journal mode as it is
    (another program's database, such as Chroma's)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        connection = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        if wal:
            connection.execute("PRAGMA journal_mode=WAL")
        if not durable:
            connection.execute("PRAGMA synchronous=NORMAL")
        if foreign_keys:
            connection.execute("PRAGMA foreign_keys=ON")
    except sqlite3.DatabaseError as error:
        raise StoreError(f"cannot open {what} {path}: {error}") from error
    return connection


def vacuum(path: Path, *, what: str, wal: bool = True) -> bool:
    """Rewrite the database without free pages and with an empty write-ahead log, so
    deleted rows leave nothing behind in the file. A busy database is left as it is
    (False, logged): the next vacuum tries again."""
    connection = connect(path, what=what, wal=wal)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("VACUUM")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error as error:
        log.warning("could not vacuum %s %s: %s", what, path.name, error)
        return False
    finally:
        connection.close()
    return True


def clean_stamp(db: Path) -> Path:
    """Where the size and mtime of `db` after its last clean close are kept."""
    return db.with_name(f"{db.name}.clean.json")


def _stamp_of(db: Path) -> dict[str, int]:
    stat = db.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def mark_clean(db: Path) -> None:
    """Remember the database as it is after a clean close."""
    if db.is_file():
        clean_stamp(db).write_text(json.dumps(_stamp_of(db)), encoding="utf-8")


def forget_clean(db: Path) -> None:
    """A store is open: until it closes cleanly, the next open checks the file."""
    clean_stamp(db).unlink(missing_ok=True)


def closed_cleanly(db: Path) -> bool:
    """Whether the file is as the last clean close left it."""
    try:
        stamp = json.loads(clean_stamp(db).read_text(encoding="utf-8"))
        return bool(stamp == _stamp_of(db))
    except (OSError, ValueError):
        return False


def sqlite_damage(db: Path, *, always: bool = False) -> str | None:
    """What is wrong with the database file, or None (also for a file not there yet).

    Checked only when it changed since the last clean close, unless `always`."""
    if not db.is_file() or (closed_cleanly(db) and not always):
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as connection:
            rows = connection.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as error:
        return f"{db.name} is damaged ({error})"
    problems = quick_check_findings(str(row[0]) for row in rows)
    if not problems:
        return None
    more = f"; {len(problems)} findings in all" if len(problems) > 1 else ""
    return f"{db.name} is damaged (quick_check: {problems[0]}{more})"


def quick_check_findings(rows: Iterable[str]) -> list[str]:
    """The findings of a `quick_check`, one per line: a row may hold many lines, and the
    '*** in database main ***' banners and 'ok' are not findings."""
    lines = (line.strip() for row in rows for line in row.splitlines())
    return [line for line in lines if line and line != "ok" and not line.startswith("***")]


def apply_migrations(db: sqlite3.Connection, migrations: Sequence[Migration]) -> list[str]:
    """Apply the migrations `db` has not seen, in order; returns their names."""
    names = [name for name, _ in migrations]
    if names != sorted(set(names)):
        raise ValueError(f"migrations must have unique names in version order: {names}")
    db.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied REAL NOT NULL)"
    )
    done = {row[0] for row in db.execute("SELECT name FROM _migrations")}
    applied = []
    for name, script in migrations:
        if name in done:
            continue
        # executescript commits first; the script runs as one transaction of its own
        db.executescript(
            f"BEGIN;\n{script}\nINSERT INTO _migrations VALUES ('{name}', {time.time()});\nCOMMIT;"
        )
        applied.append(name)
    return applied


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """All of the block's writes or none: `BEGIN IMMEDIATE`, then COMMIT or ROLLBACK."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


@contextmanager
def temp_keys(
    db: sqlite3.Connection, name: str, keys: Iterable[str] | None
) -> Iterator[str | None]:
    """A temporary one-column table `temp_<name>` of `keys` (None passes through), for
    IN queries of any size; emptied again after the block."""
    if keys is None:
        yield None
        return
    table = f"temp_{name}"
    db.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY)")
    db.execute(f"DELETE FROM {table}")
    db.executemany(f"INSERT OR IGNORE INTO {table} VALUES (?)", [(k,) for k in keys])
    try:
        yield table
    finally:
        db.execute(f"DELETE FROM {table}")


class Database:
    """One SQLite file with one connection, shared by a process's threads under a lock."""

    def __init__(
        self,
        path: Path,
        migrations: Sequence[Migration],
        *,
        what: str,
        foreign_keys: bool = False,
    ) -> None:
        self.path = path
        if (damage := sqlite_damage(path)) is not None:
            raise StoreError(f"{what} {path}: {damage}; {REPAIR_HINT}")
        self.connection = connect(path, what=what, foreign_keys=foreign_keys)
        try:
            apply_migrations(self.connection, migrations)
        except sqlite3.DatabaseError as error:
            self.connection.close()
            raise StoreError(f"cannot open {what} {path}: {error}") from error
        self.lock = threading.RLock()
        forget_clean(path)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.lock, transaction(self.connection) as db:
            yield db

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The connection, for reads that must not interleave with another thread's."""
        with self.lock:
            yield self.connection

    def close(self) -> None:
        self.connection.close()
        with contextlib.suppress(OSError):
            mark_clean(self.path)
