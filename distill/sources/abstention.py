"""Abstention pairs: plausible questions the note does not answer, answered by saying so.

A model trained only on answers learns to answer everything; these pairs teach
it the reply the chat gives when the notes are silent (`overlay.core.chat.NOT_IN_NOTES`,
kept equal to `NOT_IN_NOTES` here by a test, as importing the chat loads LlamaIndex).

That reply claims the notes are silent, so a question the notes do answer would
teach the model to refuse what it should know. Each question is checked against
the note and, through BM25 (`overlay.core.lexical`), against the other notes of the
vault: when at least `ANSWERED_SHARE` of its content words occur in one of them,
it is dropped and recorded as a rejection. A cheap, word-level check: it errs on dropping, which
costs a pair, never on keeping, which would cost a fact.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from distill.generation import (
    Generated,
    GenerationFailure,
    Generator,
    Rejection,
    load_prompt,
    qa_pair,
    texts,
)
from distill.language import detect_language
from distill.sources.dialogues import clean_markup
from overlay.core.lexical import LexicalIndex, tokenize
from vault_schema import Note

SOURCE = "abstention"
PROMPT = "abstention-1"
NOT_IN_NOTES = "I could not find this in your notes."
QUESTIONS_PER_NOTE = 2
MAX_CHARS = 3000  # of the note in the prompt
ANSWERED_SHARE = 0.7  # of a question's content words found in a note: it may answer it
CANDIDATES = 3  # other notes checked per question, the best by BM25

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


class NoteTexts:
    """The cleaned texts of the vault's readable, non-private notes: where a question
    might be answered."""

    def __init__(self, texts: Iterable[tuple[str, str]]) -> None:
        documents = list(texts)
        self._words = {path: set(tokenize(text)) for path, text in documents}
        self._index = LexicalIndex(documents)

    def answering(self, question: str, note: Note) -> str | None:
        """The path of a note (`note` itself first) whose words cover the question's."""
        if covered(question, set(tokenize(clean_markup(note.body)))):
            return note.path
        for path, _ in self._index.search(question, CANDIDATES):
            if path != note.path and covered(question, self._words[path]):
                return path
        return None


def covered(question: str, words: set[str]) -> bool:
    """Whether at least ANSWERED_SHARE of the question's content words are in `words`
    (stemmed as `overlay.core.lexical.tokenize` does)."""
    asked = tokenize(question)
    return bool(asked) and sum(word in words for word in asked) >= ANSWERED_SHARE * len(asked)


def abstention_pairs(
    note: Note, generator: Generator, date: datetime, notes: NoteTexts | None = None
) -> Generated:
    """Up to QUESTIONS_PER_NOTE questions about the note's topic that it leaves open,
    and that no other note of `notes` answers either."""
    made = Generated()
    text = clean_markup(note.body)[:MAX_CHARS]
    prompt = load_prompt(PROMPT).render(title=note.title, text=text, count=str(QUESTIONS_PER_NOTE))
    answer = generator.ask(prompt, SCHEMA, "open_questions")
    if isinstance(answer, GenerationFailure):
        made.failures.append(f"{note.path}: {answer.reason}")
        return made
    questions = texts(answer.get("questions")) if isinstance(answer, dict) else []
    notes = notes or NoteTexts([])
    for question in questions:
        if len(made.pairs) == QUESTIONS_PER_NOTE:
            break
        answered = notes.answering(question, note)
        if answered is not None:
            made.rejections.append(
                Rejection("answered", f"{note.path}: {answered} answers {question[:60]!r}")
            )
            continue
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
