"""LlamaIndex nodes for the chunks the index holds, with the score parts that chose them."""

from __future__ import annotations

from llama_index.core.schema import NodeWithScore, TextNode

from indexer.records import StoredChunk
from overlay.core.snapshot import Snapshot


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


def best_chunk_node(snapshot: Snapshot, note: str, query: str) -> NodeWithScore | None:
    """The chunk of `note` that matches `query` best by BM25 (its first when none does)."""
    found = snapshot.best_chunk_of(note, query)
    if found is None:
        return None
    chunk, lexical = found
    return NodeWithScore(node=chunk_node(chunk, lexical=lexical or None), score=0.0)
