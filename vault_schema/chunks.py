"""Heading-aware chunking: a note becomes token-bounded `Chunk`s.

Chunk ids are content-addressed (DESIGN decision 3): the hash of the chunk's
text and heading path, independent of the note's path, so a rename re-embeds
nothing and an edit re-embeds only the chunks whose text changed.

The rules of `chunk_note`:
- one section per heading; every chunk carries its heading path (the heading
  line itself is not in the text) and a section without text gives no chunk;
- the frontmatter is metadata, never chunk text;
- a section is cut into blocks (paragraphs, fenced code, tables) and blocks are
  packed in order while the chunk stays within `max_tokens`; a code block or a
  table is never split, unless it alone exceeds the bound: then it is split by
  lines, and a single line over the bound is split between tokens;
- `start_line`/`end_line` are lines of the file.
Tokens are estimated, not counted by a model's tokenizer: every run of word
characters and every other non-space character is one token (`count_tokens`).
For English and Russian prose that is within ~20% of subword tokenizers, which
is all a bound needs, and it costs no model load.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate

from vault_schema.markdown import fence_ranges, is_blank, is_table_row
from vault_schema.notes import Note

TOKEN = re.compile(r"\w+|[^\w\s]")


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


def count_tokens(text: str) -> int:
    """The cheap token estimate of this module's docstring."""
    return len(TOKEN.findall(text))


def chunk_note(note: Note, max_tokens: int = 256) -> list[Chunk]:
    """The note's body as chunks of at most `max_tokens` estimated tokens each."""
    limit = max(1, max_tokens)
    lines = note.body.split("\n")
    fences = {first: last for first, last in fence_ranges(lines)}
    chunks: list[Chunk] = []
    for heading_path, first, last in _sections(note, len(lines)):
        section = _Section(lines, first, last, fences)
        for start, end, text in section.pack(limit):
            line = note.body_line_offset + 1
            chunks.append(
                Chunk(note.path, heading_path, text, len(chunks), start + line, end + line)
            )
    return chunks


def _sections(note: Note, line_count: int) -> Iterator[tuple[tuple[str, ...], int, int]]:
    """(heading path, first body line index, last body line index) of every section."""
    stack: list[tuple[int, str]] = []
    first = 0
    for heading in note.headings:
        index = min(max(heading.line - note.body_line_offset - 1, first), line_count)
        yield tuple(text for _, text in stack), first, index - 1
        while stack and stack[-1][0] >= heading.level:
            stack.pop()
        stack.append((heading.level, heading.text))
        first = index + 1
    yield tuple(text for _, text in stack), first, line_count - 1


class _Section:
    """Lines first..last of the body, with per-line token counts for exact range sums."""

    def __init__(self, lines: list[str], first: int, last: int, fences: dict[int, int]) -> None:
        self.lines, self.first, self.last, self.fences = lines, first, last, fences
        self.sums = [0, *accumulate(count_tokens(line) for line in lines[first : last + 1])]

    def tokens(self, start: int, end: int) -> int:
        return self.sums[end - self.first + 1] - self.sums[start - self.first]

    def text(self, start: int, end: int) -> str:
        return "\n".join(self.lines[start : end + 1]).strip()

    def blocks(self) -> Iterator[tuple[int, int]]:
        """(start, end) of each paragraph, fenced code block or table."""
        index = self.first
        while index <= self.last:
            if is_blank(self.lines[index]) and index not in self.fences:
                index += 1
                continue
            end = self._block_end(index)
            yield index, end
            index = end + 1

    def _block_end(self, index: int) -> int:
        if index in self.fences:
            return min(self.fences[index], self.last)
        table = is_table_row(self.lines[index])
        end = index
        while end < self.last:
            following = self.lines[end + 1]
            if end + 1 in self.fences or is_blank(following) or is_table_row(following) != table:
                break
            end += 1
        return end

    def pack(self, limit: int) -> Iterator[tuple[int, int, str]]:
        """Blocks packed in order into (start, end, text) pieces of at most `limit` tokens."""
        start: int | None = None
        end = self.first
        for block_start, block_end in self.blocks():
            if start is not None and self.tokens(start, block_end) > limit:
                yield from self._emit(start, end)
                start = None
            if self.tokens(block_start, block_end) > limit:
                yield from self._split_lines(block_start, block_end, limit)
                continue
            start = block_start if start is None else start
            end = block_end
        if start is not None:
            yield from self._emit(start, end)

    def _emit(self, start: int, end: int) -> Iterator[tuple[int, int, str]]:
        text = self.text(start, end)
        if text:
            yield start, end, text

    def _split_lines(self, first: int, last: int, limit: int) -> Iterator[tuple[int, int, str]]:
        start: int | None = None
        for index in range(first, last + 1):
            if start is not None and self.tokens(start, index) > limit:
                yield from self._emit(start, index - 1)
                start = None
            if self.tokens(index, index) > limit:
                yield from (
                    (index, index, piece) for piece in split_tokens(self.lines[index], limit)
                )
                continue
            start = index if start is None else start
        if start is not None:
            yield from self._emit(start, last)


def split_tokens(text: str, limit: int) -> Iterator[str]:
    """`text` cut between tokens into pieces of at most `limit` tokens."""
    matches = list(TOKEN.finditer(text))
    for begin in range(0, len(matches), limit):
        piece = text[matches[begin].start() : matches[min(begin + limit, len(matches)) - 1].end()]
        if piece.strip():
            yield piece.strip()
