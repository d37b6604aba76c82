"""Damage noticed: cheap checks of the index files, and the way back (a rebuild).

The vault is the source of truth, so every repair is a re-sync:
- SQLite: `PRAGMA quick_check` at open, only when the file changed since the last
  clean close (`overlay.sqlite.sqlite_damage`, as for every database of Overlay);
- Chroma: the number of vectors against the number of distinct chunks the manifest
  holds; fewer vectors mean dense search answers from part of the vault (`degraded`);
- `rebuild_index_files` removes the index (never the vault, pairs, runs or the
  conversation log), so the next sync rebuilds it from the vault.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Protocol

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
