"""Sentence facts: each sentence of a section's prose is one fact, in the note's words.

Asked as "What do my notes say about {topic}?" (the topic is the section's
heading with the note's top heading, or the note's title under none) and stated on its own with its note
named (distill/restatements.py). Lists and tables are property facts; a
sentence of fewer than `MIN_WORDS` words says too little to ask about, and a
section gives its first `MAX_SENTENCES` sentences at most; one that ends in a colon
introduces what is not prose and is left out.
"""

from __future__ import annotations

import re

from distill.restatements import Fact
from distill.sources.properties import SENTENCE_END, plain
from vault_schema import Note, chunk_note

SOURCE = "section"
MAX_SENTENCES = 8
MIN_WORDS = 4
_SENTENCE_END = re.compile(SENTENCE_END.pattern + r"(?=[A-ZА-ЯЁ0-9«\"])")  # a capital next
_NOT_PROSE = re.compile(r"^\s*(?:[-*+|>#!]|\d+[.)]\s|\[\^)")


def section_facts(note: Note) -> list[Fact]:
    facts = []
    for chunk in chunk_note(note):
        if chunk.start_line <= note.body_line_offset:
            continue  # the properties, as text: they are property facts
        sentences = [
            plain(s) for text in _paragraphs(chunk.text) for s in _SENTENCE_END.split(text)
        ]
        fields = {"topic": _topic(note, chunk.heading_path), "subject": note.title}
        said = [s for s in sentences if len(s.split()) >= MIN_WORDS and not s.endswith(":")]
        said = said[:MAX_SENTENCES]
        where = " > ".join(chunk.heading_path)
        facts += [Fact("sentence", sentence + ".", where, fields) for sentence in said]
    return facts


def _paragraphs(text: str) -> list[str]:
    """The text's runs of prose lines, each on one line: a blank line, a list, a table or
    a quote ends one (a sentence never runs across them)."""
    paragraphs, lines = [], []
    for line in [*text.split("\n"), ""]:
        if line.strip() and not _NOT_PROSE.match(line):
            lines.append(line.strip())
        elif lines:
            paragraphs.append(" ".join(" ".join(lines).split()))
            lines = []
    return paragraphs


def _topic(note: Note, heading_path: tuple[str, ...]) -> str:
    """What a section is about, as a question names it: its heading with the note's top
    heading beside it ("Where she lives (The boat)"), the top heading alone, or the
    note's title under none."""
    if not heading_path:
        return note.title
    top, heading = plain(heading_path[0]), plain(heading_path[-1])
    return heading if len(heading_path) == 1 else f"{heading} ({top})"
