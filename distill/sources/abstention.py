"""Abstention pairs: plausible questions the note does not answer, answered by saying so.

A model trained only on answers learns to answer everything; these pairs teach
it the reply the chat gives when the notes are silent (`overlay.chat.NOT_IN_NOTES`,
kept equal to `NOT_IN_NOTES` here by a test, as importing the chat loads LlamaIndex).
"""

from __future__ import annotations

from datetime import datetime

from distill.generation import (
    Generated,
    GenerationFailure,
    Generator,
    load_prompt,
    qa_pair,
    texts,
)
from distill.language import detect_language
from distill.sources.dialogues import clean_markup
from vault_schema import Note

SOURCE = "abstention"
PROMPT = "abstention-1"
NOT_IN_NOTES = "I could not find this in your notes."
QUESTIONS_PER_NOTE = 2
MAX_CHARS = 3000  # of the note in the prompt

SCHEMA = {
    "type": "object",
    "properties": {
        "questions": {
            "type": "array",
            "items": {"type": "string"},
            "minItems": 1,
            "maxItems": QUESTIONS_PER_NOTE,
        }
    },
    "required": ["questions"],
}


def abstention_pairs(note: Note, generator: Generator, date: datetime) -> Generated:
    """Up to QUESTIONS_PER_NOTE questions about the note's topic that it leaves open."""
    made = Generated()
    text = clean_markup(note.body)[:MAX_CHARS]
    prompt = load_prompt(PROMPT).render(title=note.title, text=text, count=str(QUESTIONS_PER_NOTE))
    answer = generator.ask(prompt, SCHEMA, "open_questions")
    if isinstance(answer, GenerationFailure):
        made.failures.append(f"{note.path}: {answer.reason}")
        return made
    questions = texts(answer.get("questions")) if isinstance(answer, dict) else []
    for question in questions[:QUESTIONS_PER_NOTE]:
        pair = qa_pair(
            question,
            NOT_IN_NOTES,
            note=note,
            source=SOURCE,
            generator=generator,
            heading="",
            prompt_version=PROMPT,
            language=detect_language(question),
            note_date=date,
        )
        made.pairs.append((pair, text))
    return made
