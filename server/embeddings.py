"""OpenAI-compatible `POST /v1/embeddings`, with the index's own embedder."""

from __future__ import annotations

import base64
from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from server.errors import error_responses
from server.limits import check_embedding_request
from server.state import MemoryDep

router = APIRouter(prefix="/v1", tags=["openai"])

Text = Annotated[str, StringConstraints(min_length=1, max_length=100_000)]


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # `user` and friends are accepted and ignored

    input: Text | Annotated[list[Text], Field(min_length=1, max_length=2048)] = Field(
        description="A text or a list of texts (token arrays are not accepted)."
    )
    model: str = Field(max_length=512, description="Any name: the index's embedder answers.")
    encoding_format: Literal["float", "base64"] = Field(
        default="float", description="'base64': little-endian float32, as the openai client asks."
    )


class Embedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class Usage(BaseModel):
    prompt_tokens: int = Field(default=0, description="Overlay does not count tokens: always 0.")
    total_tokens: int = 0


class EmbeddingList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: Usage = Field(default_factory=lambda: Usage())


@router.post("/embeddings", response_model=EmbeddingList, responses=error_responses(413, 503))
def create_embeddings(request: EmbeddingRequest, memory: MemoryDep) -> EmbeddingList:
    """Embed texts with the embedder the vault is indexed with (vectors are normalised)."""
    texts = [request.input] if isinstance(request.input, str) else request.input
    check_embedding_request(texts)
    vectors = memory.embed(texts)
    data = [
        Embedding(index=i, embedding=_encoded(vector, request.encoding_format))
        for i, vector in enumerate(vectors)
    ]
    return EmbeddingList(data=data, model=request.model)


def _encoded(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "float":
        return [float(x) for x in vector]
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
