"""OpenAI-compatible `GET /v1/models`: the base model, then each adapter (LoRA run)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, Field

from server.errors import error_responses
from server.state import ServerState, StateDep

router = APIRouter(prefix="/v1", tags=["openai"])


class Model(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "overlay"
    parent: str | None = Field(default=None, description="For an adapter: its base model.")
    run: str | None = Field(default=None, description="For an adapter: the training run.")
    promoted: bool = Field(
        default=False, description="The adapter that answers when a request names none."
    )
    tainted: bool = Field(
        default=False,
        description="Trained on a note forgotten since: out of service, never answers.",
    )


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Model]


@router.get("/models", response_model=ModelList)
def list_models(state: StateDep) -> ModelList:
    """The models `model` may name in chat completions: the base model first, then the
    adapters of trained runs (`promoted`: the one answering when a request names none)."""
    return ModelList(data=_models(state))


@router.get("/models/{model:path}", response_model=Model, responses=error_responses(404))
def get_model(state: StateDep, model: str = Path(max_length=512)) -> Model:
    """One model by name; 404 when the server has no such model."""
    for entry in _models(state):
        if entry.id == model:
            return entry
    raise HTTPException(404, f"no model named {model!r}; GET /v1/models lists them")


def _models(state: ServerState) -> list[Model]:
    started = int(state.started)
    return [
        Model(
            id=e.id,
            created=started,
            parent=e.parent,
            run=e.run,
            promoted=e.promoted,
            tainted=e.status == "tainted",
        )
        for e in state.memory.model_entries()
    ]
