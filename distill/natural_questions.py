"""Natural questions: asked as a person asks them, written blind, never trained on.

The held-out restatements measure how well the adapter learned the templates'
wording; a person asks in their own words ("What colour is my car?"). A question
file holds such questions, written by someone who never saw the templates, as JSON:
a list of `{"q": question, "lang": "ru"|"en", "answer": [accepted strings], "fact":
optional id}` (`benchmarks/dev_sets/personal-vault-b/memory.json`). An answer is
correct when it contains any accepted string, case-insensitively, ё read as е (the
dev set's own scoring rule). They are asked closed-book, as chat asks them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from overlay.core.chat import Chat, ChatTurn
from overlay.errors import ConfigError
from overlay.progress import Progress, Step

PREFIX = "natural_"  # of the metrics measured on natural questions
LANGUAGES = ("ru", "en")


@dataclass(frozen=True)
class NaturalQuestion:
    """A question as a person asks it, and the strings a right answer contains."""

    question: str
    language: str
    accepted: tuple[str, ...]
    fact: str = ""


def load_questions(path: Path) -> list[NaturalQuestion]:
    """The questions of a file, or a ConfigError saying what is wrong with it."""
    try:
        items = json.loads(path.expanduser().read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot read the question file {path}: {error}") from error
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{path}: expected a JSON list of questions")
    return [_question(item, n, path) for n, item in enumerate(items)]


def _question(item: Any, n: int, path: Path) -> NaturalQuestion:
    accepted = item.get("answer") if isinstance(item, dict) else None
    question = item.get("q") if isinstance(item, dict) else None
    if not isinstance(question, str) or not question.strip():
        raise ConfigError(f"{path}, question {n}: no question text ('q')")
    if (
        not isinstance(accepted, list)
        or not accepted
        or not all(isinstance(a, str) and a.strip() for a in accepted)
    ):
        raise ConfigError(f"{path}, question {n}: 'answer' must list the accepted strings")
    return NaturalQuestion(
        question.strip(), str(item.get("lang", "")), tuple(accepted), str(item.get("fact", ""))
    )


def questions_id(questions: Sequence[NaturalQuestion]) -> str:
    """A short hash of the questions asked: evaluations on the same set share it."""
    text = json.dumps([[q.question, *q.accepted] for q in questions], ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def is_correct(answer: str, accepted: Sequence[str]) -> bool:
    """Whether `answer` contains any accepted string (case-insensitive, ё as е)."""
    said = _folded(answer)
    return any(_folded(string) in said for string in accepted)


def _folded(text: str) -> str:
    return text.casefold().replace("ё", "е")


def ask(
    questions: Sequence[NaturalQuestion], chats: dict[str, Chat], progress: Progress | None = None
) -> list[dict[str, Any]]:
    """Each question answered closed-book by every model; a row per question."""
    rows = []
    for done, question in enumerate(questions, 1):
        turn = [ChatTurn("user", question.question)]
        row: dict[str, Any] = {
            "question": question.question,
            "accepted": list(question.accepted),
            "language": question.language,
            "fact": question.fact,
        }
        for name, chat in chats.items():
            row[name] = said = chat.answer(turn, rag=False).text
            row[f"{name}_recalled"] = is_correct(said, question.accepted)
        rows.append(row)
        if progress is not None:
            progress(Step("asking the natural questions", done, len(questions)))
    return rows


def natural_metrics(
    questions: Sequence[NaturalQuestion], rows: Sequence[dict[str, Any]], models: Sequence[str]
) -> dict[str, Any]:
    """`natural_recall_<model>` overall and per language, the counts and the set's id."""
    metrics: dict[str, Any] = {
        f"{PREFIX}questions": len(questions),
        f"{PREFIX}question_set": questions_id(questions),
    }
    for language in (None, *LANGUAGES):
        asked = [row for row in rows if language is None or row["language"] == language]
        suffix = f"_{language}" if language else ""
        if language:
            metrics[f"{PREFIX}questions{suffix}"] = len(asked)
        for model in models:
            recalled = [row[f"{model}_recalled"] for row in asked]
            share = round(sum(recalled) / len(recalled), 4) if recalled else None
            metrics[f"{PREFIX}recall_{model}{suffix}"] = share
    return metrics
