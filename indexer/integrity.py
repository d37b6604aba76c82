"""Damage noticed: cheap checks of the index files, and the way back (a rebuild).

The vault is the source of truth, so every repair is a re-sync:
- SQLite: `PRAGMA quick_check` at open, only when the file changed since the last
  clean close (`overlay.sqlite.sqlite_damage`, as for every database of Overlay);
- Chroma: the number of vectors against the number of distinct chunks the manifest
  holds; fewer vectors mean dense search answers from part of the vault (`degraded`);
- Chroma's HNSW files, which no checksum guards: their headers must add up (at open
  after an unclean close, and in `overlay doctor`), and a sample of stored vectors must
  read back whole and find themselves (every full sync, and `overlay doctor`): garbage
  in `data_level0.bin` otherwise changes search results without a word;
- `rebuild_index_files` removes the index (never the vault, pairs, runs or the
  conversation log), so the next sync rebuilds it from the vault.
"""

from __future__ import annotations

import os
import shutil
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from overlay.sqlite import clean_stamp

REBUILD_HINT = "run `overlay index --rebuild` to rebuild it from the vault"


class CountedStore(Protocol):
    def chunk_count(self) -> int: ...
    def vector_count(self) -> int: ...


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
    names = [
        db_name,
        f"{db_name}-wal",
        f"{db_name}-shm",
        chroma_dir,
        clean_stamp(Path(db_name)).name,
    ]
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


# ---- Chroma's HNSW files (embedded Chroma: chroma/<segment>/) ----

# hnswlib's header as Chroma writes it (`header.bin`, version 1): version, offsetLevel0,
# max_elements, cur_element_count, size_data_per_element, label_offset, offsetData,
# maxlevel, enterpoint_node, maxM, maxM0
_HNSW_HEADER = struct.Struct("<iQQQQQQiIQQ")
SAMPLED_VECTORS = 16  # vectors read back and searched for by `vector_damage`


def hnsw_damage(chroma_dir: Path) -> str | None:
    """A sentence naming the first HNSW file that does not add up (a bad disk block, a
    half-written file), or None: its header, its files' sizes, and a sample of vectors.
    Cheap (a few KiB read), so every open checks, before Chroma loads them."""
    for header in sorted(chroma_dir.glob("*/header.bin")):
        if problem := _header_problem(header):
            return f"the vector file {header.parent.name}/{problem}; {REBUILD_HINT}"
    return None


def _header_problem(header: Path) -> str | None:
    raw = header.read_bytes()
    if len(raw) < _HNSW_HEADER.size:
        return f"header.bin is damaged ({len(raw)} bytes, too short for a header)"
    fields = _HNSW_HEADER.unpack_from(raw)
    version, _, capacity, count, element, label, data, _, entry, _, max_m0 = fields
    sane = (
        version == 1
        and 0 <= count <= capacity
        and data == max_m0 * 4 + 4
        and data < label
        and label + 8 == element
        and (count == 0 or entry < count)
    )
    if not sane:
        return "header.bin is damaged (its fields do not add up)"
    for name, needed in (("data_level0.bin", count * element), ("length.bin", count * 4)):
        path = header.parent / name
        if count and (not path.is_file() or path.stat().st_size < needed):
            return f"{name} is damaged (shorter than the {count} vectors its header counts)"
    if count == 0:
        return None
    with (header.parent / "data_level0.bin").open("rb") as level0:
        for n in sorted({i * count // SAMPLED_VECTORS for i in range(SAMPLED_VECTORS)}):
            level0.seek(n * element)
            if not _element_whole(level0.read(element), count, max_m0, data, label):
                return "data_level0.bin is damaged (a sampled vector or its links read wrong)"
    return None


def _element_whole(raw: bytes, count: int, max_m0: int, data: int, label: int) -> bool:
    """Whether one element of level 0 (link count, links, vector, label) makes sense:
    at most maxM0 links, each to an element there is, and a vector of unit length (Chroma's
    cosine space stores them normalised); Chroma crashes loading garbage there."""
    links = int.from_bytes(raw[:2], "little")
    if links > max_m0 or (np.frombuffer(raw[4 : 4 + 4 * links], "<u4") >= count).any():
        return False
    with np.errstate(all="ignore"):
        norm = float(np.linalg.norm(np.frombuffer(raw[data:label], "<f4")))
    return abs(norm - 1.0) < 1e-2


NEIGHBOURS_SEARCHED = 10  # an approximate search may rank an equal vector below others


class SampledStore(Protocol):
    def chunk_ids(self) -> set[str]: ...
    def stored_vectors(self, ids: Iterable[str]) -> dict[str, npt.NDArray[np.float32]]: ...
    def nearest(self, vector: npt.NDArray[np.float32], k: int) -> list[Any]: ...


def vector_damage(store: SampledStore, sample: int = SAMPLED_VECTORS) -> str | None:
    """A sentence when stored vectors read back wrong: a sample spread over the index is
    read back from Chroma; each must be of unit length (Overlay stores no other), and most
    must be found by a search for them at distance 0. The search is approximate (HNSW):
    a healthy index of many near-equal vectors misses a few, so only a majority missing
    counts; damaged bytes fail the length check itself."""
    held = sorted(store.chunk_ids())
    picked = held[:: max(1, len(held) // sample)][:sample]
    if not picked:
        return None
    vectors = store.stored_vectors(picked)  # a missing one is `vector_gap`'s to tell
    malformed = [i for i, vector in vectors.items() if not _unit_length(vector)]
    unfound = [i for i, vector in vectors.items() if not _finds_itself(store, vector)]
    if not malformed and len(unfound) * 2 <= len(vectors):
        return None
    wrong = len(set(malformed) | set(unfound))
    return (
        f"{wrong} of {len(vectors)} vectors sampled from the vector store read back "
        f"wrong: its HNSW file data_level0.bin (in chroma/) is damaged; {REBUILD_HINT}"
    )


def _unit_length(vector: npt.NDArray[np.float32]) -> bool:
    with np.errstate(all="ignore"):
        return bool(np.isfinite(vector).all()) and abs(float(np.linalg.norm(vector)) - 1) < 1e-3


def _finds_itself(store: SampledStore, vector: npt.NDArray[np.float32]) -> bool:
    hits = store.nearest(vector, NEIGHBOURS_SEARCHED)  # itself, or a chunk of the same vector
    return any(hit.distance < 1e-3 for hit in hits)
