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

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from indexer.embedders import Embedder
from indexer.mentions import name_key
from indexer.records import NoteName, StoredChunk
from indexer.store import Store
from overlay.config import RetrievalSettings
from overlay.core.graph import Edge, EdgeWeights, LinkGraph
from overlay.core.lexical import LexicalIndex
from vault_schema.words import stems

SNIPPET_CHARS = 240
_WIKI_NAME = re.compile(r"\[\[([^\]|#]+)")


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


def chunk_node(chunk: StoredChunk, **scores: float | None) -> TextNode:
    """A LlamaIndex node for a chunk held by a note; the id names both, so shared chunks differ."""
    return TextNode(
        id_=f"{chunk.note_path}::{chunk.id}",
        text=chunk.text,
        metadata={
            "note_path": chunk.note_path,
            "heading_path": list(chunk.heading_path),
            "chunk_id": chunk.id,
            **scores,
        },
        excluded_embed_metadata_keys=["chunk_id", "dense", "lexical", "graph", "fused"],
        excluded_llm_metadata_keys=["chunk_id", "dense", "lexical", "graph", "fused"],
    )


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
    """BM25 over every chunk; the index is rebuilt when the store has synced since."""

    def __init__(self, store: Store, k: int) -> None:
        super().__init__()
        self._store, self._k = store, k
        self._built_for: Any = object()
        self._index = LexicalIndex([])
        self._chunks: list[StoredChunk] = []
        self._rows_of_note: dict[str, list[int]] = {}

    def _current(self) -> LexicalIndex:
        generation = self._store.last_sync()
        if generation != self._built_for:
            self._chunks = self._store.chunks()
            self._rows_of_note = defaultdict(list)
            for row, chunk in enumerate(self._chunks):
                self._rows_of_note[chunk.note_path].append(row)
            self._index = LexicalIndex(
                (str(row), c.embedding_text) for row, c in enumerate(self._chunks)
            )
            self._built_for = generation
        return self._index

    def score(self, query: str) -> list[tuple[StoredChunk, float]]:
        """The best chunks for `query` by BM25, best first."""
        hits = self._current().search(query, self._k)
        return [(self._chunks[int(row)], s) for row, s in hits]

    def best_chunk_of(self, note: str, query: str) -> NodeWithScore | None:
        """The chunk of `note` that matches `query` best (its first chunk when none does)."""
        scores = self._current().scores(query)
        rows = self._rows_of_note.get(note)
        if not rows:
            return None
        best = max(rows, key=lambda row: scores[row])
        lexical = float(scores[best]) or None
        return NodeWithScore(node=chunk_node(self._chunks[best], lexical=lexical), score=0.0)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return [
            NodeWithScore(node=chunk_node(c, lexical=s), score=s)
            for c, s in self.score(query_bundle.query_str)
        ]


class NoteNames:
    """Finds notes named in a question: `[[Title]]`, or a title or alias in the text.

    Names are compared as stem sequences, whole words, as unlinked mentions are
    (`indexer.mentions.name_key`): «мужа Анны Петровой» names the note «Анна Петрова»."""

    def __init__(self, names: Iterable[NoteName]) -> None:
        self._by_link: dict[str, set[str]] = defaultdict(set)
        self._by_key: dict[str, set[str]] = defaultdict(set)
        self.titles: dict[str, str] = {}  # note path -> title
        for name in names:
            self.titles[name.path] = name.title
            for text in (name.title, *name.aliases):
                self._by_link[text.casefold()].add(name.path)
                if (key := name_key(text)) is not None:
                    self._by_key[key].add(name.path)

    def named_in(self, question: str) -> set[str]:
        found: set[str] = set()
        for written in _WIKI_NAME.findall(question):
            found |= self._by_link.get(written.strip().casefold(), set())
        words = f" {' '.join(stems(question))} "
        for key, paths in self._by_key.items():
            if f" {key} " in words:
                found |= paths
        return found


class HybridRetriever(BaseRetriever):
    """Dense and lexical hits fused by reciprocal rank; chunks of named notes pulled in."""

    def __init__(
        self,
        dense: DenseRetriever,
        lexical: LexicalRetriever,
        store: Store,
        rrf_k: int = 60,
        lexical_weight: float = 0.5,
        use_dense: bool = True,
        use_lexical: bool = True,
    ) -> None:
        super().__init__()
        self._dense, self._lexical, self._store = dense, lexical, store
        self._rrf_k, self._lexical_weight = rrf_k, lexical_weight
        self._use_dense, self._use_lexical = use_dense, use_lexical
        self._names_for: Any = object()
        self._names = NoteNames([])

    def note_names(self) -> NoteNames:
        """The names of the notes as of the last sync."""
        generation = self._store.last_sync()
        if generation != self._names_for:
            self._names, self._names_for = NoteNames(self._store.names()), generation
        return self._names

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
    _store: Store = PrivateAttr()
    _lexical: LexicalRetriever = PrivateAttr()
    _graph: LinkGraph | None = PrivateAttr(default=None)
    _graph_for: Any = PrivateAttr(default=None)

    def __init__(self, store: Store, lexical: LexicalRetriever, **data: Any) -> None:
        super().__init__(**data)
        self._store, self._lexical = store, lexical

    @classmethod
    def class_name(cls) -> str:
        return "LinkGraphReranker"

    def graph(self) -> LinkGraph:
        generation = self._store.last_sync()
        if self._graph is None or generation != self._graph_for:
            s = self.settings
            weights = EdgeWeights(
                s.link_weight, s.backlink_weight, s.embed_weight, s.mention_weight
            )
            edges = [Edge(*edge) for edge in self._store.edges()]
            if self.use_mentions and s.mention_weight > 0:
                edges += [Edge(m.source, m.target, "mention") for m in self._store.mentions()]
            notes = [note.path for note in self._store.notes()]
            self._graph, self._graph_for = LinkGraph(notes, edges, weights), generation
        return self._graph

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
                extra = self._lexical.best_chunk_of(note, query)
                by_note[note] = [extra] if extra else []
        for note, note_nodes in by_note.items():
            for node in note_nodes:
                node.node.metadata["graph"] = graph.get(note) if self.use_graph else None
        return self._pick(ranked, by_note, final)

    def _walk(self, seeds: dict[str, float]) -> dict[str, float]:
        """PageRank from the seeds, scaled so the best note scores 1."""
        if not self.use_graph or not seeds:
            return {}
        scores = self.graph().personalized_pagerank(seeds, self.settings.damping)
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
        self.lexical = LexicalRetriever(store, settings.candidates)
        dense = DenseRetriever(store, embedder, settings.candidates)
        self.hybrid = HybridRetriever(
            dense,
            self.lexical,
            store,
            settings.rrf_k,
            settings.lexical_weight,
            use_dense=mode != "lexical",
            use_lexical=mode != "dense",
        )
        self.reranker = LinkGraphReranker(
            store,
            self.lexical,
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
