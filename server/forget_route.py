"""Forget notes on demand while the daemon serves (`overlay forget` sends them here).

The daemon owns the index, so it marks the notes and syncs them: its sync worker then
forgets them everywhere (distill.forgetting), as for a note made private.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field, StringConstraints

from distill.forgetting import forget_on_demand
from server.errors import error_responses
from server.limits import SYNC_WAIT_S
from server.state import StateDep

router = APIRouter(prefix="/api/v1", tags=["privacy"])

NOTE_PATH = r"^[^\x00]*\.md$"  # a note; one outside the vault is refused, 400


class ForgetRequest(BaseModel):
    paths: list[
        Annotated[str, StringConstraints(min_length=4, max_length=1024, pattern=NOTE_PATH)]
    ] = Field(min_length=1, max_length=10_000, description="Vault-relative notes (.md).")
    undo: bool = Field(default=False, description="Index these notes again instead.")


class ForgetResult(BaseModel):
    notes: list[str] = Field(description="The notes, as vault-relative names.")
    finished: bool = Field(description="True when the sync that forgets them has run.")
    error: str | None = Field(default=None, description="Why that sync failed, if it did.")


@router.post("/forget", response_model=ForgetResult, responses=error_responses(400))
def forget_notes(body: ForgetRequest, state: StateDep) -> ForgetResult:
    """Forget these notes everywhere though they stay in the vault: the index, their pairs
    (text deleted), log entries citing them (scrubbed), adapters trained on them (tainted,
    out of service); with `undo`, index them again. Answers once that is done."""
    vault = state.settings.require_vault()
    notes = forget_on_demand(state.memory.store, vault, body.paths, undo=body.undo)
    ticket = state.sync.request(notes)
    finished = state.sync.wait(ticket, SYNC_WAIT_S)
    return ForgetResult(
        notes=notes, finished=finished, error=state.sync.last_error if finished else None
    )
