"""What the index holds, as readers get it, and what a sync hands it to write."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from vault_schema.chunks import Chunk
from vault_schema.links import path_key
from vault_schema.notes import Note

# ---- what readers get ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IndexedNote:
    """A note as the manifest knows it."""

    path: str
    title: str
    content_hash: str
    mtime: float
    size: int
    indexed_at: float


@dataclass(frozen=True, slots=True)
class RememberedSkip:
    """A file skipped for what it holds ('no-text', 'broken-pdf', ...), as the index
    remembers it: not read again while its mtime and size stay these."""

    path: str
    mtime: float
    size: int
    code: str  # the ParseWarning code
    message: str

    @property
    def reason(self) -> str:
        """What a sync report says of it, as when it was read."""
        return f"{self.code}: {self.message}"


@dataclass(frozen=True, slots=True)
class StoredChunk:
    """A chunk held by a note. Two notes with an identical chunk share its `id` (and vector)."""

    id: str
    note_path: str
    ordinal: int
    heading_path: tuple[str, ...]
    text: str
    start_line: int
    end_line: int

    @property
    def embedding_text(self) -> str:
        """What was embedded (the same rule as `Chunk.embedding_text`)."""
        if not self.heading_path:
            return self.text
        return " > ".join(self.heading_path) + "\n\n" + self.text


@dataclass(frozen=True, slots=True)
class StoredLink:
    """A link as written in `source`; `resolved` is the target's path (None: unresolved)."""

    source: str
    target: str
    kind: str  # a vault_schema LinkKind value: 'wiki', 'embed', 'markdown', 'property'
    resolved: str | None
    display: str | None
    heading: str | None
    block: str | None
    line: int


@dataclass(frozen=True, slots=True)
class NoteName:
    """The names a note answers to: its title (file stem) and its aliases."""

    path: str
    title: str
    aliases: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StoreStats:
    """Counts for `overlay status`."""

    notes: int
    chunks: int  # chunks held by notes
    distinct_chunks: int  # vectors (shared chunks count once)
    links: int
    note_links: int  # links that resolve to a note
    unresolved_links: int
    tags: int  # distinct tags
    attachments: int
    embedder: str | None
    dimension: int | None
    last_sync: dict[str, Any] | None  # the last SyncReport, lists as counts, + 'finished'
    size_bytes: int  # the data dir on disk (SQLite and embedded Chroma)


# ---- what sync writes ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NoteWrite:
    """A note to (re)write in the manifest with its chunks; `size` is the file's in bytes."""

    note: Note
    chunks: Sequence[Chunk]
    size: int


@dataclass
class Batch:
    """One commit: the unit that survives a kill as a whole or not at all."""

    written: list[NoteWrite] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    vanished: list[str] = field(default_factory=list)  # of `deleted`: no longer on disk
    touched: list[tuple[str, float, int]] = field(default_factory=list)  # path, mtime, size
    attachments_added: list[str] = field(default_factory=list)
    attachments_removed: list[str] = field(default_factory=list)
    skips_remembered: list[RememberedSkip] = field(default_factory=list)
    skips_forgotten: list[str] = field(default_factory=list)  # read again, or gone
    # vectors of the written notes' chunks the store does not hold yet, by chunk id
    vectors: dict[str, npt.NDArray[np.float32]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(
            self.written
            or self.deleted
            or self.touched
            or self.attachments_added
            or self.attachments_removed
            or self.skips_remembered
            or self.skips_forgotten
        )


def link_key(target: str) -> str:
    """The part of a path or link target that a rename changes: its last part, no '.md'."""
    name = path_key(target).rstrip("/").rsplit("/", 1)[-1]
    return name.removesuffix(".md")
