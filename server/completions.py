"""OpenAI-compatible `POST /v1/chat/completions`, answering from the vault by default.

Retrieval is on unless the body says `"overlay": {"rag": false}`. The sources
come twice: as a list of Obsidian links after the answer text (so any client
shows them), and in the extra top-level field `citations` (in a stream: on the
first chunk), which the `openai` client keeps (`completion.model_extra`).
The answer's conversation-log entry comes the same way, as `log_id` (in a
stream: on the finishing chunk), so a client can rate or correct it.
Sampling fields are honoured: `max_tokens` (or `max_completion_tokens`),
`temperature`, `top_p`, `stop`, `seed`; `finish_reason` is `length` when the answer
was cut at the limit. `usage` counts tokens with the model's tokenizer (in a stream
with `stream_options.include_usage`). An unknown `model` is a 404 `model_not_found`
unless `server.model_aliases` names it. The sources list after the answer holds only
what the answer cites.

Reasoning is off unless asked for, by `"overlay": {"think": true}` or as vLLM is asked,
`"chat_template_kwargs": {"enable_thinking": true}`. It comes as vLLM's reasoning
parser sends it: in `reasoning_content` (and, for newer clients, the same text in
`reasoning`) of the message or the stream's deltas, never in `content`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from overlay.core.note_links import wiki_link
from server.answering import Citation, answer_options, as_dict, to_turns
from server.answering import Message as Turn
from server.errors import error_responses
from server.state import MemoryDep, StateDep
from server.streams import ClientLeft, client_gone, frame

router = APIRouter(prefix="/v1", tags=["openai"])

CHUNK_EVENT = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "data": {
            "type": "string",
            "description": "A chat.completion.chunk as JSON; the last event is `[DONE]`.",
        }
    },
}

ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


class TextPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["text"] = Field(description="Only text: images and audio are not supported.")
    text: str


class ChatMessage(BaseModel):
    """A message; tool calls and tool results are not supported."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class OverlayOptions(BaseModel):
    rag: bool = Field(default=True, description="Retrieve from the vault and cite (the default).")
    think: bool | None = Field(
        default=None,
        description="Let the model reason first, sent as `reasoning_content`, never in "
        "`content`; null: `chat_template_kwargs.enable_thinking`, else the server's "
        "`llm.thinking` (off unless set).",
    )


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(
        max_length=512, description="A name from /v1/models; an adapter's name selects it."
    )
    messages: list[ChatMessage] = Field(min_length=1, max_length=200)
    stream: bool = False
    stream_options: StreamOptions | None = None
    overlay: OverlayOptions = Field(
        default_factory=lambda: OverlayOptions(),
        description='Overlay\'s own options, e.g. `{"rag": false}` for the model alone.',
    )
    max_tokens: int | None = Field(default=None, ge=1, description="Upper bound of the answer.")
    max_completion_tokens: int | None = Field(
        default=None, ge=1, description="OpenAI's newer name for `max_tokens`."
    )
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: str | list[str] | None = Field(default=None, description="Up to 4 stop sequences.")
    seed: int | None = Field(default=None, description="Makes sampling repeatable.")
    chat_template_kwargs: dict[str, Any] | None = Field(
        default=None,
        description='As vLLM takes it; `{"enable_thinking": true}` asks for reasoning '
        "(the only key Overlay reads).",
    )

    def sampling(self) -> dict[str, Any]:
        """The generation keywords the request sets, as the in-process backends take them."""
        stop = [self.stop] if isinstance(self.stop, str) else self.stop
        chosen = {
            "max_new_tokens": self.max_completion_tokens or self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "stop": stop or None,
            "seed": self.seed,
        }
        return {key: value for key, value in chosen.items() if value is not None}

    def asks_to_think(self) -> bool | None:
        """Whether the request asks for reasoning; None when it does not say."""
        if self.overlay.think is not None:
            return self.overlay.think
        asked = (self.chat_template_kwargs or {}).get("enable_thinking")
        return asked if isinstance(asked, bool) else None


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    reasoning_content: str | None = Field(
        default=None, description="The model's reasoning, when the request asked for it."
    )
    reasoning: str | None = Field(
        default=None, description="The same as `reasoning_content` (newer vLLM's name)."
    )


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop", "length"] = "stop"


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage | None = None
    citations: list[Citation] = Field(
        description="Overlay's extra: the notes the answer cites as [n]."
    )
    log_id: int | None = Field(
        default=None,
        description="Overlay's extra: the answer's conversation-log entry, to rate or correct "
        "with POST /api/v1/log/{log_id}/rating (in a stream: on the finishing chunk).",
    )


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={
        200: {"content": {"text/event-stream": {"schema": CHUNK_EVENT}}},
        **error_responses(400, 404, 503),
    },
)
def create_chat_completion(
    request: ChatCompletionRequest, memory: MemoryDep, state: StateDep, left: ClientLeft
) -> Any:
    """Answer like OpenAI's chat completions, from the vault with citations.

    With `stream`, `chat.completion.chunk` objects as `data:` lines and then
    `data: [DONE]`; the first chunk carries `citations`.
    """
    turns = to_turns(_plain_messages(request.messages))
    names = memory.models()
    aliases = state.settings.server.model_aliases
    if request.model not in names and request.model not in aliases and "*" not in aliases:
        return model_not_found(request.model)
    adapter = request.model if request.model in names else None  # else an alias: the default
    options = answer_options(memory, request.overlay.rag, adapter, request.asks_to_think())
    options["interface"] = "openai"
    options["sampling"] = request.sampling()
    options["indexing"] = state.sync.state == "indexing"
    events = memory.stream_answer(turns, **options)
    if not request.stream:
        done = state.streams.collect(events, left)  # streamed inside, to stop if the client goes
        if done is None:
            return client_gone()
        answer = as_dict(done.data)
        return ChatCompletion(
            id=_completion_id(),
            created=int(time.time()),
            model=answer.get("model") or adapter or names[0],
            choices=[Choice(message=_message(answer), finish_reason=answer["finish_reason"])],
            usage=Usage(**_usage(answer)),
            citations=[Citation.model_validate(c) for c in answer["citations"]],
            log_id=answer.get("log_id"),
        )
    model = adapter or memory.adapters.default_name
    chunks = ChunkStream(
        model, include_usage=bool(request.stream_options and request.stream_options.include_usage)
    )
    return state.streams.response(events, chunks.render, left, wrap=_with_done)


