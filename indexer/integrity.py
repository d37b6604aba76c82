"""Damage noticed: cheap checks of the index files, and the way back (a rebuild).

The vault is the source of truth, so every repair is a re-sync:
- SQLite: `PRAGMA quick_check` at open, only when the file changed since the last
  clean close (a stamp of its size and mtime written by `Store.close`), so a normal
  start costs one `stat`, and a crash or a foreign write is checked before use;
- Chroma: the number of vectors against the number of distinct chunks the manifest
  holds; fewer vectors mean dense search answers from part of the vault (`degraded`);
- `rebuild_index_files` removes the index (never the vault, pairs, runs or the
  conversation log), so the next sync rebuilds it from the vault.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Protocol

CLEAN_STAMP = "index.clean.json"
REBUILD_HINT = "run `overlay index --rebuild` to rebuild it from the vault"


class CountedStore(Protocol):
    def chunk_count(self) -> int: ...
    def vector_count(self) -> int: ...


def _stamp_of(db: Path) -> dict[str, int]:
    stat = db.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def mark_clean(db: Path) -> None:
    """Remember the database as it is after a clean close."""
    if db.is_file():
        (db.parent / CLEAN_STAMP).write_text(json.dumps(_stamp_of(db)), encoding="utf-8")


def forget_clean(db: Path) -> None:
    """A store is open: until it closes cleanly, the next open checks the file."""
    (db.parent / CLEAN_STAMP).unlink(missing_ok=True)


def closed_cleanly(db: Path) -> bool:
    """Whether the file is as the last clean close left it."""
    try:
        stamp = json.loads((db.parent / CLEAN_STAMP).read_text(encoding="utf-8"))
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
    problems = [str(row[0]) for row in rows if row[0] != "ok"]
    if problems:
        return f"{db.name} is damaged (quick_check: {'; '.join(problems[:3])})"
    return None


def vector_gap(store: CountedStore) -> str | None:
    """A sentence when the vector store holds fewer vectors than the index has chunks."""
    chunks = store.chunk_count()
    vectors = store.vector_count() if chunks else 0
    if vectors >= chunks:
        return None
    return (
        f"{chunks - vectors} of {chunks} passages have no vector (the vector store lost "
        "them): search by meaning sees part of the vault; `overlay index` repairs it"
    )


def index_files(data_dir: Path, db_name: str, chroma_dir: str) -> list[Path]:
    """The files and folders that make up the index in a data dir (those that exist)."""
    names = [db_name, f"{db_name}-wal", f"{db_name}-shm", chroma_dir, CLEAN_STAMP]
    return [data_dir / name for name in names if os.path.lexists(data_dir / name)]


def rebuild_index_files(data_dir: Path, db_name: str, chroma_dir: str) -> list[Path]:
    """Remove the index so the next sync rebuilds it from the vault; the paths removed."""
    removed = index_files(data_dir, db_name, chroma_dir)
    for path in removed:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    return removed
