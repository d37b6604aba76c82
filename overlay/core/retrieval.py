"""Graph-aware hybrid retrieval (DESIGN decision 5), as LlamaIndex components.

    question ─▶ DenseRetriever ─┐
             └▶ LexicalRetriever ┴▶ HybridRetriever (reciprocal-rank fusion, named notes)
                                        └▶ second hop (`retrieval.second_hop`: the same
                                           search again, with the note the best passage
                                           names)
                                        └▶ LinkGraphReranker (Personalized PageRank over
                                           links and unlinked mentions, degree-normalised;
                                           diversity)

Each node that comes out carries the score parts in its metadata (`dense`,
`lexical`, `graph`), the note path and the heading path, so a person can see
why a note was chosen. `VaultRetriever` bundles the three for callers that want
ranked `SearchHit`s rather than LlamaIndex nodes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle

from indexer.embedders import Embedder
from indexer.records import StoredChunk
from indexer.store import Store
from overlay.config import RetrievalSettings
from overlay.core.graph import EdgeWeights
from overlay.core.names import NoteNames
from overlay.core.nodes import best_chunk_node, chunk_node
from overlay.core.snapshot import GraphEdges, RetrievalState
from overlay.core.walk import LinkGraphReranker

SNIPPET_CHARS = 240


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One retrieved chunk and why it was chosen."""

    note_path: str
    heading_path: tuple[str, ...]
    chunk_id: str
    snippet: str
    score: float
    dense: float | None  # cosine similarity, when dense search found it
    lexical: float | None  # BM25 score, when word search found it
    graph: float | None  # Personalized PageRank of its note, relative to the best note
    text: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["heading_path"] = list(self.heading_path)
        data.pop("text")
        return data


class DenseRetriever(BaseRetriever):
    """Nearest chunks by embedding, from Chroma."""

    def __init__(self, store: Store, embedder: Embedder, k: int) -> None:
        super().__init__()
        self._store, self._embedder, self._k = store, embedder, k

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = self._store.dense_search(query_bundle.query_str, self._embedder, self._k)
        similarity = {hit.chunk_id: 1.0 - hit.distance for hit in hits}
        chunks = self._store.chunks(ids=similarity)
        nodes = [
            NodeWithScore(node=chunk_node(c, dense=similarity[c.id]), score=similarity[c.id])
            for c in chunks
        ]
        return sorted(nodes, key=lambda n: -(n.score or 0.0))


class LexicalRetriever(BaseRetriever):
    """BM25 over every chunk, from the retrieval snapshot of the index's generation."""

    def __init__(self, state: RetrievalState, k: int) -> None:
        super().__init__()
        self.state, self._k = state, k

    def score(self, query: str) -> list[tuple[StoredChunk, float]]:
        """The best chunks for `query` by BM25, best first."""
        return self.state.current().search(query, self._k)

    def best_chunk_of(self, note: str, query: str) -> NodeWithScore | None:
        """The chunk of `note` that matches `query` best (its first chunk when none does)."""
        return best_chunk_node(self.state.current(), note, query)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return [
            NodeWithScore(node=chunk_node(c, lexical=s), score=s)
            for c, s in self.score(query_bundle.query_str)
        ]


class HybridRetriever(BaseRetriever):
    """Dense and lexical hits fused by reciprocal rank; chunks of named notes pulled in."""

    def __init__(
        self,
        dense: DenseRetriever,
        lexical: LexicalRetriever,
        rrf_k: int = 60,
        lexical_weight: float = 0.5,
        use_dense: bool = True,
        use_lexical: bool = True,
    ) -> None:
        super().__init__()
        self._dense, self._lexical = dense, lexical
        self._rrf_k, self._lexical_weight = rrf_k, lexical_weight
        self._use_dense, self._use_lexical = use_dense, use_lexical

    def note_names(self) -> NoteNames:
        """The names of the notes as of the index's generation."""
        return self._lexical.state.current().names

    def named_notes(self, question: str) -> set[str]:
        return self.note_names().named_in(question)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        lists = []
        if self._use_dense:
            lists.append((self._dense.retrieve(query_bundle), 1.0))
        if self._use_lexical:
            lists.append((self._lexical.retrieve(query_bundle), self._lexical_weight))
        fused = _reciprocal_rank_fusion(lists, self._rrf_k)
        named = self.named_notes(query_bundle.query_str)
        present = {node.node.metadata["note_path"] for node in fused}
        top = fused[0].score if fused else 1.0
        for note in sorted(named - present):
            if (node := self._lexical.best_chunk_of(note, query_bundle.query_str)) is not None:
                node.score = top
                fused.append(node)
        for node in fused:
            node.node.metadata["named"] = node.node.metadata["note_path"] in named
        return fused


def _reciprocal_rank_fusion(
    lists: Sequence[tuple[list[NodeWithScore], float]], k: int
) -> list[NodeWithScore]:
    """Sum of weight / (k + rank) over the lists a node appears in."""
    fused: dict[str, NodeWithScore] = {}
    for ranked, weight in lists:
        for rank, item in enumerate(ranked):
            held = fused.setdefault(item.node.node_id, NodeWithScore(node=item.node, score=0.0))
            held.node.metadata.update(
                {k_: v for k_, v in item.node.metadata.items() if v is not None}
            )
            held.score = (held.score or 0.0) + weight / (k + rank + 1)
    for item in fused.values():
        item.node.metadata["fused"] = item.score
    return sorted(fused.values(), key=lambda n: -(n.score or 0.0))


