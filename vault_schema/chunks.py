"""Heading-aware chunking: a note becomes token-bounded `Chunk`s.

Chunk ids are content-addressed (DESIGN decision 3): the hash of the chunk's
text and heading path, independent of the note's path, so a rename re-embeds
nothing and an edit re-embeds only the chunks whose text changed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


def chunk_id(text: str, heading_path: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    digest.update("\x1f".join(heading_path).encode())
    digest.update(b"\x1e")
    digest.update(text.encode())
    return digest.hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Chunk:
    note_path: str
    heading_path: tuple[str, ...]  # ('Trip to Kazan', 'Day 2') for a chunk under '## Day 2'
    text: str  # the chunk's own text, without the heading path
    ordinal: int  # position within the note, from 0
    start_line: int  # 1-based, in the file
    end_line: int

    @property
    def id(self) -> str:
        return chunk_id(self.text, self.heading_path)

    @property
    def embedding_text(self) -> str:
        """What the embedder sees: the heading path gives the chunk its context."""
        if not self.heading_path:
            return self.text
        return " > ".join(self.heading_path) + "\n\n" + self.text
