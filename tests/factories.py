"""The one pair factory of the tests: a question and its answer as a stored pair."""

from __future__ import annotations

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
