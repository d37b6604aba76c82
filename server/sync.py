"""Ask for a sync now (the watcher usually does it on its own)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field, StringConstraints

from server.limits import NO_NUL, SYNC_WAIT_S
from server.state import StateDep

router = APIRouter(prefix="/api/v1", tags=["status"])


class SyncRequest(BaseModel):
    paths: list[Annotated[str, StringConstraints(max_length=1024, pattern=NO_NUL)]] | None = Field(
        default=None,
        max_length=10_000,
        description="Vault-relative files or folders to look at; null: the whole vault.",
    )
    wait: bool = Field(default=False, description="Answer when the sync is done, with its report.")


class SyncResult(BaseModel):
    state: Literal["indexing", "syncing", "idle"]
    finished: bool = Field(description="True when the sync asked for has run (with `wait`).")
    report: dict[str, Any] | None = Field(
        default=None,
        description="With `wait`: what the sync did (added, changed, moved, deleted, …).",
    )
    error: str | None = Field(
        default=None, description="With `wait`: why the sync failed, if it did."
    )


@router.post(
    "/sync",
    response_model=SyncResult,
    status_code=status.HTTP_202_ACCEPTED,
    responses={200: {"model": SyncResult, "description": "With `wait`: the sync is done."}},
)
def request_sync(body: SyncRequest, state: StateDep, response: Response) -> SyncResult:
    """Queue a sync (202); with `wait`, answer once it is done (200) with its report.

    Syncs run one at a time; requests made while one runs are merged into the next.
    """
    ticket = state.sync.request(body.paths)
    if not body.wait:
        return SyncResult(state=state.sync.state, finished=False)
    finished = state.sync.wait(ticket, SYNC_WAIT_S)
    response.status_code = status.HTTP_200_OK if finished else status.HTTP_202_ACCEPTED
    return SyncResult(
        state=state.sync.state,
        finished=finished,
        report=state.sync.last_report if finished and not state.sync.last_error else None,
        error=state.sync.last_error if finished else None,
    )
