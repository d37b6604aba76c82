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
from scipy import sparse


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
    """A weighted, directed note graph built once from the store's edges."""

    def __init__(self, notes: Iterable[str], edges: Iterable[Edge], weights: EdgeWeights) -> None:
        self.notes = sorted(set(notes))
        self._index = {note: i for i, note in enumerate(self.notes)}
        self._transition = self._build(edges, weights)

    def _build(self, edges: Iterable[Edge], weights: EdgeWeights) -> sparse.csr_matrix:
        rows: list[int] = []
        cols: list[int] = []
        values: list[float] = []
        for edge in edges:
            source, target = self._index.get(edge.source), self._index.get(edge.target)
            if source is None or target is None or source == target:
                continue
            forward = {"embed": weights.embed, "mention": weights.mention}.get(
                edge.kind, weights.link
            )
            rows += [source, target]
            cols += [target, source]
            # being mentioned is weaker evidence than being linked to, by the same share
            backward = weights.backlink * (weights.mention if edge.kind == "mention" else 1.0)
            values += [forward, backward]
        size = len(self.notes)
        matrix = sparse.csr_matrix((values, (rows, cols)), shape=(size, size), dtype=np.float64)
        matrix.sum_duplicates()
        out_weight = np.asarray(matrix.sum(axis=1)).ravel()
        out_weight[out_weight == 0] = 1.0
        self._degree = np.maximum(out_weight, 1.0)
        return sparse.csr_matrix(sparse.diags(1.0 / out_weight) @ matrix)

    def neighbours(self, note: str) -> list[str]:
        """Notes one step away, by link or backlink."""
        i = self._index.get(note)
        if i is None:
            return []
        return [self.notes[j] for j in self._transition[i].indices]

    def personalized_pagerank(
        self, seeds: Mapping[str, float], damping: float = 0.5, iterations: int = 30
    ) -> dict[str, float]:
        """Degree-normalised visit probabilities of a walk restarting at `seeds` (by weight)."""
        restart = np.zeros(len(self.notes))
        for note, weight in seeds.items():
            if (i := self._index.get(note)) is not None and weight > 0:
                restart[i] += weight
        if restart.sum() == 0:
            return {}
        restart /= restart.sum()
        rank = restart.copy()
        walk = self._transition.T.tocsr()
        for _ in range(iterations):
            spread = walk @ rank
            # Probability stuck at notes without links goes back to the seeds.
            lost = rank.sum() - spread.sum()
            rank = damping * (spread + lost * restart) + (1 - damping) * restart
        rank /= self._degree
        return {self.notes[i]: float(rank[i]) for i in np.flatnonzero(rank > 1e-9)}
