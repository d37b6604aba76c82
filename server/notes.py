"""Notes: the ones related to a note, and the text a citation points to."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from server.errors import error_responses
from server.limits import NO_NUL
from server.state import MemoryDep

router = APIRouter(prefix="/api/v1/notes", tags=["notes"])

NotePath = Annotated[
    str,
    Query(
        min_length=1,
        max_length=1024,
        pattern=NO_NUL,
        description="Vault-relative path of a note, e.g. 'Projects/The boat.md'.",
    ),
]


class Related(BaseModel):
    note_path: str
    title: str
    score: float = Field(description="Higher is closer.")
    reasons: list[str] = Field(
        description="Why it is related, for people: e.g. 'links here', 'similar meaning'."
    )


class RelatedNotes(BaseModel):
    note_path: str
    related: list[Related]


@router.get("/related", response_model=RelatedNotes, responses=error_responses(404, 503))
def related(
    memory: MemoryDep,
    path: NotePath,
    top_k: Annotated[int, Query(ge=1, le=100, description="How many notes.")] = 10,
) -> RelatedNotes:
    """Notes related to `path` by meaning and by links, each with the reasons why."""
    found = memory.related(path, top_k)
    return RelatedNotes(
        note_path=path, related=[Related.model_validate(r.to_dict()) for r in found]
    )


class Section(BaseModel):
    path: str = Field(description="Vault-relative path of the note.")
    heading: str | None = Field(description="The heading read, or null for the whole note.")
    text: str = Field(description="The Markdown under that heading (or the whole note).")


@router.get("/section", response_model=Section, responses=error_responses(400, 404))
def section(
    memory: MemoryDep,
    path: NotePath,
    heading: Annotated[
        str | None,
        Query(
            max_length=1024,
            pattern=NO_NUL,
            description="A heading of the note; omit for the whole note.",
        ),
    ] = None,
) -> Section:
    """What a citation points to: the text of a note, or of one heading's section.

    Only notes inside the vault that are not private: `../`, absolute paths and
    symlinks that lead out of the vault are refused (400 PathOutsideVault).
    """
    return Section.model_validate(memory.read_note(path, heading).to_dict())
