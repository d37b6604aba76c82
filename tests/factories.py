"""The one pair factory of the tests: a question and its answer as a stored pair."""

from __future__ import annotations

import json
from typing import Any

from distill.pairs import Pair

DEFAULTS: dict[str, Any] = {
    "heading": "",
    "content_hash": "h",
    "generator": "none",
    "prompt_version": "test",
    "language": "en",
}


def qa_pair(question: str, answer: str, *, note: str, source: str = "fact", **fields: Any) -> Pair:
    """A pending pair (unless `status` is given) of `note` asking `question`; any other
    field of `Pair` as a keyword."""
    messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    return Pair.make(messages, note_path=note, source=source, **{**DEFAULTS, **fields})


def reply(
    answer_en: str = "17 March 1990",
    answer_ru: str = "17 марта 1990 года",
    questions_en: tuple[str, ...] = (
        "When was Anna born?",
        "What is Anna's birthday?",
        "Anna's birth date?",
    ),
    questions_ru: tuple[str, ...] = (
        "Когда родилась Анна?",
        "Какой день рождения у Анны?",
        "Дата рождения?",
    ),
    questions: tuple[str, ...] = ("What is Anna's favourite film?",),
) -> str:
    """A scripted LLM's JSON reply to every LLM source about Anna's birthday (facts,
    link and abstention questions, judge verdict), for the ScriptedLLM fake."""
    fact = {
        "fact": "Anna was born on 17 March 1990.",
        "questions_en": list(questions_en),
        "answer_en": answer_en,
        "questions_ru": list(questions_ru),
        "answer_ru": answer_ru,
    }
    return json.dumps(
        {
            "facts": [fact],
            "question": "What does Anna's brother do?",
            "answer": "Dima is a sailor at sea until June.",
            "questions": list(questions),
            "grounded": True,
            "score": 1.0,
        }
    )