def model_not_found(model: str) -> JSONResponse:
    """OpenAI's answer to a model it does not serve."""
    message = (
        f"The model '{model}' does not exist: GET /v1/models lists the ones served "
        "(or name it in the server.model_aliases setting)."
    )
    error = {"message": message, "type": "invalid_request_error", "param": "model"}
    return JSONResponse({"error": {**error, "code": "model_not_found"}}, status_code=404)


def _usage(answer: dict[str, Any]) -> dict[str, int]:
    prompt, completion = answer["prompt_tokens"], answer["completion_tokens"]
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _plain_messages(messages: list[ChatMessage]) -> list[Turn]:
    """OpenAI messages as text turns ('developer' is OpenAI's newer name for 'system')."""
    return [
        Turn(role=ROLES[m.role], content=_text(m.content))  # type: ignore[arg-type]
        for m in messages
    ]


def _text(content: str | list[TextPart] | None) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    return "".join(part.text for part in content)


def _message(answer: dict[str, Any]) -> AssistantMessage:
    return AssistantMessage(
        content=answer["text"] + sources_text(answer["citations"]),
        reasoning_content=answer.get("reasoning") or None,
        reasoning=answer.get("reasoning") or None,
    )


def sources_text(citations: list[Any]) -> str:
    """The footnote list after the answer: `[n] [[note#heading]]`, links Obsidian opens,
    for the sources the answer cites."""
    cited = [c for c in map(as_dict, citations) if c.get("cited")]
    if not cited:
        return ""
    lines = [f"[{c['n']}] {wiki_link(c['note_path'], c.get('heading_path') or [])}" for c in cited]
    return "\n\nSources:\n" + "\n".join(lines)


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


class ChunkStream:
    """Turns AnswerEvents into `chat.completion.chunk` frames, remembering the sources."""

    def __init__(self, model: str, *, include_usage: bool) -> None:
        self.model = model
        self.include_usage = include_usage
        self.id = _completion_id()
        self.created = int(time.time())
        self.citations: list[Any] = []

    def render(self, event: Any) -> str:
        if event.kind == "sources":
            self.citations = [as_dict(c) for c in event.data]
            delta = {"role": "assistant", "content": ""}
            return self._chunk(delta, citations=self.citations)
        if event.kind == "token":
            return self._chunk({"content": event.data})
        if event.kind == "reasoning":
            return self._chunk({"reasoning_content": event.data, "reasoning": event.data})
        if event.kind == "done":
            answer = as_dict(event.data)
            self.model = answer.get("model") or self.model
            return self._final(answer)
        if event.kind == "replace":  # a stream cannot take back what it sent: say so
            return self._chunk({"content": f"\n\n(Not supported by your notes.) {event.data}"})
        return ""

    def _final(self, answer: dict[str, Any]) -> str:
        footnotes = sources_text(answer.get("citations", self.citations))
        frames = [self._chunk({"content": footnotes})] if footnotes else []
        finish = answer.get("finish_reason", "stop")
        frames.append(self._chunk({}, finish_reason=finish, log_id=answer.get("log_id")))
        if self.include_usage:
            usage = _usage(answer)
            frames.append(frame(None, {**self._head(), "choices": [], "usage": usage}))
        return "".join(frames)

    def _head(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
        }

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        return frame(None, {**self._head(), "choices": [choice], **extra})


async def _with_done(frames: AsyncIterator[str]) -> AsyncIterator[str]:
    """OpenAI streams end with `data: [DONE]`; an error frame ends them without it."""
    async for text in frames:
        if text.startswith("event: error"):
            error = json.loads(text.split("data: ", 1)[1])
            yield frame(None, {"error": error})
            return
        yield text
    yield frame(None, "[DONE]")
