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
        self._sources, self._targets, self._values = self._arrays(edges)
        self._build()

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

    def _build(self) -> None:
        size = len(self.notes)
        matrix = sparse.csr_matrix(
            (self._values, (self._sources, self._targets)), shape=(size, size), dtype=np.float64
        )
        matrix.sum_duplicates()
        out_weight = np.asarray(matrix.sum(axis=1)).ravel()
        out_weight[out_weight == 0] = 1.0
        self._degree = np.maximum(out_weight, 1.0)
        self._transition = sparse.csr_matrix(sparse.diags(1.0 / out_weight) @ matrix)
        self._walk = self._transition.T.tocsr()  # where each note's visits come from

    def changed(self, notes: Iterable[str], edges: Iterable[Edge]) -> LinkGraph:
        """A graph whose edges touching `notes` (new, rewritten or deleted) are `edges`
        (every edge from or to one of them, as the store holds it now)."""
        fresh = object.__new__(LinkGraph)
        touched = set(notes)
        fresh.notes = self.notes + sorted(touched - self._index.keys())
        fresh._index = {**self._index, **{n: i for i, n in enumerate(fresh.notes)}}
        fresh._weights = self._weights
        ids = np.array([fresh._index[note] for note in touched], dtype=np.int64)
        keep = ~(np.isin(self._sources, ids) | np.isin(self._targets, ids))
        sources, targets, values = fresh._arrays(edges)
        fresh._sources = np.concatenate([self._sources[keep], sources])
        fresh._targets = np.concatenate([self._targets[keep], targets])
        fresh._values = np.concatenate([self._values[keep], values])
        fresh._build()
        return fresh

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
        for _ in range(iterations):
            spread = self._walk @ rank
            # Probability stuck at notes without links goes back to the seeds.
            lost = rank.sum() - spread.sum()
            rank = damping * (spread + lost * restart) + (1 - damping) * restart
        rank /= self._degree
        return {self.notes[i]: float(rank[i]) for i in np.flatnonzero(rank > 1e-9)}
