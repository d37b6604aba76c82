"""Facts taught many ways from templates: pairs that need no capable LLM.

The template sources (`distill/sources/properties.py`, `sections.py`,
`relations.py`) find facts in a note's own structure; each `Fact` becomes
pairs from the templates of its kind (a versioned data file in
`distill/prompts/`, `restatements-<n>.json`), answered in the note's own words:

- questions, in English and in Russian whatever the note's language: those of
  its kind, then those of its shape (a date is asked "when", an amount "how
  much", a place "where", a person "who");
- statements (knowledge augmentation, Physics of LMs 3.1): the fact stated on its
  own with its subject named, in several framings and orders, in the note's
  language and, when it carries names or numbers over, in the other one too;
- near misses (PLUM): per note about a person, one attribute it does not give (a
  phone number, an email, a birthday) that no note answers, asked in both languages and
  answered that the notes do not say it.

Per fact and language the last `held_out_per_fact` questions of the kind are
held out for evaluation (never trained on). A question whose answer's content
words are all in it teaches nothing and is left out. All the pairs of a fact
share its `fact` id.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources
from string import Template
from typing import Any

from distill.language import detect_language, echoes
from distill.pairs import Pair
from distill.sources.facts import fact_id
from vault_schema import Note

TEMPLATES = "restatements-2"
GENERATOR = "template"  # recorded as the pairs' generator: no model wrote them
LANGUAGES = ("en", "ru")
NEAR_MISS_SOURCE = "property"  # the source whose run asks what a note does not give
KEYED = ("property", "definition")
_PEOPLE = {"people", "person", "persons", "contacts", "люди", "человек", "контакты"}
_KIN = set(
    "mum mom mother dad father brother sister grandma grandpa wife husband son daughter "
    "мама папа мать отец брат сестра бабушка дедушка жена муж сын дочь".split()
)  # kinds with a $key, asked by their answer's shape
_DATE = re.compile(
    r"^\d{4}(?:-\d{2}(?:-\d{2})?)?$|^\d{1,2}[ .](?:\d{1,2}|[A-Za-zА-Яа-яё]{3,})(?:[ .]\d{4})?$"
)
_MONEY = re.compile(r"[€$£₽]|\b(?:eur|euro|usd|руб|рубл|евро)", re.I)
_PLACE = re.compile(r"city|address|place|where|location|город|адрес|место|где", re.I)
_PERSON = re.compile(r"who|owner|author|manager|mother|father|brother|sister|кто|автор|мама|папа|брат|сестра", re.I)  # fmt: skip
_COUNT = re.compile(r"count|number of|how many|количество|число|сколько", re.I)
_CARRIED = {"ru": re.compile(r"\d|[A-Za-z]{2,}"), "en": re.compile(r"\d|\b[A-Z][a-z]+")}
SHORT = 3  # words: an answer this short that starts with a capital is a name


@dataclass(frozen=True)
class Fact:
    """One thing a note states: its kind (a key of the templates file), the fields its
    questions are filled with, and the answer in the note's words."""

    kind: str  # property, definition, list, sentence or relation
    answer: str
    heading: str = ""  # where in the note, as a heading path
    fields: dict[str, str] = field(default_factory=dict)


