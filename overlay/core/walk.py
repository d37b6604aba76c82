"""The walk: fused hits re-ranked by Personalized PageRank over the link graph
(DESIGN decision 5), then chunks picked from the best notes with diversity.

The graph comes from the retrieval snapshot of the index's generation
(`overlay.core.snapshot`), so a query pays for the walk, never for building the graph.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle

from overlay.config import RetrievalSettings
from overlay.core.nodes import best_chunk_node
from overlay.core.snapshot import RetrievalState


class LinkGraphReranker(BaseNodePostprocessor):
    """Re-ranks fused hits with Personalized PageRank over the link graph, then picks
    chunks from the best notes with diversity.

    The walk restarts at the notes of the hits (weighted by their fused score) and at
    notes named in the question; notes the walk reaches that no search found join with
    their best-matching chunk, which is how a second hop enters the answer.
    """

    settings: RetrievalSettings
    top_k: int
    use_graph: bool = True
    use_mentions: bool = True
    _state: RetrievalState = PrivateAttr()

    def __init__(self, state: RetrievalState, **data: Any) -> None:
        super().__init__(**data)
        self._state = state

    @classmethod
    def class_name(cls) -> str:
        return "LinkGraphReranker"

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        query = query_bundle.query_str if query_bundle else ""
        seeds = _seed_weights(nodes, self.top_k)
        graph = self._walk(seeds)
        w = self.settings.graph_weight if self.use_graph else 0.0
        final = {
            note: (1 - w) * seeds.get(note, 0.0) + w * graph.get(note, 0.0)
            for note in {*seeds, *graph}
        }
        # The search's best hit and the notes the question names are not outranked by what
        # the walk adds (a note linked only from the best hit would be, by its low degree).
        firm = {note for note, weight in seeds.items() if weight >= 1.0}
        walked = max((score for note, score in final.items() if note not in firm), default=0.0)
        for note in firm:
            final[note] = max(final[note], walked)
        ranked = sorted(final, key=lambda n: (-final[n], n not in firm))[: self.top_k * 2]
        by_note: dict[str, list[NodeWithScore]] = defaultdict(list)
        for node in nodes:
            by_note[node.node.metadata["note_path"]].append(node)
        for note in ranked:
            if note not in by_note:
                extra = best_chunk_node(self._state.current(), note, query)
                by_note[note] = [extra] if extra else []
        for note, note_nodes in by_note.items():
            for node in note_nodes:
                node.node.metadata["graph"] = graph.get(note) if self.use_graph else None
        return self._pick(ranked, by_note, final)

    def _walk(self, seeds: dict[str, float]) -> dict[str, float]:
        """PageRank from the seeds, scaled so the best note scores 1."""
        if not self.use_graph or not seeds:
            return {}
        graph = self._state.current().graph
        # only the best few can rank among the top_k * 2 notes kept beside the seeds
        limit = 2 * self.top_k + len(seeds)
        scores = graph.personalized_pagerank(seeds, self.settings.damping, limit=limit)
        top = max(scores.values(), default=1.0) or 1.0
        return {note: score / top for note, score in scores.items()}

    def _pick(
        self,
        ranked: list[str],
        by_note: dict[str, list[NodeWithScore]],
        final: dict[str, float],
    ) -> list[NodeWithScore]:
        """Round-robin over the best notes: their best chunk first, then their second..."""
        picked: list[NodeWithScore] = []
        for round_ in range(self.settings.max_chunks_per_note):
            for note in ranked:
                candidates = sorted(by_note[note], key=lambda n: -(n.score or 0.0))
                if round_ < len(candidates):
                    node = candidates[round_]
                    node.score = final[note] - round_ * 1e-3
                    picked.append(node)
            if len(picked) >= self.top_k:
                break
        picked.sort(key=lambda n: -(n.score or 0.0))
        return picked[: self.top_k]


def _seed_weights(nodes: Iterable[NodeWithScore], limit: int) -> dict[str, float]:
    """The `limit` best notes, weighted 1/(1 + rank); notes named in the question count fully.

    Fused scores are too flat to weigh seeds by (reciprocal ranks of 61 and 70 differ by
    little), so the walk restarts by rank: the best note twice as often as the second.
    """
    best: dict[str, float] = {}
    named: set[str] = set()
    for node in nodes:
        note = node.node.metadata["note_path"]
        best[note] = max(best.get(note, 0.0), node.score or 0.0)
        if node.node.metadata.get("named"):
            named.add(note)
    ranked = sorted(best, key=lambda n: -best[n])[:limit]
    seeds = {note: 1.0 / (1 + rank) for rank, note in enumerate(ranked)}
    return {**seeds, **dict.fromkeys(named, 1.0)}
