"""Fact pairs: the facts of each section, each asked several ways in English and Russian.

Restating one fact in many questions is what makes a model remember it (DESIGN
decision 9). Per section (`vault_schema.chunk_note`) the LLM lists the facts with
`questions_per_fact` questions and a short answer per language, the answer in
the questions' language. Each question makes one pair; a question or answer not
written in its language is dropped and recorded (a small model answers in
English whatever it is asked). Per fact and language the last
`held_out_per_fact` questions are held out for evaluation (never trained on), as
long as one question of that language is left to train on. All the pairs of one
fact share its `fact` id, so an evaluation can tell a held-out paraphrase's
training siblings.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from distill.generation import (
    Generated,
    GenerationFailure,
    Generator,
    load_prompt,
    qa_pair,
    texts,
)
from distill.language import written_in
from distill.pairs import Pair
from distill.sources.dialogues import clean_markup
from overlay.config import DistillSettings
from vault_schema import Chunk, Note, chunk_note, count_tokens

SOURCE = "fact"
PROMPT = "facts-2"
LANGUAGES = {"en": "English", "ru": "Russian"}
MAX_FACTS = 4  # per section: keeps an answer within a small model's output budget
MIN_SECTION_TOKENS = 8  # a heading with a line under it says too little to ask about


def schema(count: int) -> dict[str, Any]:
    """The JSON schema of the facts of one section, `count` questions per language."""
    questions = {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": count}
    properties: dict[str, Any] = {"fact": {"type": "string"}}
    for language in LANGUAGES:  # each answer right after its questions, in their language
        properties[f"questions_{language}"] = questions
        properties[f"answer_{language}"] = {"type": "string"}
    fact = {"type": "object", "properties": properties, "required": list(properties)}
    return {
        "type": "object",
        "properties": {"facts": {"type": "array", "items": fact, "maxItems": MAX_FACTS}},
        "required": ["facts"],
    }


def fact_pairs(
    note: Note, generator: Generator, settings: DistillSettings, date: datetime
) -> Generated:
    """The fact pairs of every section of the note worth asking about."""
    made = Generated()
    for chunk in chunk_note(note):
        text = clean_markup(chunk.text)
        if count_tokens(text) < MIN_SECTION_TOKENS:
            continue
        heading = " > ".join(chunk.heading_path)
        answer = _ask(note, chunk, text, generator, settings.questions_per_fact)
        if isinstance(answer, GenerationFailure):
            made.failures.append(f"{note.path} ({heading or 'top'}): {answer.reason}")
            continue
        for fact in answer.get("facts", []) if isinstance(answer, dict) else []:
            pairs, problems = _fact(fact, note, heading, generator, settings, date)
            made.pairs.extend((pair, text) for pair in pairs)
            made.failures.extend(f"{note.path} ({heading or 'top'}): {p}" for p in problems)
    return made


def fact_id(note_path: str, heading: str, statement: str) -> str:
    """The id the pairs of one fact share (every language, held out or not)."""
    text = json.dumps([note_path, heading, statement], ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _ask(note: Note, chunk: Chunk, text: str, generator: Generator, count: int) -> Any:
    prompt = load_prompt(PROMPT).render(
        title=note.title, heading=" > ".join(chunk.heading_path), text=text, count=str(count)
    )
    return generator.ask(prompt, schema(count), "facts")


def _fact(
    fact: Any,
    note: Note,
    heading: str,
    generator: Generator,
    settings: DistillSettings,
    date: datetime,
) -> tuple[list[Pair], list[str]]:
    """The fact's pairs in every language, and why any of its questions were dropped."""
    if not isinstance(fact, dict):
        return [], []
    statement = fact.get("fact")
    statement = statement.strip() if isinstance(statement, str) else ""
    shared = fact_id(note.path, heading, statement or json.dumps(fact, ensure_ascii=False))
    pairs: list[Pair] = []
    problems: list[str] = []
    for language in LANGUAGES:
        answer, questions, dropped = _asked(fact, language, settings.questions_per_fact)
        problems.extend(f"fact {statement[:60]!r}: {reason}" for reason in dropped)
        held = min(settings.held_out_per_fact, len(questions) - 1)
        for number, question in enumerate(questions):
            pairs.append(
                qa_pair(
                    question,
                    answer,
                    note=note,
                    source=SOURCE,
                    generator=generator,
                    heading=heading,
                    prompt_version=PROMPT,
                    language=language,
                    held_out=held > 0 and number >= len(questions) - held,
                    fact=shared,
                    note_date=date,
                )
            )
    return pairs, problems


def _asked(fact: dict[str, Any], language: str, count: int) -> tuple[str, list[str], list[str]]:
    """The fact's answer and questions in `language`, those written in it only, and
    why the others were dropped."""
    name = LANGUAGES[language]
    answer = fact.get(f"answer_{language}")
    answer = answer.strip() if isinstance(answer, str) else ""
    questions = texts(fact.get(f"questions_{language}"))[:count]
    if not answer:
        return "", [], [f"no {name} answer"]
    if not written_in(answer, language):
        return "", [], [f"the {name} answer is not in {name}: {answer[:60]!r}"]
    kept = [question for question in questions if written_in(question, language)]
    dropped = [
        f"not in {name}: {question[:60]!r}" for question in questions if question not in kept
    ]
    return answer, kept, dropped
