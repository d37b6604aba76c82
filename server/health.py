"""Is the server up, and what does the index hold?"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from overlay.core.answers import is_too_small
from overlay.core.memory import TOO_SMALL_NOTE
from server.state import StateDep

public = APIRouter(prefix="/api/v1", tags=["status"])
router = APIRouter(prefix="/api/v1", tags=["status"])


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str = Field(description="Overlay's version.")
    state: Literal["indexing", "syncing", "idle"] = Field(
        description="'indexing' while the vault's first index is built (nothing to search "
        "yet), 'syncing' while a sync brings an existing index up to date, else 'idle'."
    )


@public.get("/health", response_model=Health)
def get_health(state: StateDep) -> Health:
    """Answer at once, even during the first sync; the only route that needs no token."""
    return Health(version=version("overlay"), state=state.sync.state)


class IndexStatus(BaseModel):
    """What the index holds (`Memory.status()`; more keys may follow)."""

    model_config = ConfigDict(extra="allow")

    notes: int = Field(description="Notes indexed (private and excluded ones never are).")
    chunks: int = Field(description="Chunks held by those notes.")
    links: int = Field(description="Links written in the notes.")
    unresolved_links: int | None = Field(
        default=None, description="Links to notes that do not exist (yet)."
    )
    embedder: str | None = Field(default=None, description="The embedding model of the vectors.")
    last_sync: dict[str, Any] | None = Field(
        default=None, description="The last finished sync's report, with `finished` (epoch s)."
    )
    size_bytes: int | None = Field(default=None, description="The data dir's size on disk.")


class Status(BaseModel):
    state: Literal["indexing", "syncing", "idle"] = Field(
        description="'indexing' while the vault's first index is built, 'syncing' while a "
        "sync brings an existing index up to date, else 'idle'."
    )
    vault: str = Field(description="The vault folder this server answers from.")
    last_error: str | None = Field(
        default=None, description="Why the last sync failed; null when it succeeded."
    )
    index: IndexStatus
    chat_model: str = Field(default="", description="The model chat answers with.")
    answers: Literal["extractive", "checked", "generated"] = Field(
        default="checked",
        description="How chat answers: 'extractive' quotes the notes (the model is too "
        "small to write answers), 'checked' keeps the model's answer when its sources "
        "support it, 'generated' as the model wrote it.",
    )
    model_note: str | None = Field(
        default=None, description="How to get better answers, when the bundled tiny model answers."
    )


@router.get("/status", response_model=Status)
def get_status(state: StateDep) -> Status:
    """Index status for the plugin's status bar: counts, the last sync, and whether one runs."""
    return Status(
        state=state.sync.state,
        vault=str(state.memory.vault),
        last_error=state.sync.last_error,
        index=IndexStatus.model_validate(state.memory.status()),
        chat_model=state.settings.llm.model,
        answers=state.memory.answer_mode,
        model_note=TOO_SMALL_NOTE if is_too_small(state.settings.llm.model) else None,
    )
