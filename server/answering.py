"""What both chat routes share (`/api/v1/chat` and `/v1/chat/completions`): the shapes of
a message and a citation, and how a request becomes Memory.answer's options."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import HTTPException
from pydantic import BaseModel, Field

from overlay.core.chat import ChatTurn
from overlay.core.memory import Memory

MAX_MESSAGE_CHARS = 100_000


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str = Field(max_length=MAX_MESSAGE_CHARS)


class Citation(BaseModel):
    n: int = Field(description="The number the answer cites it by, as [n].")
    note_path: str
    heading_path: list[str] = Field(description="Headings above the passage, outermost first.")
    snippet: str
    cited: bool = Field(default=False, description="Whether the answer refers to it as [n].")
    target: str = Field(default="", description="`note_path#heading`: what the citation opens.")


def to_turns(messages: list[Message]) -> list[ChatTurn]:
    return [ChatTurn(role=m.role, content=m.content) for m in messages]


def answer_options(
    memory: Memory, rag: bool, adapter: str | None, think: bool | None = None
) -> dict[str, Any]:
    """Keyword arguments of Memory.answer; an adapter must be a name /v1/models lists."""
    options: dict[str, Any] = {"rag": rag, "think": think}
    if adapter is None:
        return options
    if adapter not in memory.models():
        raise HTTPException(404, f"no adapter named {adapter!r}; GET /v1/models lists them")
    return {**options, "adapter": adapter}


def as_dict(value: Any) -> Any:
    return value.to_dict() if hasattr(value, "to_dict") else value
