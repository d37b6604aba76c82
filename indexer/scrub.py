"""Deleted text must not outlive its deletion inside Chroma's own files.

Chroma (embedded) writes every upsert, metadata included, to a write-ahead queue
(`embeddings_queue` in `chroma/chroma.sqlite3`) and purges it only once its vector
index has persisted past it (`hnsw:sync_threshold`, 1000 records by default). A
chunk deleted before that keeps its note's path and heading in the queue (and, in a
store written before Chroma stopped getting documents, its text).
`scrub_deleted_documents` drops the metadata of queued records whose embedding is gone;
the metadata segment consumed them long before (it writes at once), and the vector
segment that may still replay them reads only their vectors.

A Chroma server (`store.url`) keeps its queue on the server: scrubbing it is the
server's operator's job (`chroma utils vacuum`).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

CHROMA_DB = "chroma.sqlite3"


def scrub_deleted_documents(chroma_dir: Path) -> int:
    """Blank the queued metadata of deleted embeddings; returns how many records."""
    path = chroma_dir / CHROMA_DB
    if not path.is_file():
        return 0
    with sqlite3.connect(path, timeout=30) as db:
        cursor = db.execute(
            "UPDATE embeddings_queue SET metadata = NULL WHERE metadata IS NOT NULL "
            "AND id NOT IN (SELECT embedding_id FROM embeddings)"
        )
        changed = cursor.rowcount
    db.close()
    return changed
