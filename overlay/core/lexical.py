"""Word search over chunks: BM25 with Russian and English stemming.

Words are stemmed by `vault_schema.words` (Russian and English). Scores are Lucene's
BM25 (k1 1.5, b 0.75, idf log(1 + (N - df + 0.5) / (df + 0.5))), as bm25s computes them,
from postings kept in memory: one sparse row of term frequencies per word, built at
once for the documents an index starts with, and a small list per word for documents
added since. `changed` returns an index with documents removed and added, without
reading the others again, so a sync of one note costs that note; the scores are exact
BM25 over the documents alive (N, document frequencies and the average length follow).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt
from scipy import sparse

from vault_schema.words import tokenize

__all__ = ["LexicalIndex", "tokenize"]

K1, B = 1.5, 0.75
_CACHED_QUERIES = 16


class LexicalIndex:
    """BM25 over documents addressed by the ids they were added with; rows are positions
    in `ids` (a removed document keeps its row, scored 0)."""

    def __init__(self, documents: Iterable[tuple[str, str]] = ()) -> None:
        pairs = list(documents)
        self.ids: list[str] = [doc_id for doc_id, _ in pairs]
        self.documents_read = len(pairs)  # documents tokenized to make this index
        self._vocab: dict[str, int] = {}  # shared by the indexes `changed` makes: append-only
        tokens = [tokenize(text) for _, text in pairs]
        self._lengths = np.array([len(t) for t in tokens], dtype=np.float64)
        self._alive = np.ones(len(pairs), dtype=bool)
        self._postings = self._base(tokens)  # term row -> (document rows, frequencies)
        self._added: dict[int, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] = {}
        self._df = np.diff(self._postings.indptr).astype(np.float64)
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, npt.NDArray[np.float64]] = OrderedDict()

    def _base(self, tokens: list[list[str]]) -> sparse.csr_matrix:
        terms = [self._vocab.setdefault(t, len(self._vocab)) for doc in tokens for t in doc]
        rows = np.repeat(np.arange(len(tokens)), [len(doc) for doc in tokens])
        matrix = sparse.csr_matrix(
            (np.ones(len(terms)), (np.array(terms, dtype=np.int64), rows)),
            shape=(len(self._vocab), len(tokens)),
        )
        matrix.sum_duplicates()
        return matrix

    def __len__(self) -> int:
        return int(self._alive.sum())

    @property
    def rows(self) -> int:
        """Rows held, removed documents included."""
        return len(self.ids)

    @property
    def added_rows(self) -> int:
        """Rows added by `changed` since the index was built (the postings kept in lists)."""
        return len(self.ids) - self._postings.shape[1]

    def changed(self, removed: dict[int, str], added: Sequence[tuple[str, str]]) -> LexicalIndex:
        """A new index without the rows `removed` (row -> the text it was built from) and
        with the documents `added`; this one is left as it is."""
        fresh = object.__new__(LexicalIndex)
        fresh.__dict__.update(self.__dict__)
        fresh._lock, fresh._cache = threading.Lock(), OrderedDict()
        fresh.documents_read = len(removed) + len(added)
        fresh._alive = self._alive.copy()
        fresh._df = self._df.copy()
        for row, text in removed.items():
            if fresh._alive[row]:
                fresh._alive[row] = False
                fresh._df[[self._vocab[t] for t in set(tokenize(text))]] -= 1
        tokens = [tokenize(text) for _, text in added]
        fresh._added = dict(self._added)
        first = len(self.ids)
        fresh.ids = self.ids + [doc_id for doc_id, _ in added]
        fresh._lengths = np.concatenate([self._lengths, [len(t) for t in tokens]])
        fresh._alive = np.concatenate([fresh._alive, np.ones(len(added), dtype=bool)])
        fresh._add_postings(first, tokens)
        return fresh

    def _add_postings(self, first: int, tokens: list[list[str]]) -> None:
        counts: dict[int, dict[int, int]] = {}
        for offset, doc in enumerate(tokens):
            for token in doc:
                term = self._vocab.setdefault(token, len(self._vocab))
                per_doc = counts.setdefault(term, {})
                per_doc[first + offset] = per_doc.get(first + offset, 0) + 1
        if len(self._vocab) > len(self._df):
            self._df = np.concatenate([self._df, np.zeros(len(self._vocab) - len(self._df))])
        for term, per_doc in counts.items():
            rows = np.fromiter(per_doc, dtype=np.int64)
            freqs = np.fromiter(per_doc.values(), dtype=np.float64)
            if term in self._added:
                held_rows, held_freqs = self._added[term]
                rows, freqs = np.concatenate([held_rows, rows]), np.concatenate([held_freqs, freqs])
            self._added[term] = (rows, freqs)
            self._df[term] += len(per_doc)

    def scores(self, query: str) -> npt.NDArray[np.float64]:
        """The BM25 score of every row (0 for removed ones), in the order of `ids`; the last
        few queries' scores are kept, so a query is scored once however often it is asked."""
        with self._lock:
            if (held := self._cache.get(query)) is not None:
                self._cache.move_to_end(query)
                return held
        result = self._score(query)
        result.flags.writeable = False
        with self._lock:
            self._cache[query] = result
            while len(self._cache) > _CACHED_QUERIES:
                self._cache.popitem(last=False)
        return result

    def _score(self, query: str) -> npt.NDArray[np.float64]:
        scores = np.zeros(len(self.ids))
        alive = len(self)
        terms = [t for token in tokenize(query) if (t := self._vocab.get(token)) is not None]
        terms = [t for t in terms if t < len(self._df) and self._df[t] > 0]
        if not terms or not alive:
            return scores
        norm = K1 * (1 - B + B * self._lengths / (self._lengths[self._alive].sum() / alive))
        for term in terms:
            df = self._df[term]
            idf = math.log(1 + (alive - df + 0.5) / (df + 0.5))
            for rows, freqs in self._term_postings(term):
                scores[rows] += idf * freqs / (freqs + norm[rows])
        scores[~self._alive] = 0.0
        return scores

    def _term_postings(
        self, term: int
    ) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]]:
        found = []
        if term < self._postings.shape[0]:
            start, end = self._postings.indptr[term], self._postings.indptr[term + 1]
            found.append((self._postings.indices[start:end], self._postings.data[start:end]))
        if term in self._added:
            found.append(self._added[term])
        return found

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """The `k` best documents with a positive score, best first."""
        return _top(self.ids, self.scores(query), k)


def _top(ids: Sequence[str], scores: npt.NDArray[np.float64], k: int) -> list[tuple[str, float]]:
    positive = np.flatnonzero(scores > 0)
    best = positive[np.argsort(-scores[positive], kind="stable")][:k]
    return [(ids[i], float(scores[i])) for i in best]
