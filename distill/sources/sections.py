"""Section facts: "What do my notes say about {heading} in {note}?" → the section's own sentences.

The answer is the first `MAX_SENTENCES` sentences of the section's prose (lists
and tables are property facts), in the note's words: short enough for a small
model to learn and for the recall check to score.
"""

from __future__ import annotations

import re

from distill.restatements import Fact
from distill.sources.properties import plain
from vault_schema import Note, chunk_note

SOURCE = "section"
MAX_SENTENCES = 2
MIN_WORDS = 6  # a heading with a few words under it says too little to ask about
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[A-ZА-ЯЁ0-9«\"])")
_NOT_PROSE = re.compile(r"^\s*(?:[-*+|>#!]|\d+[.)]\s|\[\^)")


def section_facts(note: Note) -> list[Fact]:
    facts = []
    for chunk in chunk_note(note):
        prose = " ".join(
            line for line in chunk.text.split("\n") if line.strip() and not _NOT_PROSE.match(line)
        )
        sentences = _SENTENCE_END.split(" ".join(prose.split()))
        answer = plain(" ".join(sentences[:MAX_SENTENCES]))
        if len(answer.split()) < MIN_WORDS:
            continue
        heading = plain(chunk.heading_path[-1]) if chunk.heading_path else note.title
        fields = {"heading": heading, "subject": note.title}
        facts.append(Fact("section", answer + ".", " > ".join(chunk.heading_path), fields))
    return facts
