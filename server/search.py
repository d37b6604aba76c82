"""Search the vault by meaning, words and links."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from indexer.integrity import vector_gap
from server.errors import error_responses
from server.state import MemoryDep, StateDep

INDEXING_WARNING = "The first index of your notes is still running: results may miss notes."

router = APIRouter(prefix="/api/v1", tags=["search"])


class Hit(BaseModel):
    """One passage and why it was chosen: each score part is null when that search missed it."""

    note_path: str = Field(description="Vault-relative path of the note.")
    heading_path: list[str] = Field(description="Headings above the passage, outermost first.")
    chunk_id: str
    snippet: str = Field(description="The start of the passage.")
    score: float = Field(description="The final rank score; higher is better.")
    dense: float | None = Field(description="Cosine similarity to the query.")
    lexical: float | None = Field(description="BM25 score of the query's words.")
    graph: float | None = Field(description="Link-graph (PageRank) score of the note.")


class SearchResults(BaseModel):
    query: str
    hits: list[Hit]
    degraded: str | None = Field(
        default=None,
        description="Null when the index is whole; else what is missing (hits are partial).",
    )
    state: Literal["indexing", "syncing", "idle"] = Field(
        default="idle",
        description="'indexing' while the vault's first index is built (results may be "
        "missing), 'syncing' while an existing index is brought up to date.",
    )
    warning: str | None = Field(
        default=None, description="Why the hits may be incomplete (the index is being built)."
    )


@router.get("/search", response_model=SearchResults, responses=error_responses(503))
def search(
    memory: MemoryDep,
    state: StateDep,
    q: Annotated[str, Query(min_length=1, max_length=4000, description="What to look for.")],
    top_k: Annotated[int | None, Query(ge=1, le=100, description="How many passages.")] = None,
) -> SearchResults:
    """The passages that best match `q`, fusing dense, BM25 and link-graph scores."""
    hits = memory.search(q, top_k)
    indexing = state.sync.state == "indexing"
    return SearchResults(
        query=q,
        hits=[Hit.model_validate(hit.to_dict()) for hit in hits],
        state=state.sync.state,
        warning=INDEXING_WARNING if indexing else None,
        degraded=vector_gap(memory.store),
    )
