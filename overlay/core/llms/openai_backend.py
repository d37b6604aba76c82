"""The `openai` backend: any OpenAI-compatible server, vLLM first.

LlamaIndex's `OpenAILike` does the talking. On top of it Overlay adds three
things: Qwen3's thinking is switched by `chat_template_kwargs` in the request
body (vLLM and llama.cpp's server read it; other templates ignore it), per call
with `thinking=True/False` as a keyword of `chat`/`stream_chat`, inline
`<think>` blocks are moved out of the answer into a `ThinkingBlock` (vLLM
started with `--reasoning-parser qwen3` already returns them apart, as
`reasoning_content` or, in newer versions, `reasoning`: LlamaIndex reads both),
an unreachable server or an unknown model becomes `ModelUnavailable`
instead of a stack trace, and a stream closed before its end (the person hung up)
closes its HTTP response, so the server stops generating: the openai client's own
stream holds itself in a reference cycle and would keep the request open until a
garbage collection.

Structured output with vLLM (verified with vLLM 0.32): pass
`response_format={"type": "json_schema", "json_schema": {"name": ..., "schema": ...}}`
to `chat`, or `extra_body={"structured_outputs": {"json": schema}}`; the older
`guided_json` is silently ignored by current vLLM.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    ThinkingBlock,
)

from overlay.config import LLMSettings
from overlay.core.llms.local import answer_message
from overlay.core.llms.reasoning import ReasoningStream, split_reasoning
from overlay.errors import DependencyMissing, ModelUnavailable

try:
    import openai
    from llama_index.llms.openai_like import OpenAILike
except ImportError as error:  # pragma: no cover - both are main dependencies
    raise DependencyMissing("llama-index-llms-openai-like", "the 'openai' backend") from error


class OpenAICompatibleLLM(OpenAILike):
    """OpenAILike with reasoning kept out of answers and server failures as ModelUnavailable."""

    @classmethod
    def class_name(cls) -> str:
        return "overlay_openai_compatible"

    def _chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        with self._failures():
            response = super()._chat(messages, **kwargs)
        return _without_inline_reasoning(response)

    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        """Stream the answer; closing the stream early cancels the request upstream."""
        return _closing_upstream(super().stream_chat(messages, **kwargs))

    def _stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        stream = super()._stream_chat(messages, **kwargs)

        def gen() -> ChatResponseGen:
            with self._failures():
                yield from _split_stream(stream)

        return gen()

    async def _achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        with self._failures():
            response = await super()._achat(messages, **kwargs)
        return _without_inline_reasoning(response)

    async def _astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        with self._failures():
            stream = await super()._astream_chat(messages, **kwargs)

        async def gen() -> ChatResponseAsyncGen:
            splitter = _StreamSplitter()
            with self._failures():
                async for response in stream:
                    for part in splitter.feed(response):
                        yield part
                for part in splitter.close():
                    yield part

        return gen()

    def _failures(self) -> _ServerFailures:
        return _ServerFailures(str(self.api_base), self.model)

    def _get_model_kwargs(self, **kwargs: Any) -> dict[str, Any]:
        """The request body's fields; a call's `thinking=True/False` becomes Qwen3's
        `chat_template_kwargs.enable_thinking` (the settings' value otherwise)."""
        thinking = kwargs.pop("thinking", None)
        if "max_new_tokens" in kwargs:  # the in-process backends' name for one request's limit
            kwargs["max_tokens"] = kwargs.pop("max_new_tokens")
        body: dict[str, Any] = super()._get_model_kwargs(**kwargs)
        if thinking is not None:
            extra = dict(body.get("extra_body") or {})
            template = dict(extra.get("chat_template_kwargs") or {})
            extra["chat_template_kwargs"] = {**template, "enable_thinking": bool(thinking)}
            body["extra_body"] = extra
        return body


def openai_llm(
    settings: LLMSettings, *, http_client: httpx.Client | None = None
) -> OpenAICompatibleLLM:
    """The LlamaIndex LLM for an OpenAI-compatible server described by `settings`.

    With `settings.adapter` set, requests name the adapter as the model: that is
    how vLLM serves a hot-loaded LoRA. `http_client` is the httpx client to talk
    through (default: the openai client's own).
    """
    template_kwargs = {"enable_thinking": settings.thinking}
    http_client = http_client or openai.DefaultHttpxClient()
    http_client.event_hooks = {
        **http_client.event_hooks,
        "response": [*http_client.event_hooks["response"], _OPENED.hook],
    }
    # OpenAI.__init__ takes the client; the pydantic fields mypy sees do not list it.
    client: dict[str, Any] = {"http_client": http_client}
    return OpenAICompatibleLLM(
        model=settings.adapter or settings.model,
        api_base=settings.base_url,
        api_key=settings.api_key,
        is_chat_model=True,
        context_window=settings.context_window,
        max_tokens=settings.max_new_tokens,
        temperature=settings.temperature,
        max_retries=1,
        timeout=120.0,
        additional_kwargs={"extra_body": {"chat_template_kwargs": template_kwargs}},
        **client,
    )


class _OpenedResponses(threading.local):
    """The HTTP responses a thread opens while it starts a stream (the request is sent
    on the stream's first pull, in the thread that pulls it)."""

    def __init__(self) -> None:
        self.into: list[httpx.Response] | None = None

    def hook(self, response: httpx.Response) -> None:
        if self.into is not None:
            self.into.append(response)

    @contextmanager
    def collecting(self, into: list[httpx.Response]) -> Iterator[None]:
        self.into = into
        try:
            yield
        finally:
            self.into = None


_OPENED = _OpenedResponses()


def _closing_upstream(stream: ChatResponseGen) -> ChatResponseGen:
    """`stream`, whose HTTP response is closed when it ends, early or not."""
    opened: list[httpx.Response] = []
    try:
        with _OPENED.collecting(opened):
            first = next(stream, None)
        if first is not None:
            yield first
            yield from stream
    finally:
        for response in opened:
            response.close()


class _ServerFailures:
    """Turns the openai client's connection and not-found errors into ModelUnavailable."""

    def __init__(self, base_url: str, model: str) -> None:
        self._base_url = base_url
        self._model = model

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: Any, traceback: Any) -> None:
        if isinstance(error, openai.APIConnectionError):
            raise ModelUnavailable(
                f"cannot reach the OpenAI-compatible server at {self._base_url} "
                f"({error}); start it or set llm.base_url"
            ) from error
        if isinstance(error, openai.NotFoundError):
            raise ModelUnavailable(
                f"the server at {self._base_url} does not serve the model '{self._model}'"
            ) from error


