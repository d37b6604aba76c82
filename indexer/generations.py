"""The index generation: a counter advanced by every commit that changes what retrieval
sees (notes, their chunks, names, links or mentions), and by nothing else.

A sync that finds nothing to do leaves it, so what retrieval built from the index (BM25,
names, the link graph: `overlay.core.snapshot`) stays valid; and the notes each of the
last generations changed are listed, so retrieval can update what it holds for those
notes alone (DESIGN decision 12). Kept in the store's `meta` table, in the transaction
of the commit it counts.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

KEPT = 64  # the changes of this many generations are listed
LISTED = 500  # a generation that changed more notes is recorded as "any"


def _meta(db: sqlite3.Connection, key: str) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def current(db: sqlite3.Connection) -> int:
    return int(_meta(db, "generation") or 0)


def changes_since(db: sqlite3.Connection, generation: int) -> tuple[int, set[str] | None]:
    """The current generation, and the notes written or deleted since `generation` (None
    when that is not known: too long ago, too many, or an attachment changed, which may
    re-resolve any link). Links and mentions from or to those notes may differ too."""
    changes: list[list[Any]] = json.loads(_meta(db, "changes") or "[]")
    latest = max([current(db), *(entry[0] for entry in changes)])
    held = {entry[0]: entry[1] for entry in changes}
    notes: set[str] = set()
    for step in range(generation + 1, latest + 1):
        if held.get(step) is None:
            return latest, None
        notes.update(held[step])
    return latest, notes


def advance(db: sqlite3.Connection, notes: Iterable[str] | None) -> None:
    """The next generation, in the caller's transaction: `notes` changed (None: any)."""
    generation = current(db) + 1
    changes: list[list[Any]] = json.loads(_meta(db, "changes") or "[]")
    listed = None if notes is None else sorted(set(notes))
    if listed is not None and len(listed) > LISTED:
        listed = None
    changes = [*changes, [generation, listed]][-KEPT:]
    db.execute(
        "INSERT OR REPLACE INTO meta VALUES ('changes', ?)",
        (json.dumps(changes, ensure_ascii=False),),
    )
    db.execute("INSERT OR REPLACE INTO meta VALUES ('generation', ?)", (str(generation),))
