"""Whether the notes hold the answer to a question: the gate chat passes before it answers.

A small model asked to abstain invents an answer anyway, so the decision is made from
retrieval's evidence: a note the question names, a word match (BM25), or a chunk close
enough in meaning (cosine). The multilingual embedder scores a right match across
languages (an English question, a Russian note) lower than a right match in one
language, and an unrelated note in the question's own language higher than an
unrelated one in the other; so a chunk in the other language that is still the nearest
is strong evidence, and it is judged by its own threshold, `min_relevance_across`.
Both thresholds are measured per language pair by `benchmarks/abstention.py`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from overlay.config import RetrievalSettings
from overlay.core.answers import sentences
from overlay.core.retrieval import Retrieval, SearchHit

_CYRILLIC = re.compile(r"[А-Яа-яЁё]")
_LATIN = re.compile(r"[A-Za-z]")


def language(text: str) -> str:
    """'ru' when a text is written mostly in Cyrillic, else 'en'."""
    return "ru" if len(_CYRILLIC.findall(text)) > len(_LATIN.findall(text)) else "en"


@dataclass(frozen=True, slots=True)
class Evidence:
    """How strongly retrieval says the notes hold the answer."""

    best_dense: float  # cosine similarity of the nearest chunk
    best_lexical: float  # BM25 score of the best word match
    named: bool  # the question names a note that was found
    pair: str  # 'en→ru': the question's language → that of the nearest chunk

    @property
    def across(self) -> bool:
        source, target = self.pair.split("→")
        return source != target

    def holds(self, settings: RetrievalSettings) -> bool:
        threshold = settings.min_relevance_across if self.across else settings.min_relevance
        return (
            self.named
            or self.best_dense >= threshold
            or self.best_lexical >= settings.min_word_relevance
        )


def evidence(question: str, found: Retrieval) -> Evidence:
    asked = language(question)
    nearest = _nearest(found.hits)
    # A chunk in the other language counts across languages only when it is the nearest
    # of all candidates, against the embedder's pull to the question's own language, and
    # says something itself (a hub of links or a template is no evidence of a fact).
    if (
        nearest is not None
        and (nearest.dense or 0.0) >= found.best_dense - 1e-6
        and language(nearest.text) != asked
        and sentences(nearest.text)
    ):
        pair = f"{asked}→{language(nearest.text)}"
        return Evidence(nearest.dense or 0.0, found.best_lexical, found.named, pair)
    return Evidence(found.best_dense, found.best_lexical, found.named, f"{asked}→{asked}")


def holds_answer(question: str, found: Retrieval, settings: RetrievalSettings) -> bool:
    """Whether the notes plausibly hold the answer to `question` (see the module's note)."""
    return bool(found.hits) and evidence(question, found).holds(settings)


def _nearest(hits: Sequence[SearchHit]) -> SearchHit | None:
    scored = [hit for hit in hits if hit.dense is not None]
    return max(scored, key=lambda hit: hit.dense or 0.0) if scored else None
