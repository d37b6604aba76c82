"""Heading-aware chunking: a note becomes token-bounded `Chunk`s.

Chunk ids are content-addressed (DESIGN decision 3): the hash of the chunk's
text and heading path, independent of the note's path, so a rename re-embeds
nothing and an edit re-embeds only the chunks whose text changed.

The rules of `chunk_note`:
- one section per heading; every chunk carries its heading path (the heading
  line itself is not in the text) and a section without text gives no chunk;
- the frontmatter's properties (all but `tags`, `aliases` and Obsidian's own
  `cssclasses`, `overlay`, `position`) become one chunk of `key: value`
  lines, first, without a heading path, so a vault that keeps its facts in
  properties can be searched by them; the raw YAML is never chunk text;
- a canvas's text nodes never share a chunk (see `canvas.py`);
- a section is cut into blocks (paragraphs, fenced code, tables) and blocks are
  packed in order while the chunk stays within `max_tokens`; a code block or a
  table is never split, unless it alone exceeds the bound: then it is split by
  lines, and a single line over the bound is split between tokens;
- no chunk is longer than `max_chars` characters (a run of letters with no
  space counts as one token, so a token bound alone would let a long
  base64 line through to the embedder whole): longer text is cut at spaces;
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
from datetime import date
from itertools import accumulate
from typing import Any

from vault_schema.markdown import fence_ranges, is_blank, is_table_row
from vault_schema.notes import Note

TOKEN = re.compile(r"\w+|[^\w\s]")
MAX_CHUNK_CHARS = 4000
UNSEARCHED_PROPERTIES = frozenset(
    {"aliases", "alias", "tags", "tag", "cssclasses", "cssclass", "overlay", "position"}
)
HAS_LETTER = re.compile(r"[^\W\d_]")
PROPERTY_LINK = re.compile(r"\[\[([^\[\]|#]*)[^\[\]]*\]\]")


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


def chunk_note(note: Note, max_tokens: int = 256, max_chars: int = MAX_CHUNK_CHARS) -> list[Chunk]:
    """The note's properties and body as chunks of at most `max_tokens` estimated
    tokens and `max_chars` characters each."""
    limit = max(1, max_tokens)
    lines = note.body.split("\n")
    fences = {first: last for first, last in fence_ranges(lines)}
    chunks: list[Chunk] = []
    properties = properties_text(note.frontmatter)
    for piece in split_tokens(properties, limit) if properties else ():
        for text in split_chars(piece, max_chars):
            end = max(2, note.body_line_offset - 1)
            chunks.append(Chunk(note.path, (), text, len(chunks), 2, end))
    starts = _node_starts(note)
    for heading_path, first, last in _sections(note, len(lines)):
        for part_first, part_last in _split(first, last, starts):
            section = _Section(lines, part_first, part_last, fences)
            for start, end, packed in section.pack(limit):
                line = note.body_line_offset + 1
                for text in split_chars(packed, max_chars):
                    chunks.append(
                        Chunk(note.path, heading_path, text, len(chunks), start + line, end + line)
                    )
    return chunks


def _node_starts(note: Note) -> set[int]:
    """Body line indices where a canvas node begins (its blocks): nodes never share a chunk."""
    if not note.path.lower().endswith(".canvas"):
        return set()
    return {block.line - note.body_line_offset - 1 for block in note.blocks}


def _split(first: int, last: int, starts: set[int]) -> Iterator[tuple[int, int]]:
    """Lines first..last cut before each of `starts` inside them."""
    for cut in sorted(start for start in starts if first < start <= last):
        yield first, cut - 1
        first = cut
    yield first, last


def properties_text(properties: dict[str, Any]) -> str:
    """Searchable properties as `key: value` lines (`[[links]]` as their target's name)."""
    lines = []
    for key, value in properties.items():
        if key.lower() in UNSEARCHED_PROPERTIES:
            continue
        rendered = _property_value(value)
        if rendered:
            lines.append(f"{key}: {rendered}")
    # Bookkeeping alone (`created: 2025-04-02`) says nothing to search by, and a chunk of
    # bare dates sits close to any question the notes cannot answer.
    return (
        "\n".join(lines) if any(HAS_LETTER.search(line.split(": ", 1)[1]) for line in lines) else ""
    )


def _property_value(value: Any) -> str:
    if value is None or isinstance(value, dict):
        return ""
    if isinstance(value, list):
        return ", ".join(filter(None, map(_property_value, value)))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return PROPERTY_LINK.sub(lambda match: match.group(1).strip(), str(value)).strip()


def split_chars(text: str, limit: int) -> Iterator[str]:
    """`text` cut into pieces of at most `limit` characters, at a space where there is one."""
    limit = max(1, limit)
    while len(text) > limit:
        cut = text.rfind(" ", limit // 2, limit + 1)
        cut = limit if cut <= 0 else cut
        piece, text = text[:cut].strip(), text[cut:].strip()
        if piece:
            yield piece
    if text.strip():
        yield text.strip()


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
