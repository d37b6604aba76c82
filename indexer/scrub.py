"""Deleted text must not outlive its deletion inside Chroma's own files.

Chroma (embedded) writes every upsert, metadata included, to a write-ahead queue
(`embeddings_queue` in `chroma/chroma.sqlite3`) and purges it only once its vector
index has persisted past it (`hnsw:sync_threshold`, 1000 records by default). A
chunk deleted before that keeps its note's path and heading in the queue (and, in a
store written before Chroma stopped getting documents, its text).
`scrub_deleted_documents` drops the metadata of queued records whose embedding is gone;
the metadata segment consumed them long before (it writes at once), and the vector
segment that may still replay them reads only their vectors.

Chroma's HNSW files (`<segment>/data_level0.bin`, `length.bin`) may be written with
room for more vectors, and that room is memory hnswlib never zeroed: bytes the process
freed before, text included. `zero_spare_hnsw_room` zeroes what lies past the last
vector, as the file's own header counts them.

A Chroma server (`store.url`) keeps its queue and files on the server: scrubbing them is
the server's operator's job (`chroma utils vacuum`).
"""

from __future__ import annotations

import struct
from pathlib import Path

from indexer.vectors import CHROMA_DB
from overlay.sqlite import connect


def scrub_deleted_documents(chroma_dir: Path) -> int:
    """Blank the queued metadata of deleted embeddings; returns how many records."""
    path = chroma_dir / CHROMA_DB
    if not path.is_file():
        return 0
    db = connect(path, what="the vector store", wal=False)  # Chroma keeps its journal mode
    try:
        cursor = db.execute(
            "UPDATE embeddings_queue SET metadata = NULL WHERE metadata IS NOT NULL "
            "AND id NOT IN (SELECT embedding_id FROM embeddings)"
        )
        return cursor.rowcount
    finally:
        db.close()


# hnswlib's header as Chroma writes it (`header.bin`, version 1): the fields read here
_HEADER = struct.Struct("<iQQQQ")  # version, offsetLevel0, max_elements, count, element size
_LEVEL_BYTES = 4  # `length.bin`: one int per element


def zero_spare_hnsw_room(chroma_dir: Path) -> int:
    """Zero the bytes past the last vector in every segment's HNSW files; returns how many
    files held any. A header of another layout is left alone."""
    changed = 0
    for header in sorted(chroma_dir.glob("*/header.bin")):
        raw = header.read_bytes()
        if len(raw) < _HEADER.size:
            continue
        version, _, capacity, count, element = _HEADER.unpack_from(raw)
        if version != 1 or not 0 <= count <= capacity:
            continue
        for name, used in (
            ("data_level0.bin", count * element),
            ("length.bin", count * _LEVEL_BYTES),
        ):
            changed += _zero_from(header.parent / name, used)
    return changed


def _zero_from(path: Path, offset: int) -> int:
    """Zero `path` from `offset` to its end, in place; 1 if anything there was not zero."""
    if not path.is_file() or path.stat().st_size <= offset:
        return 0
    with path.open("r+b") as file:
        file.seek(offset)
        tail = file.read()
        if not any(tail):
            return 0
        file.seek(offset)
        file.write(bytes(len(tail)))
    return 1
