"""Property facts: what a note states as structure, found without a model.

Frontmatter keys and values ("What is the {key} of {note}?"; not bookkeeping ones), table cells (the
row's first cell × the column's header), definition lines (`X — Y`, `X: Y`,
`**X** is Y`) and the list items under a heading. Each fact is asked with the
templates of its kind (distill/restatements.py); the answer is the note's text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from distill.fact_filters import is_bookkeeping
from distill.restatements import Fact
from distill.sources.dialogues import clean_markup
from vault_schema import Note, chunk_note

SOURCE = "property"
MAX_KEY_WORDS = 3  # a longer "X: Y" head is a sentence with a colon, not a term
MAX_LIST_ITEMS = 6
BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(?:\[.\]\s+)?")
# a sentence ends at . ! ? or …, not at an abbreviation ("см. [[X]]", "e.g.", "i.e.")
SENTENCE_END = re.compile(r"(?<=[.!?…])(?<!\b[Сс]м\.)(?<!\be\.g\.)(?<!\bi\.e\.)\s+")
_ONLY_LINK = re.compile(r"\s*!?\[\[[^\]]*\]\]\s*")
_NOT_ATTRIBUTE = re.compile(r"^(?:what|which|who|notes?|comments?|что|кто|заметк[аи]|комментари[йи])$", re.I)  # fmt: skip
_ENDS = re.compile(r"[.!?…]\s")  # a head with a sentence's end in it is no term
_TAG = re.compile(r"(?<![\w/])#[^\s#]+")
_DEFINITIONS = (
    re.compile(r"^\*\*(?P<key>[^*]+)\*\*\s*(?:is|are|—|–|:|-)\s+(?P<value>.+)$"),
    re.compile(r"^(?P<key>[^:—–|]+?)\s+[—–]\s+(?P<value>.+)$"),
    re.compile(r"^(?P<key>[^:—–|/]+?):\s+(?P<value>.+)$"),
)


def property_facts(note: Note) -> list[Fact]:
    """The note's frontmatter, table, definition and list facts."""
    return [
        *frontmatter_facts(note),
        *table_facts(note),
        *definition_facts(note),
        *list_facts(note),
    ]


def plain(text: str) -> str:
    """Text without Obsidian markup, tags or emphasis marks, on one line."""
    text = _TAG.sub("", clean_markup(text)).replace("**", "").replace("*", "")
    return " ".join(text.split()).strip(" .;")


def frontmatter_facts(note: Note) -> Iterator[Fact]:
    for key, value in note.frontmatter.items():
        values = value if isinstance(value, list) else [value]
        if is_bookkeeping(str(key)) or any(isinstance(v, dict | list) for v in values):
            continue  # nested values are a scene's turns or data, not a statement
        if all(_ONLY_LINK.fullmatch(str(v)) for v in values):
            continue  # `related: "[[Anna]]"` points the way (the link graph has it)
        answer = ", ".join(plain(str(v)) for v in values if v not in (None, ""))
        if answer:
            yield Fact("property", answer, fields={"key": str(key), "subject": note.title})


def table_facts(note: Note) -> Iterator[Fact]:
    for chunk in chunk_note(note):
        rows = [_cells(line) for line in chunk.text.split("\n") if line.strip().startswith("|")]
        rows = [row for row in rows if row and not all(set(c) <= set("-: ") for c in row)]
        if len(rows) < 2:
            continue
        header, heading = rows[0], " > ".join(chunk.heading_path)
        for row in rows[1:]:
            subject = f"{row[0]} ({note.title})"
            for column, cell in zip(header[1:], row[1:], strict=False):
                if column and cell and not _NOT_ATTRIBUTE.match(column):
                    fields = {"key": column, "subject": subject}
                    yield Fact("property", cell, heading, fields)


def _cells(line: str) -> list[str]:
    cells = re.split(r"(?<!\\)\|", line.strip().strip("|"))  # `\|` is a link's alias bar
    return [plain(cell.replace("\\|", "|")) for cell in cells]


def definition_facts(note: Note) -> Iterator[Fact]:
    for chunk in chunk_note(note):
        if chunk.start_line <= note.body_line_offset:
            continue  # the properties as text: frontmatter_facts reads them
        heading = " > ".join(chunk.heading_path)
        for line in chunk.text.split("\n"):
            definition = _definition(BULLET.sub("", line).strip())
            if definition is not None:
                key, value = definition
                yield Fact("definition", value, heading, {"key": key, "subject": note.title})


def _definition(line: str) -> tuple[str, str] | None:
    if not line or line.startswith(("|", "#", ">", "!", "[^")) or "://" in line:
        return None
    for number, pattern in enumerate(_DEFINITIONS):
        found = pattern.match(line if number == 0 else line.replace("**", ""))
        if found:
            first_sentence = SENTENCE_END.split(found["value"].strip())[0]
            if _ONLY_LINK.fullmatch(first_sentence):
                return None  # "Books: [[Reading list]]" points the way; it states nothing
            key, value = plain(found["key"]), plain(first_sentence)
            if key and value and len(key.split()) <= MAX_KEY_WORDS and not _ENDS.search(key):
                return key, value
    return None


def list_facts(note: Note) -> Iterator[Fact]:
    for chunk in chunk_note(note):
        if not chunk.heading_path:
            continue
        items = [
            plain(BULLET.sub("", line)) for line in chunk.text.split("\n") if BULLET.match(line)
        ]
        items = [item for item in items if item]
        if len(items) >= 2:
            heading = plain(chunk.heading_path[-1])
            fields = {"heading": heading, "subject": note.title}
            answer = "; ".join(items[:MAX_LIST_ITEMS])
            yield Fact("list", answer, " > ".join(chunk.heading_path), fields)
