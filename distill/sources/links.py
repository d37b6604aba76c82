"""Link pairs: questions that need two notes the person linked (the links are the entity graph).

For a note and each of the first few notes it links to, the LLM writes one
question whose answer needs both notes, and the answer from their words. The
pair belongs to the linking note and is grounded in both texts. Its language is
the question's; an answer in another language is dropped and recorded as a
rejection.
"""

from __future__ import annotations

from datetime import datetime

from distill.generation import (
    Generated,
    GenerationFailure,
    Generator,
    Rejection,
    load_prompt,
    qa_pair,
)
from distill.language import detect_language, written_in
from distill.sources.dialogues import clean_markup
from vault_schema import Note

SOURCE = "link"
PROMPT = "links-1"
MAX_LINKS = 3  # linked notes asked about per note
MAX_CHARS = 1500  # of each note in the prompt: two notes must fit a small context

SCHEMA = {
    "type": "object",
    "properties": {"question": {"type": "string"}, "answer": {"type": "string"}},
    "required": ["question", "answer"],
}


def link_pairs(note: Note, linked: list[Note], generator: Generator, date: datetime) -> Generated:
    """One pair per linked note (up to MAX_LINKS) that needs both notes to answer."""
    made = Generated()
    text = clean_markup(note.body)[:MAX_CHARS]
    for other in linked[:MAX_LINKS]:
        other_text = clean_markup(other.body)[:MAX_CHARS]
        prompt = load_prompt(PROMPT).render(
            title_a=note.title, text_a=text, title_b=other.title, text_b=other_text
        )
        answer = generator.ask(prompt, SCHEMA, "link_question")
        if isinstance(answer, GenerationFailure):
            made.failures.append(f"{note.path} + {other.path}: {answer.reason}")
            continue
        question = str(answer.get("question", "")).strip() if isinstance(answer, dict) else ""
        reply = str(answer.get("answer", "")).strip() if isinstance(answer, dict) else ""
        if not (question and reply):
            made.failures.append(f"{note.path} + {other.path}: {SOURCE}: empty question or answer")
            continue
        language = detect_language(question)
        if language != "mixed" and not written_in(reply, language):
            wrong = (
                f"{note.path} + {other.path}: {SOURCE}: the answer is not in the question's "
                f"language ({language}): {reply[:60]!r}"
            )
            made.rejections.append(Rejection("language", wrong))
            continue
        pair = qa_pair(
            question,
            reply,
            note=note,
            source=SOURCE,
            generator=generator,
            heading=other.path,  # the other note: where the second half of the answer is
            prompt_version=PROMPT,
            language=language,
            note_date=date,
        )
        made.pairs.append((pair, f"{text}\n\n{other_text}"))
    return made
