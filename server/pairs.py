"""The training pairs and their review: the actions of `overlay pairs …` over HTTP.

For the Obsidian plugin and the `/review` page. Each request opens the pair store
(SQLite in WAL mode, so a `overlay distill` run may write at the same time) and
closes it before answering; a store connection belongs to one thread, and FastAPI
runs these routes on a pool of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from distill import review_actions
from distill.pair_records import STATUSES, Status
from distill.pairs import PairFilter, PairStore
from distill.review_actions import StatusChanged, set_status_of, set_status_where
from server.errors import error_responses
from server.state import ServerState, StateDep

router = APIRouter(prefix="/api/v1/pairs", tags=["pairs"])

PairId = Annotated[
    str,
    Path(min_length=1, max_length=64, description="A pair id or a unique prefix of it."),
]


def _storable(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:  # a lone surrogate: SQLite could not store it
        raise ValueError("not valid Unicode text") from error
    return text


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str

    _text = field_validator("content")(_storable)


class PairOut(BaseModel):
    """A training pair with where it came from and what review said of it."""

    id: str
    messages: list[Message] = Field(description="The conversation, ending with the answer.")
    note_path: str = Field(description="The note it was made from.")
    heading: str = Field(description="The heading of the section it was made from.")
    content_hash: str = Field(description="sha256 of the note's text when it was made.")
    source: str = Field(
        description="How it was made: 'dialogue', 'scene', 'fact', 'link', 'abstention', 'rated' or 'correction'."
    )
    generator: str = Field(description="The model that wrote it, or 'none'.")
    prompt_version: str
    language: str = Field(description="'ru', 'en' or 'mixed'.")
    status: Status
    held_out: bool = Field(description="Kept for evaluation only, never trained on.")
    fact: str = Field("", description="The fact asked about, shared by its paraphrases; or ''.")
    scores: dict[str, float] = Field(description="Judge scores, e.g. lexical and llm.")
    note_date: datetime | None = Field(description="When what it is about happened.")
    created: float = Field(description="Epoch seconds.")
    updated: float = Field(description="Epoch seconds of the last change.")


class EditOut(BaseModel):
    edited: float = Field(description="Epoch seconds.")
    editor: str
    old_messages: list[Message]
    new_messages: list[Message]


class PairDetail(PairOut):
    history: list[EditOut] = Field(description="The edits review made, oldest first.")


class Counts(BaseModel):
    status: dict[str, int] = Field(description="All pairs by status, every status named.")
    source: dict[str, int] = Field(description="Pairs that are not stale, by source.")
    language: dict[str, int] = Field(description="Pairs that are not stale, by language.")


class PairPage(BaseModel):
    pairs: list[PairOut] = Field(description="By note, then creation order.")
    total: int = Field(description="How many pairs match the filters.")
    offset: int
    limit: int
    counts: Counts


class PairQuery(BaseModel):
    """Which pairs a bulk action means, by the list's filters (all must match; at least
    one is given, and the schema says so: an absent filter is absent, never empty)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    status: list[Status] = Field(
        default_factory=list, min_length=1, description="Default: every status but 'stale'."
    )
    note: str | SkipJsonSchema[None] = Field(
        default=None, min_length=1, max_length=1024, description="A note path or a folder."
    )
    source: list[str] = Field(
        default_factory=list, min_length=1, description="e.g. 'fact', 'dialogue'."
    )
    language: list[str] = Field(
        default_factory=list, min_length=1, description="'ru', 'en' or 'mixed'."
    )
    min_score: float | SkipJsonSchema[None] = Field(
        default=None, description="Least lowest judge score of a pair."
    )
    fact: str | SkipJsonSchema[None] = Field(
        default=None, min_length=1, max_length=64, description="One fact: all of its pairs."
    )

    def filter(self) -> PairFilter:
        return PairFilter(
            status=tuple(self.status),
            note=self.note,
            source=tuple(self.source),
            language=tuple(self.language),
            min_score=self.min_score,
            fact=self.fact,
        ).for_bulk()


PairIds = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=64)]], Field(min_length=1, max_length=10_000)
]


class StatusChange(BaseModel):
    """The pairs to change: `ids`, or `where` (e.g. every pending pair of one note,
    source and language with a judge score of at least 0.8); not both."""

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["ids"]}, {"required": ["where"]}]}
    )

    ids: PairIds | SkipJsonSchema[None] = Field(
        None, description="Pair ids or unique prefixes of them."
    )
    where: PairQuery | SkipJsonSchema[None] = Field(
        None, description="Every pair matching these filters."
    )

    @model_validator(mode="after")
    def _one_way(self) -> StatusChange:
        if (self.ids is None) == (self.where is None):
            raise ValueError("name the pairs: give either ids or where")
        if self.where is not None and self.where == PairQuery():
            raise ValueError("where needs at least one filter (every pair is too many)")
        return self


class StatusSet(StatusChange):
    status: Status


class StatusResult(BaseModel):
    status: Status
    ids: list[str] = Field(description="The full ids of the pairs named.")
    changed: int = Field(description="How many did not have this status already.")
    counts: Counts


