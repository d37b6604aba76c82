"""The vault's nouns: a parsed `Note` and the pieces it is made of.

Everything here is plain data: frozen dataclasses with no I/O, so the parser,
the indexer and the distiller can pass them around and compare them freely.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class LinkKind(StrEnum):
    WIKI = "wiki"  # [[target]], [[target|alias]], [[target#heading]], [[target#^block]]
    EMBED = "embed"  # ![[target]]
    MARKDOWN = "markdown"  # [text](target.md)
    PROPERTY = "property"  # a wiki-link written inside a frontmatter value


@dataclass(frozen=True, slots=True)
class Link:
    """A link as written in a note; `resolved` is filled by `links.resolve_links`."""

    target: str  # the note part as written, without '#heading' or '|alias'
    kind: LinkKind
    display: str | None = None  # the '|alias' text or the markdown link text
    heading: str | None = None  # '[[n#heading]]'
    block: str | None = None  # '[[n#^block]]', without the caret
    line: int = 0  # 1-based line in the file
    resolved: str | None = None  # vault-relative path of the target note, None if unresolved


@dataclass(frozen=True, slots=True)
class Heading:
    level: int
    text: str
    line: int


@dataclass(frozen=True, slots=True)
class Block:
    """A block carrying an id (`^id` at the end of a paragraph or list item)."""

    id: str
    line: int
    text: str


@dataclass(frozen=True, slots=True)
class Footnote:
    label: str
    text: str


@dataclass(frozen=True, slots=True)
class Callout:
    type: str  # lower-cased: 'note', 'nexus_user', ...
    title: str
    body: str  # the lines after the header, '> ' prefixes removed
    line: int  # 1-based line of the '> [!type]' header
    end_line: int = 0  # 1-based line of the callout's last line


@dataclass(frozen=True, slots=True)
class ParseWarning:
    """Something in a file Overlay read around rather than trusted."""

    path: str
    code: str  # 'frontmatter', 'encoding', 'binary', 'too-large', 'unreadable', 'vanished',
    # 'canvas' (not a JSON Canvas), 'encrypted', 'broken-pdf', 'no-text' (a PDF without text),
    # 'over-budget' (holds more than its parser takes on: see budgets.py)
    message: str


class SkippedFile(Exception):
    """A file left out of a load, with the reason as a ParseWarning."""

    def __init__(self, warning: ParseWarning) -> None:
        super().__init__(f"{warning.path}: {warning.message}")
        self.warning = warning


@dataclass(frozen=True, slots=True)
class Note:
    path: str  # vault-relative, POSIX separators
    title: str  # file stem
    body: str  # text after the frontmatter
    frontmatter: dict[str, Any] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()  # without '#', nested as 'a/b'; frontmatter and inline
    headings: tuple[Heading, ...] = ()
    blocks: tuple[Block, ...] = ()
    links: tuple[Link, ...] = ()
    footnotes: tuple[Footnote, ...] = ()
    callouts: tuple[Callout, ...] = ()
    content_hash: str = ""  # sha256 of the raw file bytes
    mtime: float = 0.0
    body_line_offset: int = 0  # lines taken by the frontmatter, to map body lines to file lines
    frontmatter_text: str = ""  # the raw YAML between the `---` lines (file line 2 on)
    warnings: tuple[ParseWarning, ...] = ()

    @property
    def is_private(self) -> bool:
        return str(self.frontmatter.get("overlay", "")).strip().lower() == "private"
