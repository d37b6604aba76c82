"""OpenAI-compatible `GET /v1/models`: the base model, then each adapter."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel

from server.errors import error_responses
from server.state import StateDep

router = APIRouter(prefix="/v1", tags=["openai"])


class Model(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "overlay"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Model]


@router.get("/models", response_model=ModelList)
def list_models(state: StateDep) -> ModelList:
    """The models `model` may name in chat completions: the base model first, then adapters."""
    started = int(state.started)
    return ModelList(data=[Model(id=name, created=started) for name in state.memory.models()])


@router.get("/models/{model:path}", response_model=Model, responses=error_responses(404))
def get_model(state: StateDep, model: str = Path(max_length=512)) -> Model:
    """One model by name; 404 when the server has no such model."""
    if model not in state.memory.models():
        raise HTTPException(404, f"no model named {model!r}; GET /v1/models lists them")
    return Model(id=model, created=int(state.started))
