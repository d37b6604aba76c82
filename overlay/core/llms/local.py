"""The part every in-process backend shares: chat template, LlamaIndex surface, reasoning.

A backend implements three things (`render`, `generate_text`, `stream_text`)
and inherits `complete`, `stream_complete`, `chat` and `stream_chat`. Each of
those takes `thinking=True/False` to switch Qwen3-style thinking for one call
(default: the `thinking` field).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
    TextBlock,
    ThinkingBlock,
)
from llama_index.core.bridge.pydantic import Field
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.custom import CustomLLM

from overlay.core.llms.reasoning import ReasoningStream, opens_reasoning, split_reasoning


def message_dicts(messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
    """LlamaIndex messages as the role/content dicts chat templates expect."""
    return [{"role": str(m.role.value), "content": m.content or ""} for m in messages]


def answer_message(reasoning: str, answer: str) -> ChatMessage:
    """An assistant message whose content is the answer; reasoning rides in a ThinkingBlock."""
    blocks: list[Any] = [ThinkingBlock(content=reasoning)] if reasoning else []
    blocks.append(TextBlock(text=answer))
    return ChatMessage(role=MessageRole.ASSISTANT, blocks=blocks)


class LocalLLM(CustomLLM):
    """A chat model run in this process; subclasses supply the generation."""

    model: str = Field(description="Model name or folder.")
    context_window: int = Field(default=8192, description="Context window, in tokens.")
    max_new_tokens: int = Field(default=256, description="Upper bound of an answer.")
    temperature: float = Field(default=0.0, description="0 means greedy decoding.")
    repetition_penalty: float = Field(
        default=1.0, description="Penalty on tokens already generated; 1 means none."
    )
    thinking: bool = Field(default=False, description="Let Qwen3-style models think first.")

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=self.context_window,
            num_output=self.max_new_tokens,
            is_chat_model=True,
            model_name=self.model,
        )

    # The contract of a local backend.
    @abstractmethod
    def render(self, messages: list[dict[str, str]], *, thinking: bool | None = None) -> str:
        """The prompt of a conversation; `thinking` None: as the `thinking` field says."""

    def thinks(self, thinking: bool | None) -> bool:
        """Whether a call that asks for `thinking` (None: the default) lets the model think."""
        return self.thinking if thinking is None else thinking

    @abstractmethod
    def generate_text(self, prompt: str, **kwargs: Any) -> str:
        """The whole continuation of a rendered prompt."""

    @abstractmethod
    def stream_text(self, prompt: str, **kwargs: Any) -> Iterator[str]:
        """The continuation of a rendered prompt, delta by delta as it is generated."""

    # What LlamaIndex calls.
    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        prompt = self._render(message_dicts(messages), kwargs)
        reasoning, answer = self._split(prompt, self.generate_text(prompt, **kwargs))
        return ChatResponse(message=answer_message(reasoning, answer))

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        prompt = self._render(message_dicts(messages), kwargs)

        def gen() -> ChatResponseGen:
            reasoning = answer = ""
            for reasoning_delta, delta in self._stream_split(prompt, **kwargs):
                reasoning += reasoning_delta
                answer += delta
                extra = {"thinking_delta": reasoning_delta} if reasoning_delta else {}
                yield ChatResponse(
                    message=answer_message(reasoning, answer), delta=delta, additional_kwargs=extra
                )

        return gen()

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        rendered = self._render_prompt(prompt, formatted, kwargs)
        reasoning, answer = self._split(rendered, self.generate_text(rendered, **kwargs))
        return CompletionResponse(text=answer, additional_kwargs={"reasoning": reasoning})

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        rendered = self._render_prompt(prompt, formatted, kwargs)

        def gen() -> CompletionResponseGen:
            text = ""
            for _, delta in self._stream_split(rendered, **kwargs):
                text += delta
                if delta:
                    yield CompletionResponse(text=text, delta=delta)

        return gen()

    def _render(self, messages: list[dict[str, str]], kwargs: dict[str, Any]) -> str:
        """The prompt, thinking as `kwargs['thinking']` asks (taken out of kwargs) or as set."""
        return self.render(messages, thinking=kwargs.pop("thinking", None))

    def _render_prompt(self, prompt: str, formatted: bool, kwargs: dict[str, Any]) -> str:
        if formatted:
            kwargs.pop("thinking", None)  # the caller rendered it already
            return prompt
        return self._render([{"role": "user", "content": prompt}], kwargs)

    def _split(self, prompt: str, output: str) -> tuple[str, str]:
        if opens_reasoning(prompt):
            output = "<think>" + output
        return split_reasoning(output)

    def _stream_split(self, prompt: str, **kwargs: Any) -> Iterator[tuple[str, str]]:
        splitter = ReasoningStream(opened=opens_reasoning(prompt))
        for delta in self.stream_text(prompt, **kwargs):
            parts = splitter.feed(delta)
            if any(parts):
                yield parts
        tail = splitter.close()
        if any(tail):
            yield tail
