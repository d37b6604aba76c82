"""Fact pairs: the facts of each section, each asked several ways in English and Russian.

Restating one fact in many questions is what makes a model remember it (DESIGN
decision 9). Per section (`vault_schema.chunk_note`) the LLM lists the facts with
`questions_per_fact` questions and a short answer per language, the answer in
the questions' language. Each question makes one pair; a question or answer not
written in its language is dropped and recorded as a rejection (a small model
answers in English whatever it is asked). Per fact and language the last
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
    Rejection,
    load_prompt,
    qa_pair,
    texts,
)
from distill.language import written_in
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
        where = f"{note.path} ({heading or 'top'})"
        answer = _ask(note, chunk, text, generator, settings.questions_per_fact)
        if isinstance(answer, GenerationFailure):
            made.failures.append(f"{where}: {answer.reason}")
            continue
        for fact in answer.get("facts", []) if isinstance(answer, dict) else []:
            of_fact = Generated()
            _fact(fact, note, heading, generator, settings, date, of_fact, where)
            made.pairs.extend((pair, text) for pair, _ in of_fact.pairs)
            made.failures.extend(of_fact.failures)
            made.rejections.extend(of_fact.rejections)
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
    made: Generated,
    where: str,
) -> None:
    """Add the fact's pairs in every language to `made` (without their source text),
    and why any of its questions were dropped."""
    if not isinstance(fact, dict):
        return
    statement = fact.get("fact")
    statement = statement.strip() if isinstance(statement, str) else ""
    shared = fact_id(note.path, heading, statement or json.dumps(fact, ensure_ascii=False))
    label = f"{where}: fact {statement[:60]!r}"
    for language in LANGUAGES:
        answer, questions = _asked(fact, language, settings.questions_per_fact, made, label)
        held = min(settings.held_out_per_fact, len(questions) - 1)
        for number, question in enumerate(questions):
            pair = qa_pair(
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
            made.pairs.append((pair, ""))


def _asked(
    fact: dict[str, Any], language: str, count: int, made: Generated, label: str
) -> tuple[str, list[str]]:
    """The fact's answer and questions in `language`, those written in it only; why
    the others were dropped goes to `made`: a failure (no answer) or a rejection."""
    name = LANGUAGES[language]
    answer = fact.get(f"answer_{language}")
    answer = answer.strip() if isinstance(answer, str) else ""
    questions = texts(fact.get(f"questions_{language}"))[:count]
    if not answer:
        made.failures.append(f"{label}: no {name} answer")
        return "", []
    if not written_in(answer, language):
        wrong = f"{label}: the {name} answer is not in {name}: {answer[:60]!r}"
        made.rejections.append(Rejection("language", wrong))
        return "", []
    kept = [question for question in questions if written_in(question, language)]
    made.rejections.extend(
        Rejection("language", f"{label}: not in {name}: {question[:60]!r}")
        for question in questions
        if question not in kept
    )
    return answer, kept
