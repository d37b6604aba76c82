"""Relation facts: "How is {A} related to {B}?" → the sentence of note A that links to B.

The links are the person's own entity graph; the sentence that holds a link is
what the note says of the two together. One fact per linked note (its first
sentence), embeds and links into the note itself left out, and a sentence that says
nothing but the link ("См. [[X]]") too.
"""

from __future__ import annotations

import re

from distill.language import content_words
from distill.restatements import Fact
from distill.sources.properties import BULLET, SENTENCE_END, plain
from vault_schema import Note

SOURCE = "relation"
MAX_RELATIONS = 8  # per note: a hub note links to everything
_LINK = re.compile(r"(?<!!)\[\[([^\]|#^]+)(?:[#^][^\]|]*)?(?:\|([^\]]+))?\]\]")
MIN_WORDS = 3
_SEE = {"см", "see", "cf", "also", "тж", "также"}


def relation_facts(note: Note) -> list[Fact]:
    facts: dict[str, Fact] = {}
    for line in note.body.split("\n"):
        if line.lstrip().startswith(("|", "#", "![[")):
            continue  # a table row or a heading is no sentence
        for sentence in SENTENCE_END.split(line):
            for found in _LINK.finditer(sentence):
                target = found[1].strip()
                answer = plain(BULLET.sub("", sentence))
                if target in facts or target == note.title or len(answer.split()) < MIN_WORDS:
                    continue
                name = (found[2] or target).strip()
                if len(content_words(answer) - content_words(f"{target} {name}") - _SEE) < 2:
                    continue  # "См. [[Учу норвежский]]" points the way; it states nothing
                facts[target] = Fact("relation", answer, fields={"a": note.title, "b": name})
    return list(facts.values())[:MAX_RELATIONS]
