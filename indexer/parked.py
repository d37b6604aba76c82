"""Parked vectors: the vectors of chunks whose notes vanished, kept for a grace period.

A rename or a folder move that a sync sees whole re-embeds nothing (chunk ids are
content-addressed, DESIGN decision 3). One split across two syncs (the old paths gone
in one, the new ones read in the next, as when a folder is renamed while a sync runs)
would drop the vectors in the first and embed them all again in the second. So a chunk
that no note holds any more because its notes vanished from the disk leaves Chroma and
the manifest as before, text and all, but its vector is parked here for
`index.vector_grace_s` seconds; a sync that meets its id again takes the vector instead
of embedding, and every sync deletes the ones whose time is up. A note that turned
private or was excluded or forgotten did not vanish: its vectors are never parked.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Mapping

import numpy as np
import numpy.typing as npt

from overlay.sqlite import temp_keys

Vector = npt.NDArray[np.float32]


def park(db: sqlite3.Connection, collection: str, vectors: Mapping[str, Vector]) -> None:
    """Keep these vectors (chunk id -> vector of `collection`), from now."""
    now = time.time()
    db.executemany(
        "INSERT OR REPLACE INTO parked_vectors VALUES (?, ?, ?, ?)",
        [
            (chunk_id, collection, np.asarray(vector, dtype="<f4").tobytes(), now)
            for chunk_id, vector in vectors.items()
        ],
    )


def find(db: sqlite3.Connection, collection: str, ids: Iterable[str]) -> dict[str, Vector]:
    """The parked vectors of `collection` among `ids`."""
    with temp_keys(db, "parked", ids) as table:
        rows = db.execute(
            f"SELECT id, vector FROM parked_vectors WHERE id IN (SELECT key FROM {table}) "
            "AND collection = ?",
            (collection,),
        ).fetchall()
    return {chunk_id: np.frombuffer(blob, dtype="<f4") for chunk_id, blob in rows}


def unpark(db: sqlite3.Connection, ids: Iterable[str]) -> None:
    """Forget these ids' parked vectors: a note holds them again."""
    db.executemany("DELETE FROM parked_vectors WHERE id = ?", [(i,) for i in ids])


def parked_ids(db: sqlite3.Connection) -> set[str]:
    return {row[0] for row in db.execute("SELECT id FROM parked_vectors")}


def expire(db: sqlite3.Connection, grace_s: float) -> int:
    """Delete the vectors parked longer than `grace_s` ago; returns how many."""
    cursor = db.execute("DELETE FROM parked_vectors WHERE parked <= ?", (time.time() - grace_s,))
    return cursor.rowcount
