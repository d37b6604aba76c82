"""Chat with the vault: an answer with numbered citations, streamed as Server-Sent Events."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from server.answering import (
    Citation,
    Message,
    answer_options,
    as_dict,
    to_turns,
)
from server.errors import error_responses
from server.state import MemoryDep, StateDep
from server.streams import ClientLeft, client_gone, frame

router = APIRouter(prefix="/api/v1", tags=["chat"])


class ChatRequest(BaseModel):
    messages: list[Message] = Field(
        min_length=1, max_length=200, description="The conversation so far; the last is asked."
    )
    rag: bool = Field(
        default=True, description="Retrieve from the vault and cite; false: the model alone."
    )
    stream: bool = Field(
        default=True, description="Answer as Server-Sent Events rather than one JSON."
    )
    adapter: str | None = Field(
        default=None,
        description="A LoRA adapter to answer with, by its name in /v1/models; null (or the "
        "base model's name): the model in service, i.e. the promoted adapter if any.",
    )
    think: bool | None = Field(
        default=None,
        description="Let the model reason before it answers (Qwen3-style models); the "
        "reasoning comes apart from the answer, as `reasoning` events and "
        "ChatAnswer.reasoning, never in its text. null: the server's `llm.thinking` (off "
        "unless set). Off, no reasoning is sent at all.",
    )
    client: Literal["plugin", "cli"] = Field(
        default="plugin", description="Who asks, as the conversation log records it."
    )


class ChatAnswer(BaseModel):
    text: str = Field(description="The answer, citing sources as [n].")
    reasoning: str = Field(default="", description="The model's reasoning, when it showed any.")
    citations: list[Citation]
    model: str = Field(description="The model (or adapter) that answered.")
    question: str = Field(default="", description="The standalone question searched for.")
    abstained: bool = Field(
        default=False, description="True when the notes held nothing relevant to answer from."
    )
    answer_kind: Literal["generated", "extractive", "none"] = Field(
        default="generated",
        description="'generated': the model's own answer, which cites its sources and is "
        "supported by them; 'extractive': the notes' best sentences quoted with citations "
        "(the model is too small, or its answer failed the check); 'none': nothing found.",
    )
    note: str = Field(
        default="", description="Why the answer is extractive, or how to get a better one."
    )
    warning: str = Field(
        default="", description="What may make the answer incomplete: the first index still runs."
    )
    log_id: int | None = Field(
        default=None,
        description="Its entry in the conversation log, to rate or correct it with "
        "POST /api/v1/log/{log_id}/rating; null when logging is off.",
    )


ANSWER_EVENT = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {
            "type": "string",
            "enum": ["sources", "token", "reasoning", "replace", "done", "error"],
        },
        "data": {"type": "string", "description": "The event's JSON object."},
    },
}
STREAM_DOC = """\
With `stream` (the default) the answer comes as `text/event-stream`, one JSON object per event:
`sources` `{"citations": [Citation]}` first, then `token` `{"text"}` pieces of the answer
(and, with `think`, `reasoning` `{"text"}` pieces of the model's reasoning, before the
answer and never inside it), perhaps `replace` `{"text"}` (the whole answer, instead of
the tokens so far: a generated answer its sources did not support), then `done` with
the whole ChatAnswer (with its `log_id` and `answer_kind`).
A failure after the stream began arrives as `error` `{"type", "message"}`.
"""


@router.post(
    "/chat",
    response_model=ChatAnswer,
    responses={
        200: {"content": {"text/event-stream": {"schema": ANSWER_EVENT}}},
        **error_responses(400, 404, 503),
    },
    description="Answer the last message from the vault, citing notes.\n\n" + STREAM_DOC,
)
def chat(request: ChatRequest, memory: MemoryDep, state: StateDep, left: ClientLeft) -> Any:
    turns = to_turns(request.messages)
    options = answer_options(memory, request.rag, request.adapter, request.think)
    options["interface"] = request.client
    options["indexing"] = state.sync.state == "indexing"
    events = memory.stream_answer(turns, **options)
    if request.stream:
        return state.streams.response(events, sse_event, left)
    done = state.streams.collect(events, left)  # streamed inside, to stop if the client goes
    if done is None:
        return client_gone()
    return ChatAnswer.model_validate(as_dict(done.data))


def sse_event(event: Any) -> str:
    """An AnswerEvent as the frame the plugin reads."""
    data = event.data
    if event.kind == "sources":
        return frame("sources", {"citations": [as_dict(c) for c in data]})
    if event.kind in ("token", "reasoning", "replace"):
        return frame(event.kind, {"text": data})
    return frame(event.kind, as_dict(data))
