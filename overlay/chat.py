"""Answers from the vault with numbered sources, streamed, with citations.

A turn goes: condense the follow-up into a standalone question (when there is
history), retrieve, and either answer from the numbered sources or say the
notes do not hold the answer. That last decision is made from the retrieval
scores before the model is asked (the nearest chunk's similarity, or the best
word match), because a small model asked to abstain will invent an answer
anyway; it is measured in `benchmarks/abstention.py`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.llms import LLM
from llama_index.core.prompts import PromptTemplate

from overlay.retrieval import SearchHit, VaultRetriever
from vault_schema import count_tokens

NOT_IN_NOTES = "I could not find this in your notes."
# count_tokens estimates words and marks; a model's tokenizer splits Russian words into
# two or three pieces, so the window is budgeted as if each estimate were three tokens.
TOKENS_PER_ESTIMATE = 3
_CITATION = re.compile(r"\[(\d{1,2})\]")

SYSTEM_PROMPT = (
    "You answer questions about the user's own notes. Use only the numbered sources below. "
    "Cite the sources you use as [1], [2]. If the sources do not contain the answer, reply "
    f"exactly: {NOT_IN_NOTES} Answer in the language of the question.\n\nSources:\n"
    "{sources}"
)
CONDENSE_PROMPT = PromptTemplate(
    "Rewrite the last question so it can be understood without the conversation. "
    "Keep its language. Reply with the question only.\n\n"
    "Conversation:\n{history}\n\nLast question: {question}\nStandalone question:"
)


@dataclass(frozen=True, slots=True)
class ChatTurn:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True, slots=True)
class Citation:
    n: int
    note_path: str
    heading_path: tuple[str, ...]
    snippet: str
    cited: bool  # the answer refers to it as [n]
    score: float = 0.0  # retrieval's fused score of the passage

    @property
    def target(self) -> str:
        """`path#heading`, what a citation opens."""
        return self.note_path + ("#" + self.heading_path[-1] if self.heading_path else "")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "heading_path": list(self.heading_path), "target": self.target}


@dataclass(frozen=True, slots=True)
class Answer:
    text: str
    reasoning: str  # the model's reasoning when it was asked to think, else ''
    citations: tuple[Citation, ...]
    model: str
    question: str  # the standalone question that was searched for
    abstained: bool = False
    log_id: int | None = None  # its entry in the conversation log, once logged

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["citations"] = [c.to_dict() for c in self.citations]
        return data


@dataclass(frozen=True, slots=True)
class AnswerEvent:
    """One step of a streamed answer: 'sources' first, then 'reasoning'/'token's, then 'done'."""

    kind: Literal["sources", "reasoning", "token", "done"]
    data: Any = field(default=None)


class Chat:
    """Answers a conversation from the vault (or, with `rag=False`, from the bare model)."""

    def __init__(self, retriever: VaultRetriever, llm: LLM) -> None:
        self.retriever, self.llm = retriever, llm

    def answer(self, turns: Sequence[ChatTurn], *, rag: bool = True, think: bool = False) -> Answer:
        events = list(self.stream(turns, rag=rag, think=think))
        done = events[-1]
        assert done.kind == "done"
        answer: Answer = done.data
        return answer

    def stream(
        self, turns: Sequence[ChatTurn], *, rag: bool = True, think: bool = False
    ) -> Iterator[AnswerEvent]:
        """The answer as events. With `think` the model may reason first, and its reasoning
        comes as 'reasoning' events, never in the answer; without, none is shown at all."""
        question = self.standalone_question(turns) if rag else turns[-1].content
        hits = self.relevant(question) if rag else []
        yield AnswerEvent("sources", [_citation(i, h, False) for i, h in enumerate(hits, 1)])
        if rag and not hits:
            yield AnswerEvent("token", NOT_IN_NOTES)
            yield AnswerEvent("done", self._answer(NOT_IN_NOTES, "", hits, question, True))
            return
        text, reasoning = "", ""
        for response in self.llm.stream_chat(self._messages(turns, hits, rag), thinking=think):
            thinking = response.additional_kwargs.get("thinking_delta")
            if thinking and think:  # a model that reasons unasked is not shown reasoning
                reasoning += thinking
                yield AnswerEvent("reasoning", thinking)
            if response.delta:
                text += response.delta
                yield AnswerEvent("token", response.delta)
        yield AnswerEvent("done", self._answer(text.strip(), reasoning, hits, question, False))

    def relevant(self, question: str) -> list[SearchHit]:
        """The hits worth showing the model; none when the evidence is too weak."""
        found = self.retriever.find(question)
        return found.hits if found.is_relevant(self.retriever.settings) else []

    def standalone_question(self, turns: Sequence[ChatTurn]) -> str:
        question = turns[-1].content
        history = [t for t in turns[:-1] if t.role != "system"]
        if not history:
            return question
        transcript = "\n".join(f"{t.role}: {t.content}" for t in history[-6:])
        prompt = CONDENSE_PROMPT.format(history=transcript, question=question)
        rewritten = self.llm.complete(prompt, thinking=False)  # a rewrite needs no reasoning
        condensed = rewritten.text.strip().splitlines()[0:1]
        return condensed[0].strip() if condensed and condensed[0].strip() else question

    def _messages(
        self, turns: Sequence[ChatTurn], hits: Sequence[SearchHit], rag: bool
    ) -> list[ChatMessage]:
        """The prompt, cut to fit the context window: the question first, then as many
        sources as fit, then as much of the conversation as fits, newest first."""
        meta = self.llm.metadata
        budget = (meta.context_window - meta.num_output) // TOKENS_PER_ESTIMATE
        question = _clip(turns[-1].content, budget // 2)
        budget -= count_tokens(question)
        system: list[ChatMessage] = []
        if rag:
            kept = _fitting(hits, budget - count_tokens(SYSTEM_PROMPT))
            content = SYSTEM_PROMPT.format(sources=format_sources(kept))
            system = [ChatMessage(role=MessageRole.SYSTEM, content=content)]
            budget -= count_tokens(content)
        history: list[ChatMessage] = []
        for turn in reversed(turns[:-1]):
            budget -= count_tokens(turn.content)
            if budget < 0:
                break
            history.insert(0, ChatMessage(role=MessageRole(turn.role), content=turn.content))
        last = ChatMessage(role=MessageRole(turns[-1].role), content=question)
        return [*system, *history, last]

    def _answer(
        self, text: str, reasoning: str, hits: Sequence[SearchHit], question: str, abstained: bool
    ) -> Answer:
        cited = {int(n) for n in _CITATION.findall(text)}
        citations = tuple(_citation(i, h, i in cited) for i, h in enumerate(hits, 1))
        model = self.llm.metadata.model_name
        return Answer(text, reasoning.strip(), citations, model, question, abstained)


def format_sources(hits: Sequence[SearchHit]) -> str:
    """Numbered sources for the prompt: `[n] path › heading` then the chunk's text."""
    blocks = []
    for n, hit in enumerate(hits, 1):
        where = " › ".join([hit.note_path, *hit.heading_path])
        blocks.append(f"[{n}] {where}\n{hit.text.strip()}")
    return "\n\n".join(blocks)


def _fitting(hits: Sequence[SearchHit], budget: int) -> list[SearchHit]:
    kept: list[SearchHit] = []
    for hit in hits:
        budget -= count_tokens(hit.text) + 16
        if budget < 0:
            break
        kept.append(hit)
    return kept


def _clip(text: str, budget: int) -> str:
    """`text` cut to about `budget` estimated tokens (whole words)."""
    if count_tokens(text) <= budget:
        return text
    words = text.split()
    while words and count_tokens(" ".join(words)) > budget:
        words = words[: len(words) * 3 // 4]
    return " ".join(words) + " …"


def _citation(n: int, hit: SearchHit, cited: bool) -> Citation:
    return Citation(n, hit.note_path, hit.heading_path, hit.snippet, cited, hit.score)
