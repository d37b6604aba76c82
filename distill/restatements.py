"""Facts asked many ways from templates: pairs that need no capable LLM.

The template sources (`distill/sources/properties.py`, `sections.py`,
`relations.py`) find facts in a note's own structure; each `Fact` is asked with
every question template of its kind (a versioned data file in `distill/prompts/`,
`restatements-<n>.json`) in English and in Russian, whatever the note's language,
and answered in the note's own words. As with the LLM `fact` source, per fact
and language the last `held_out_per_fact` questions are held out for evaluation
(never trained on), and all the pairs of a fact share its `fact` id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources
from string import Template

from distill.pairs import Pair
from distill.sources.facts import fact_id
from vault_schema import Note

TEMPLATES = "restatements-1"
GENERATOR = "template"  # recorded as the pairs' generator: no model wrote them
LANGUAGES = ("en", "ru")


@dataclass(frozen=True)
class Fact:
    """One thing a note states: its kind (a key of the templates file), the fields its
    questions are filled with, and the answer in the note's words."""

    kind: str  # property, definition, list, section or relation
    answer: str
    heading: str = ""  # where in the note, as a heading path
    fields: dict[str, str] = field(default_factory=dict)


@cache
def templates(version: str = TEMPLATES) -> dict[str, dict[str, list[str]]]:
    """The question templates of this version, by kind and language."""
    text = resources.files("distill.prompts").joinpath(f"{version}.json").read_text("utf-8")
    return {kind: v for kind, v in json.loads(text).items() if not kind.startswith("_")}


def questions(fact: Fact, language: str, version: str = TEMPLATES) -> list[str]:
    """Every question of the fact's kind in `language`, filled in; duplicates once."""
    filled = [
        Template(t).safe_substitute(fact.fields) for t in templates(version)[fact.kind][language]
    ]
    return list(dict.fromkeys(filled))


def fact_pairs(
    note: Note, facts: list[Fact], source: str, held_out_per_fact: int, date: datetime | None
) -> list[Pair]:
    """The pairs of every fact, in both languages, the last questions held out."""
    pairs = []
    for fact in facts:
        shared = fact_id(note.path, fact.heading, f"{fact.kind}:{json.dumps(fact.fields)}")
        for language in LANGUAGES:
            asked = questions(fact, language)
            held = min(held_out_per_fact, len(asked) - 1)
            for number, question in enumerate(asked):
                pairs.append(
                    Pair.make(
                        [
                            {"role": "user", "content": question},
                            {"role": "assistant", "content": fact.answer},
                        ],
                        note_path=note.path,
                        source=source,
                        content_hash=note.content_hash,
                        generator=GENERATOR,
                        heading=fact.heading,
                        prompt_version=TEMPLATES,
                        language=language,
                        held_out=held > 0 and number >= len(asked) - held,
                        fact=shared,
                        note_date=date,
                    )
                )
    return pairs