class VaultRetriever:
    """The whole pipeline for one store; `mode` selects a part for comparisons."""

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        settings: RetrievalSettings,
        mode: str = "graph",  # 'dense', 'lexical', 'hybrid', 'links' (no mentions) or 'graph'
    ) -> None:
        self.store = store
        self.settings = settings
        self.embedder = embedder
        s = settings
        weights = EdgeWeights(s.link_weight, s.backlink_weight, s.embed_weight, s.mention_weight)
        self.state = RetrievalState(store, GraphEdges(weights, mentions=mode == "graph"))
        self.lexical = LexicalRetriever(self.state, settings.candidates)
        dense = DenseRetriever(store, embedder, settings.candidates)
        self.hybrid = HybridRetriever(
            dense,
            self.lexical,
            settings.rrf_k,
            settings.lexical_weight,
            use_dense=mode != "lexical",
            use_lexical=mode != "dense",
        )
        self.reranker = LinkGraphReranker(
            self.state,
            settings=settings,
            top_k=settings.top_k,
            use_graph=mode in ("graph", "links"),
            use_mentions=mode == "graph",
        )

    def find(self, question: str, top_k: int | None = None) -> Retrieval:
        """The best chunks for `question`, and how strong the best evidence was."""
        bundle = QueryBundle(question)
        candidates = self.hybrid.retrieve(bundle)
        # how close the notes come to the question itself, before a second hop adds to it
        best_dense = max((n.node.metadata.get("dense") or 0.0 for n in candidates), default=0.0)
        best_lexical = max((n.node.metadata.get("lexical") or 0.0 for n in candidates), default=0.0)
        if self.settings.second_hop > 0 and candidates:
            candidates = self._second_hop(question, candidates)
        self.reranker.top_k = top_k or self.settings.top_k
        nodes = self.reranker.postprocess_nodes(candidates, bundle)
        named = any(n.node.metadata.get("named") for n in nodes)
        return Retrieval([hit_from_node(n) for n in nodes], best_dense, best_lexical, named)

    def search(self, question: str, top_k: int | None = None) -> list[SearchHit]:
        return self.find(question, top_k).hits

    def _second_hop(self, question: str, first: list[NodeWithScore]) -> list[NodeWithScore]:
        """The first hop's hits, joined by those of a search for the question plus each
        bridge: a note the best first-hop passage names (its title or an alias written
        there) that the question does not. A multi-hop question names where to start,
        not the note holding its answer; the passage found first names that one.

        Both searches score on the same scale (fused reciprocal ranks), so a hit keeps
        the better of its scores (times `second_hop_weight` for the second): the second
        search's best hit ranks beside the first's, rather than below every hit both found.
        """
        names = self.hybrid.note_names()
        named = names.named_in(question)
        best = max(first, key=lambda n: n.score or 0.0)
        rank = {n.node.metadata["note_path"]: i for i, n in reversed(list(enumerate(first)))}
        bridges = sorted(
            names.named_in(best.node.get_content()) - named - {best.node.metadata["note_path"]},
            key=lambda note: (rank.get(note, len(first)), note),  # the best found first
        )[: self.settings.second_hop]
        hits = {node.node.node_id: node for node in first}
        for bridge in bridges:
            found = self.hybrid.retrieve(QueryBundle(f"{question} {names.titles[bridge]}"))
            top = max((node.score or 0.0) for node in found) if found else 0.0
            for node in found:
                # the bridge is named by the search, as a note named in a question is
                own = top if node.node.metadata["note_path"] == bridge else node.score or 0.0
                score = self.settings.second_hop_weight * own
                held = hits.setdefault(node.node.node_id, node)
                if held is node:  # 'named' keeps its meaning: named in the question itself
                    node.node.metadata["named"] = node.node.metadata["note_path"] in named
                    node.score = score
                else:
                    held.score = max(held.score or 0.0, score)
        return sorted(hits.values(), key=lambda n: -(n.score or 0.0))

    def passages_of(self, notes: Iterable[str]) -> list[SearchHit]:
        """Every chunk of these notes, as hits no search scored."""
        return [
            SearchHit(
                c.note_path, c.heading_path, c.id, _snippet(c.text), 0.0, None, None, None, c.text
            )
            for c in self.store.chunks(note_paths=notes)
        ]


@dataclass(frozen=True, slots=True)
class Retrieval:
    hits: list[SearchHit]
    best_dense: float  # cosine similarity of the nearest chunk
    best_lexical: float  # BM25 score of the best word match
    named: bool = False  # the question names a note (its title or an alias) that was found


def hit_from_node(node: NodeWithScore) -> SearchHit:
    meta = node.node.metadata
    text = node.node.get_content()
    return SearchHit(
        note_path=meta["note_path"],
        heading_path=tuple(meta.get("heading_path") or ()),
        chunk_id=meta["chunk_id"],
        snippet=_snippet(text),
        score=float(node.score or 0.0),
        dense=meta.get("dense"),
        lexical=meta.get("lexical"),
        graph=meta.get("graph"),
        text=text,
    )


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET_CHARS else flat[: SNIPPET_CHARS - 1].rstrip() + "…"