class PairEdit(BaseModel):
    """A pair's new messages: `prompt` then the assistant's `answer` (the pair's
    `messages` are `prompt + [{"role": "assistant", "content": answer}]`)."""

    prompt: list[Message] = Field(
        default_factory=list,
        max_length=200,
        description="The messages before the answer: usually the one question.",
    )
    answer: str = Field(
        min_length=1,
        pattern=r"\S",
        description="The assistant's answer, what training teaches; not blank.",
    )
    editor: str | None = Field(
        default=None, max_length=200, description="Who edited; default: the server's user."
    )

    _text = field_validator("answer")(_storable)

    def messages(self) -> list[dict[str, str]]:
        answer = {"role": "assistant", "content": self.answer}
        return [*(message.model_dump() for message in self.prompt), answer]


@contextmanager
def _store(state: ServerState) -> Iterator[PairStore]:
    with PairStore.from_settings(state.settings) as store:
        yield store


def _counts(store: PairStore) -> Counts:
    counts = store.counts()
    counts["status"] = {status: counts["status"].get(status, 0) for status in STATUSES}
    return Counts.model_validate(counts)


def _detail(store: PairStore, pair_id: str) -> PairDetail:
    pair = store.get(pair_id)
    history = [vars(edit) for edit in store.history(pair.id)]
    return PairDetail.model_validate({**pair.to_dict(), "history": history})


@router.get("", response_model=PairPage)
def list_pairs(
    state: StateDep,
    status: Annotated[list[Status] | None, Query(description="Repeatable.")] = None,
    note: Annotated[str | None, Query(max_length=1024, description="A note or folder.")] = None,
    source: Annotated[list[str] | None, Query(description="Repeatable.")] = None,
    language: Annotated[list[str] | None, Query(description="Repeatable.")] = None,
    min_score: Annotated[
        float | None, Query(description="Only pairs whose lowest judge score is this.")
    ] = None,
    fact: Annotated[str | None, Query(max_length=64, description="One fact's pairs.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> PairPage:
    """Pairs matching the filters (as `overlay pairs list`), a page of them, and counts."""
    where = PairFilter(
        status=tuple(status or ()),
        note=note,
        source=tuple(source or ()),
        language=tuple(language or ()),
        min_score=min_score,
        fact=fact,
    )
    with _store(state) as store:
        found = store.list(where)
        counts = _counts(store)
    page = [PairOut.model_validate(pair.to_dict()) for pair in found[offset : offset + limit]]
    return PairPage(pairs=page, total=len(found), offset=offset, limit=limit, counts=counts)


@router.get("/{pair_id}", response_model=PairDetail, responses=error_responses(400, 404))
def get_pair(state: StateDep, pair_id: PairId) -> PairDetail:
    """One pair with its provenance, judge scores and edit history (as `overlay pairs show`)."""
    with _store(state) as store:
        return _detail(store, pair_id)


def _result(store: PairStore, done: StatusChanged) -> StatusResult:
    return StatusResult(
        status=done.status, ids=done.ids, changed=done.changed, counts=_counts(store)
    )


def _set_status(state: ServerState, ids: Sequence[str], status: Status) -> StatusResult:
    with _store(state) as store:
        return _result(store, set_status_of(store, ids, status))


def _change(state: ServerState, body: StatusChange, status: Status) -> StatusResult:
    if body.ids is not None:
        return _set_status(state, body.ids, status)
    assert body.where is not None
    with _store(state) as store:
        return _result(store, set_status_where(store, body.where.filter(), status))


@router.post("/approve", response_model=StatusResult, responses=error_responses(400, 404))
def approve(state: StateDep, body: StatusChange) -> StatusResult:
    """Approve these pairs for training, by id or by filter (as `overlay pairs approve`):
    `{"where": {"note": "People", "source": ["fact"], "min_score": 0.8}}` approves every
    pair of those that is not stale."""
    return _change(state, body, "approved")


@router.post("/reject", response_model=StatusResult, responses=error_responses(400, 404))
def reject(state: StateDep, body: StatusChange) -> StatusResult:
    """Reject these pairs, by id or by filter: they stay in the store, never exported."""
    return _change(state, body, "rejected")


@router.post("/status", response_model=StatusResult, responses=error_responses(400, 404))
def set_status(state: StateDep, body: StatusSet) -> StatusResult:
    """Give these pairs any status, by id or by filter; how the review page undoes an
    approval or rejection."""
    return _change(state, body, body.status)


@router.post("/{pair_id}/approve", response_model=StatusResult, responses=error_responses(400, 404))
def approve_one(state: StateDep, pair_id: PairId) -> StatusResult:
    """Approve one pair."""
    return _set_status(state, [pair_id], "approved")


@router.post("/{pair_id}/reject", response_model=StatusResult, responses=error_responses(400, 404))
def reject_one(state: StateDep, pair_id: PairId) -> StatusResult:
    """Reject one pair."""
    return _set_status(state, [pair_id], "rejected")


@router.post("/{pair_id}/edit", response_model=PairDetail, responses=error_responses(400, 404))
def edit_pair(state: StateDep, pair_id: PairId, body: PairEdit) -> PairDetail:
    """Replace a pair's messages (as `overlay pairs edit`): the old ones go to its history
    and its status becomes `edited`. Messages equal to the current ones change nothing."""
    with _store(state) as store:
        pair = store.get(pair_id)
        review_actions.edit_pair(store, pair.id, body.messages(), editor=body.editor)
        return _detail(store, pair.id)