def _without_inline_reasoning(response: ChatResponse) -> ChatResponse:
    """The response with a `<think>` block in its text moved into a ThinkingBlock."""
    reasoning, answer = split_reasoning(response.message.content or "")
    if not reasoning:
        return response
    thinking = [b.content for b in response.message.blocks if isinstance(b, ThinkingBlock)]
    message = answer_message("\n".join([*[t for t in thinking if t], reasoning]), answer)
    message.additional_kwargs = response.message.additional_kwargs
    return response.model_copy(update={"message": message})


class _StreamSplitter:
    """Re-cuts streamed chat responses so that `delta` and content hold the answer only."""

    def __init__(self) -> None:
        self._splitter = ReasoningStream()
        self._reasoning = ""
        self._answer = ""

    def feed(self, response: ChatResponse) -> Iterator[ChatResponse]:
        server_reasoning = str(response.additional_kwargs.get("thinking_delta") or "")
        inline_reasoning, delta = self._splitter.feed(response.delta or "")
        yield from self._emit(response, server_reasoning + inline_reasoning, delta)

    def close(self) -> Iterator[ChatResponse]:
        reasoning, delta = self._splitter.close()
        if reasoning or delta:
            yield from self._emit(ChatResponse(message=answer_message("", "")), reasoning, delta)

    def _emit(self, response: ChatResponse, reasoning: str, delta: str) -> Iterator[ChatResponse]:
        if not (self._reasoning or reasoning) and delta == (response.delta or ""):
            self._answer += delta
            yield response  # nothing to re-cut: keep tool calls and all
            return
        self._reasoning += reasoning
        self._answer += delta
        message = answer_message(self._reasoning, self._answer)
        message.additional_kwargs = response.message.additional_kwargs
        extra = {k: v for k, v in response.additional_kwargs.items() if k != "thinking_delta"}
        if reasoning:
            extra["thinking_delta"] = reasoning
        yield response.model_copy(
            update={"message": message, "delta": delta, "additional_kwargs": extra}
        )


def _split_stream(stream: Iterator[ChatResponse]) -> Iterator[ChatResponse]:
    splitter = _StreamSplitter()
    for response in stream:
        yield from splitter.feed(response)
    yield from splitter.close()
