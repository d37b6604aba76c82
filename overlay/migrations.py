"""SQLite schema changes as named, append-only migrations (the index and the pair store)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence

Migration = tuple[str, str]  # (name, SQL script); never edit one that shipped, append


def apply_migrations(db: sqlite3.Connection, migrations: Sequence[Migration]) -> list[str]:
    """Apply the migrations `db` has not seen, in order; returns their names."""
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
