"""The person's link graph, and Personalized PageRank over it.

Retrieval seeds the walk with the notes that dense and word search found, then
lets relevance flow along the links the person wrote (DESIGN decision 5): a
note that the hits link to, or that links to them, rises even when it shares
no words with the question. Each note's outgoing weight is divided by its
degree, so hub notes (an index, a daily note linking everything) pass on only
a thin share to each neighbour; and a note's final score is its visit
probability divided by its degree, since a walk visits any note in proportion
to its degree regardless of the question (degree-normalised PageRank), which
keeps hubs from swamping the result.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse

TOLERANCE = 1e-6  # the walk stops once an iteration moves less probability than this


@dataclass(frozen=True, slots=True)
class Edge:
    source: str  # note path
    target: str  # note path (resolved links only)
    kind: str  # 'wiki', 'embed', 'markdown', 'property', or 'mention' (unlinked)


@dataclass(frozen=True, slots=True)
class EdgeWeights:
    link: float = 1.0  # source -> target, as written
    backlink: float = 0.5  # target -> source: being linked to is evidence too
    embed: float = 1.0  # an embed puts the target's text inside the source
    mention: float = 0.3  # the target's name written unlinked: weaker evidence than a link


class LinkGraph:
    """A weighted, directed note graph: the edges are kept as arrays, the walk's matrix is
    built from them once, and `changed` returns a graph with some notes' edges replaced
    without going through the others' again."""

    def __init__(self, notes: Iterable[str], edges: Iterable[Edge], weights: EdgeWeights) -> None:
        self.notes = sorted(set(notes))
        self._index = {note: i for i, note in enumerate(self.notes)}
        self._weights = weights
        self._build(*self._arrays(edges))

    def _arrays(
        self, edges: Iterable[Edge]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Both directions of each edge between known notes, weighted by kind."""
        w = self._weights
        rows: list[int] = []
        cols: list[int] = []
        values: list[float] = []
        for edge in edges:
            source, target = self._index.get(edge.source), self._index.get(edge.target)
            if source is None or target is None or source == target:
                continue
            forward = {"embed": w.embed, "mention": w.mention}.get(edge.kind, w.link)
            rows += [source, target]
            cols += [target, source]
            # being mentioned is weaker evidence than being linked to, by the same share
            values += [forward, w.backlink * (w.mention if edge.kind == "mention" else 1.0)]
        return np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64), np.array(values)

    def _build(
        self,
        sources: npt.NDArray[np.int64],
        targets: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
    ) -> None:
        self._adjacency = _matrix(sources, targets, values, len(self.notes))
        self._incoming = self._adjacency.T.tocsr()  # the walk's matrix: where visits come from
        self._set_out_weight(np.asarray(self._adjacency.sum(axis=1)).ravel())

    def _set_out_weight(self, out_weight: npt.NDArray[np.float64]) -> None:
        self._out_weight = out_weight
        self._spread = 1.0 / np.where(out_weight > 1e-12, out_weight, 1.0)
        self._degree = np.maximum(out_weight, 1.0)

    def changed(self, notes: Iterable[str], edges: Iterable[Edge]) -> LinkGraph:
        """A graph whose edges touching `notes` (new, rewritten or deleted) are `edges`
        (every edge from or to one of them, as the store holds it now). The matrices are
        patched with the difference, not built again: a sparse sum is all the vault costs."""
        fresh = object.__new__(LinkGraph)
        touched = set(notes)
        fresh.notes = self.notes + sorted(touched - self._index.keys())
        fresh._index = {**self._index, **{n: i for i, n in enumerate(fresh.notes)}}
        fresh._weights = self._weights
        size = len(fresh.notes)
        ids = np.array(sorted(i for n in touched if (i := self._index.get(n)) is not None))
        delta = _matrix(*fresh._arrays(edges), size) - _grown(self._touching(ids), size)
        fresh._adjacency = _grown(self._adjacency, size) + delta
        fresh._adjacency.eliminate_zeros()  # a removed edge's entry is exactly 0
        fresh._incoming = _grown(self._incoming, size) + delta.T.tocsr()
        fresh._incoming.eliminate_zeros()
        out = np.concatenate([self._out_weight, np.zeros(size - len(self._out_weight))])
        fresh._set_out_weight(out + np.asarray(delta.sum(axis=1)).ravel())
        return fresh

    def _touching(self, ids: npt.NDArray[np.int64]) -> sparse.csr_matrix:
        """The entries of the adjacency matrix in the rows or the columns `ids`."""
        size = len(self.notes)
        if not len(ids):
            return sparse.csr_matrix((size, size))
        rows = self._adjacency[ids].tocoo()
        cols = self._incoming[ids].tocoo()  # row r of `incoming` is column r of adjacency
        outside = ~np.isin(cols.col, ids)  # an entry in both was taken with the rows
        return _matrix(
            np.concatenate([ids[rows.row], cols.col[outside]]),
            np.concatenate([rows.col, ids[cols.row[outside]]]),
            np.concatenate([rows.data, cols.data[outside]]),
            size,
        )

    def neighbours(self, note: str) -> list[str]:
        """Notes one step away, by link or backlink."""
        i = self._index.get(note)
        if i is None:
            return []
        row = self._adjacency[i]
        return [self.notes[j] for j in row.indices[row.data > 0]]

    def personalized_pagerank(
        self,
        seeds: Mapping[str, float],
        damping: float = 0.5,
        iterations: int = 30,
        limit: int | None = None,
    ) -> dict[str, float]:
        """Degree-normalised visit probabilities of a walk restarting at `seeds` (by weight);
        of the `limit` best notes and the seeds when given (not a vault's worth per query)."""
        restart = np.zeros(len(self.notes))
        for note, weight in seeds.items():
            if (i := self._index.get(note)) is not None and weight > 0:
                restart[i] += weight
        if restart.sum() == 0:
            return {}
        restart /= restart.sum()
        rank = restart.copy()
        for _ in range(iterations):
            spread = self._incoming @ (rank * self._spread)
            # Probability stuck at notes without links goes back to the seeds.
            lost = rank.sum() - spread.sum()
            previous, rank = rank, damping * (spread + lost * restart) + (1 - damping) * restart
            if np.abs(rank - previous).sum() < TOLERANCE:
                break
        rank /= self._degree
        reached = np.flatnonzero(rank > 1e-9)
        if limit is not None and len(reached) > limit:
            best = reached[np.argpartition(-rank[reached], limit - 1)[:limit]]
            reached = np.union1d(best, np.flatnonzero(restart > 0))  # the seeds' own too
        return {self.notes[i]: float(rank[i]) for i in reached}


def _matrix(
    sources: npt.NDArray[np.int64],
    targets: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    size: int,
) -> sparse.csr_matrix:
    matrix = sparse.csr_matrix((values, (sources, targets)), shape=(size, size), dtype=np.float64)
    matrix.sum_duplicates()
    return matrix


def _grown(matrix: sparse.csr_matrix, size: int) -> sparse.csr_matrix:
    """`matrix` with empty rows and columns added up to `size` (its arrays shared)."""
    extra = np.full(size - matrix.shape[0], matrix.indptr[-1], dtype=matrix.indptr.dtype)
    return sparse.csr_matrix(
        (matrix.data, matrix.indices, np.concatenate([matrix.indptr, extra])), shape=(size, size)
    )
