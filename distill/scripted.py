"""`ScriptedLLM`: a deterministic fake chat model for fast tests of the pair sources.

It answers each call with the next of its scripted texts (the last one repeats) and
keeps the prompts and keyword arguments it was given. Real generation is tested
against a real vLLM server in `tests/integration/test_distill_llm.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
)
from llama_index.core.bridge.pydantic import Field
from llama_index.core.llms.custom import CustomLLM


class ScriptedLLM(CustomLLM):
    """A fake LLM that replies with scripted texts in order, the last one forever."""

    replies: list[str] = Field(description="What to answer, call by call.")
    prompts: list[str] = Field(default_factory=list, description="The prompts it was given.")
    kwargs: list[dict[str, Any]] = Field(default_factory=list, description="Their keywords.")

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(is_chat_model=True, model_name="scripted")

    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return ChatResponse(
            message=ChatMessage(role="assistant", content=self._next(messages[-1].content, kwargs))
        )

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text=self._next(prompt, kwargs))

    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        text = self._next(prompt, kwargs)
        yield CompletionResponse(text=text, delta=text)

    def _next(self, prompt: str | None, kwargs: dict[str, Any]) -> str:
        self.prompts.append(prompt or "")
        self.kwargs.append(kwargs)
        return self.replies[min(len(self.prompts) - 1, len(self.replies) - 1)]