@cache
def _file(version: str) -> dict[str, Any]:
    text = resources.files("distill.prompts").joinpath(f"{version}.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def templates(version: str = TEMPLATES) -> dict[str, dict[str, list[str]]]:
    """The question templates of this version, by kind and language."""
    return {kind: v for kind, v in _file(version).items() if not kind.startswith("_")}


def shape(fact: Fact) -> str | None:
    """What kind of answer a keyed fact has: 'when', 'how much', 'how many', 'where',
    'who', 'on date' (its key is a date), or None (asked 'what')."""
    key, answer = fact.fields.get("key", ""), fact.answer.strip()
    if fact.kind not in KEYED:
        return None
    if _DATE.match(key.strip()):
        return "on date"  # a log line: "2025-06-20: first version"
    if _DATE.match(answer):
        return "when"
    if _MONEY.search(answer) and any(c.isdigit() for c in answer):
        return "how much"
    if answer.isdigit() and _COUNT.search(key):
        return "how many"
    return "where" if _PLACE.search(key) else "who" if _PERSON.search(key) else None


def questions(fact: Fact, language: str, version: str = TEMPLATES) -> list[str]:
    """The fact's questions in `language`, filled in, duplicates once: those of its
    shape, then those of its kind (the held-out ones last)."""
    shaped = _file(version)["_shapes"].get(shape(fact) or "", {}).get(language, [])
    return _filled([*shaped, *templates(version)[fact.kind][language]], fact.fields)


def statements(fact: Fact, language: str, version: str = TEMPLATES) -> list[tuple[str, str]]:
    """The fact stated on its own in `language`: (a request for it, the statement), one
    per framing of its kind."""
    fields = {**fact.fields, "answer": fact.answer.rstrip(" .")}
    if fact.kind in ("sentence", "relation"):
        fields["answer"] = fact.answer  # a whole sentence keeps its full stop
    about = _filled(_file(version)["_about"][language], {"subject": _subject(fact)})
    framed = _filled(_file(version)["_statements"][fact.kind][language], fields)
    return [(about[number % len(about)], text) for number, text in enumerate(framed)]


def _stated(fact: Fact) -> str:
    """What makes the fact this one: its kind, fields and answer (two sentences under
    one heading are two facts; a changed answer is another fact)."""
    return f"{fact.kind}:{json.dumps(fact.fields, ensure_ascii=False)}:{fact.answer}"


def _subject(fact: Fact) -> str:
    return fact.fields.get("subject") or fact.fields.get("a", "")


def _filled(wordings: list[str], fields: dict[str, str]) -> list[str]:
    return list(dict.fromkeys(Template(w).safe_substitute(fields) for w in wordings))


def stated_in(fact: Fact) -> tuple[str, ...]:
    """The languages the fact is stated in: the note's, and the other one when the
    fact carries names or numbers over."""
    own = detect_language(fact.answer)
    if own == "mixed":
        return LANGUAGES
    other = "ru" if own == "en" else "en"
    words = fact.answer.split()
    looked_at = " ".join(words if len(words) <= SHORT else words[1:])  # not a capital start
    return (own, other) if _CARRIED[own].search(looked_at) else (own,)


def fact_pairs(
    note: Note, facts: list[Fact], source: str, held_out_per_fact: int, date: datetime | None
) -> list[Pair]:
    """Every fact's questions in both languages (the last held out) and statements."""
    pairs = []
    for fact in facts:
        made = _Made(note, source, date, fact)
        for language in LANGUAGES:
            asked = [q for q in questions(fact, language) if not echoes(q, fact.answer)]
            held = min(held_out_per_fact, len(asked) - 1)
            for number, question in enumerate(asked):
                kept = held > 0 and number >= len(asked) - held
                pairs.append(made.pair(question, fact.answer, language, held_out=kept))
        for language in stated_in(fact):
            pairs += [made.pair(q, said, language) for q, said in statements(fact, language)]
    return pairs


def about_person(note: Note) -> bool:
    """Whether the note is about a person: in a people folder, tagged as one, or titled
    by a kinship word ("Mum", "Брат Костя")."""
    folders = {part.lower() for part in note.path.split("/")[:-1]}
    tags = {tag.lower().split("/")[0] for tag in note.tags}
    first = note.title.split()[0].lower() if note.title.split() else ""
    return bool(folders & _PEOPLE or tags & _PEOPLE or first in _KIN)


def near_miss_pairs(
    note: Note, answered: Callable[[str], bool], date: datetime | None
) -> list[Pair]:
    """The first attribute of `_near_misses` that `answered` (is the question answered
    in the vault?) says nothing answers, asked of the note in both languages and
    answered that the notes do not say it (PLUM: so the adapter declines rather than
    invents); none when the vault answers them all."""
    for number, miss in enumerate(_file(TEMPLATES)["_near_misses"]):
        asked = {lang: _filled(miss[lang], {"subject": note.title}) for lang in LANGUAGES}
        if any(answered(asked[language][0]) for language in LANGUAGES):
            continue
        fields = {"subject": note.title, "absent": str(number)}
        made = _Made(note, NEAR_MISS_SOURCE, date, Fact("absent", asked["en"][1], "", fields))
        return [made.pair(question, answer, lang) for lang, (question, answer) in asked.items()]
    return []


@dataclass(frozen=True)
class _Made:
    """What every pair of one fact shares."""

    note: Note
    source: str
    date: datetime | None
    fact: Fact

    def pair(self, question: str, answer: str, language: str, held_out: bool = False) -> Pair:
        fact = self.fact
        return Pair.make(
            [{"role": "user", "content": question}, {"role": "assistant", "content": answer}],
            note_path=self.note.path,
            source=self.source,
            content_hash=self.note.content_hash,
            generator=GENERATOR,
            heading=fact.heading,
            prompt_version=TEMPLATES,
            language=language,
            held_out=held_out,
            fact=fact_id(self.note.path, fact.heading, _stated(fact)),
            note_date=self.date,
        )
