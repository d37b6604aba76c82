"""The conversation log over HTTP: browse the answers, rate one, correct one.

Every chat answer (`/api/v1/chat`, `/v1/chat/completions`, the CLI) carries the id
of its log entry (`log_id`); `POST /api/v1/log/{id}/rating` rates it, and a
correction becomes an approved training pair at once (`distill/ratings.py`).
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from pydantic import BaseModel, Field, field_validator

from distill.ratings import rate_answer
from overlay.core.conversations import LogFilter
from server.errors import error_responses
from server.state import StateDep

router = APIRouter(prefix="/api/v1/log", tags=["conversation log"])

EntryId = Annotated[int, PathParam(ge=1, le=2**63 - 1, description="The answer's `log_id`.")]
MAX_CORRECTION_CHARS = 20_000


class Source(BaseModel):
    n: int = Field(description="The number the answer cites it by, as [n].")
    note_path: str
    heading_path: list[str]
    score: float = Field(description="Retrieval's fused score.")
    cited: bool


class LogEntryOut(BaseModel):
    """One answer Overlay gave, with what it rested on and what the person said of it."""

    id: int
    asked: float = Field(description="Epoch seconds when the question came.")
    interface: Literal["cli", "plugin", "openai", "mcp"]
    question: str = Field(description="The last message, as asked.")
    searched: str = Field(description="The standalone question retrieval searched for.")
    sources: list[Source]
    answer: str
    reasoning: str = Field(description="The model's reasoning; '' when it showed none.")
    model: str
    adapter: str = Field(description="The adapter that answered; '' for the base model.")
    rag: bool
    abstained: bool
    latency: float = Field(description="Seconds from the question to the whole answer.")
    tokens: int = Field(description="Tokens generated (answer and reasoning).")
    rating: Literal["", "good", "bad"]
    correction: str = Field(description="The answer the person wrote instead; or ''.")
    rated: float | None = Field(description="Epoch seconds of the last rating.")


class LogPage(BaseModel):
    entries: list[LogEntryOut] = Field(description="Newest first.")


class RatingIn(BaseModel):
    rating: Literal["good", "bad"]
    correction: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_CORRECTION_CHARS,
        description="The answer that should have been given: it becomes an approved "
        "training pair (source 'correction'); a new one replaces the old.",
    )

    @field_validator("correction")
    @classmethod
    def _storable(cls, text: str | None) -> str | None:
        try:
            (text or "").encode("utf-8")
        except UnicodeEncodeError as error:  # a lone surrogate: SQLite could not store it
            raise ValueError("not valid Unicode text") from error
        return text


class RatingOut(BaseModel):
    entry: LogEntryOut
    pair_id: str | None = Field(description="The correction's training pair, approved.")
    staled: int = Field(description="Pairs of this answer that went stale (an old correction).")


@router.get("", response_model=LogPage)
def list_entries(
    state: StateDep,
    since: Annotated[float | None, Query(description="Epoch seconds; newer only.")] = None,
    hours: Annotated[
        float | None, Query(gt=0, description="Only the last this many hours.")
    ] = None,
    rating: Annotated[
        Literal["good", "bad", "unrated", "corrected"] | None, Query(description="Rated so.")
    ] = None,
    model: Annotated[
        str | None, Query(max_length=200, description="A part of the model's or adapter's name.")
    ] = None,
    q: Annotated[
        str | None, Query(max_length=500, description="A part of the question or the answer.")
    ] = None,
    interface: Literal["cli", "plugin", "openai", "mcp"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> LogPage:
    """The logged answers, newest first, filtered."""
    if hours is not None:
        since = max(since or 0.0, time.time() - hours * 3600)
    where = LogFilter(since, rating, model, q, interface, limit)
    entries = state.memory.conversations.list(where)
    return LogPage(entries=[_out(entry.to_dict()) for entry in entries])


@router.get("/{entry_id}", response_model=LogEntryOut, responses=error_responses(404))
def get_entry(state: StateDep, entry_id: EntryId) -> LogEntryOut:
    """One logged answer."""
    return _out(state.memory.conversations.get(entry_id).to_dict())


@router.post("/{entry_id}/rating", response_model=RatingOut, responses=error_responses(400, 404))
def rate(state: StateDep, entry_id: EntryId, body: RatingIn) -> RatingOut:
    """Rate an answer good or bad; with `correction`, the answer it should have been
    becomes an approved training pair that the next `overlay train` uses."""
    done = rate_answer(
        state.settings, state.memory.conversations, entry_id, body.rating, body.correction
    )
    return RatingOut(
        entry=_out(done.entry.to_dict()),
        pair_id=done.pair.id if done.pair else None,
        staled=done.staled,
    )


def _out(data: dict[str, Any]) -> LogEntryOut:
    return LogEntryOut.model_validate(data)
