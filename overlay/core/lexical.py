"""Word search over chunks: BM25 (bm25s) with Russian and English stemming.

Words are stemmed by `vault_schema.words` (Russian and English). The index lives
in memory and is rebuilt from the store's chunks when they change; 10,000 notes
take well under a second.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import bm25s
import numpy as np

from vault_schema.words import tokenize

__all__ = ["LexicalIndex", "tokenize"]


class LexicalIndex:
    """BM25 over a fixed set of documents, addressed by the ids they were built with."""

    def __init__(self, documents: Iterable[tuple[str, str]]) -> None:
        pairs = list(documents)
        self.ids: list[str] = [doc_id for doc_id, _ in pairs]
        self._bm25 = bm25s.BM25()
        if pairs:
            self._bm25.index([tokenize(text) for _, text in pairs], show_progress=False)

    def __len__(self) -> int:
        return len(self.ids)

    def scores(self, query: str) -> np.ndarray:
        """The BM25 score of every document, in the order of `ids`."""
        tokens = tokenize(query)
        if not tokens or not self.ids:
            return np.zeros(len(self.ids))
        return np.asarray(self._bm25.get_scores(tokens))

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """The `k` best documents with a positive score, best first."""
        return _top(self.ids, self.scores(query), k)


def _top(ids: Sequence[str], scores: np.ndarray, k: int) -> list[tuple[str, float]]:
    positive = np.flatnonzero(scores > 0)
    best = positive[np.argsort(-scores[positive], kind="stable")][:k]
    return [(ids[i], float(scores[i])) for i in best]
