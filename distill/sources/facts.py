"""Fact pairs: the facts of each section, each asked several ways in English and Russian.

Restating one fact in many questions is what makes a model remember it (DESIGN
decision 9). Per section (`vault_schema.chunk_note`) the LLM lists the facts with
`questions_per_fact` questions per language and one short answer from the
section's words. Each question makes one pair; per fact and language the last
`held_out_per_fact` questions are held out for evaluation (never trained on),
as long as one question of that language is left to train on.
"""

from __future__ import annotations

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
from distill.pairs import Pair
from distill.sources.dialogues import clean_markup
from overlay.config import DistillSettings
from vault_schema import Chunk, Note, chunk_note, count_tokens

SOURCE = "fact"
PROMPT = "facts-1"
MAX_FACTS = 4  # per section: keeps an answer within a small model's output budget
MIN_SECTION_TOKENS = 8  # a heading with a line under it says too little to ask about


def schema(count: int) -> dict[str, Any]:
    """The JSON schema of the facts of one section, `count` questions per language."""
    questions = {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": count}
    fact = {
        "type": "object",
        "properties": {
            "fact": {"type": "string"},
            "questions_en": questions,
            "questions_ru": questions,
            "answer": {"type": "string"},
        },
        "required": ["fact", "questions_en", "questions_ru", "answer"],
    }
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
            for pair in _fact(fact, note, heading, generator, settings, date):
                made.pairs.append((pair, text))
    return made


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
) -> list[Pair]:
    if not isinstance(fact, dict) or not isinstance(fact.get("answer"), str):
        return []
    answer = fact["answer"].strip()
    if not answer:
        return []
    pairs = []
    for language in ("en", "ru"):
        questions = texts(fact.get(f"questions_{language}"))[: settings.questions_per_fact]
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
                    note_date=date,
                )
            )
    return pairs
