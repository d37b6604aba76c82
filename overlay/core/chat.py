"""Answers from the vault with numbered sources, streamed, with citations.

A turn goes: search for the question (a follow-up together with the user's earlier
turns, never a model's rewrite of it), then answer from the numbered sources, or say
the notes do not hold the answer. That last decision is made from the retrieval
scores before the model is asked (`overlay.core.relevance`), because a small model
asked to abstain will invent an answer anyway; it is measured in
`benchmarks/abstention.py`.

How the answer is made is its `answer_kind`: 'extractive' quotes the sources' best
sentences (`overlay.core.answers`), for a model known to be too small and whenever a
model's answer fails the grounding check; 'generated' is the model's own answer, kept
because it cites its sources and they say what it says; 'none' says the notes are
silent.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.llms import LLM

from overlay.core import note_links
from overlay.core.answers import (
    best_quotes,
    differ,
    extractive_answer,
    grounding_problem,
    is_degenerate,
    is_russian,
    quotable,
)
from overlay.core.relevance import holds_answer
from overlay.core.retrieval import SearchHit, VaultRetriever
from overlay.errors import InvalidQuestion
from vault_schema import count_tokens

NOT_IN_NOTES = "I could not find this in your notes."
NOT_IN_NOTES_RU = "Я не нашёл этого в ваших заметках."
STILL_INDEXING = (
    "Your notes are still being indexed, and what is indexed so far holds nothing on this: "
    "ask again once indexing is done (`overlay status`)."
)
INDEXING_WARNING = "The first index of your notes is still running: answers may miss notes."
# count_tokens estimates words and marks; a model's tokenizer splits Russian words into
# two or three pieces, so the window is budgeted as if each estimate were three tokens.
TOKENS_PER_ESTIMATE = 3
_CITATION = re.compile(r"\[(\d{1,2})\]")
FOLLOW_UP_TURNS = 3  # a follow-up is searched together with this many earlier user turns
FOLLOW_UP_CARRIED = 2  # best hits of the previous question a follow-up starts from
AnswerKind = Literal["generated", "extractive", "none"]
# 'extractive': always quote; 'checked': the model's answer when it is grounded, else
# quote; 'generated': the model's answer as it is (for comparing models).
AnswerMode = Literal["extractive", "checked", "generated"]

SYSTEM_PROMPT = (
    "You answer questions about the user's own notes. Use only the numbered sources below. "
    "Cite the sources you use as [1], [2]. If the sources do not contain the answer, reply "
    f"exactly: {NOT_IN_NOTES} Answer in the language of the question.\n\nSources:\n"
    "{sources}"
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
        """`path#heading`, what a citation opens (overlay/core/note_links.py)."""
        return note_links.target(self.note_path, self.heading_path)

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
    answer_kind: AnswerKind = "generated"
    note: str = ""  # why an answer is extractive, or how to get a better one
    warning: str = ""  # e.g. that the index is still being built
    finish_reason: Literal["stop", "length"] = "stop"  # 'length': cut at the token limit
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["citations"] = [c.to_dict() for c in self.citations]
        return data


@dataclass(frozen=True, slots=True)
class AnswerEvent:
    """One step of a streamed answer: 'sources' first, then 'reasoning'/'token's, then 'done'.

    'replace' (with the whole new text) withdraws the tokens sent so far: a generated
    answer that failed the grounding check, replaced by an extractive one. The answer in
    'done' holds the sources sent first, in order, then any chunk an extractive answer
    quoted that retrieval did not show."""

    kind: Literal["sources", "reasoning", "token", "replace", "done"]
    data: Any = field(default=None)


class Chat:
    """Answers a conversation from the vault (or, with `rag=False`, from the bare model)."""

    def __init__(
        self, retriever: VaultRetriever, llm: LLM, *, mode: AnswerMode = "generated"
    ) -> None:
        self.retriever, self.llm, self.mode = retriever, llm, mode
        self._sampling: dict[str, Any] = {}
        self._prompt_tokens = 0
        self._generated = False
        self._truncated = False  # an extractive answer was cut to the request's limit

    def answer(
        self,
        turns: Sequence[ChatTurn],
        *,
        rag: bool = True,
        think: bool = False,
        indexing: bool = False,
        sampling: dict[str, Any] | None = None,
    ) -> Answer:
        events = list(
            self.stream(turns, rag=rag, think=think, indexing=indexing, sampling=sampling)
        )
        done = events[-1]
        assert done.kind == "done"
        answer: Answer = done.data
        return answer

    def stream(
        self,
        turns: Sequence[ChatTurn],
        *,
        rag: bool = True,
        think: bool = False,
        indexing: bool = False,
        sampling: dict[str, Any] | None = None,
    ) -> Iterator[AnswerEvent]:
        """The answer as events. With `think` the model may reason first, and its reasoning
        comes as 'reasoning' events, never in the answer; without, none is shown at all.
        `indexing` (the first index is still being built) is said in the answer's warning,
        and, when nothing is found yet, instead of 'not in your notes'. `sampling` holds
        generation keywords (`max_new_tokens`, `temperature`, `top_p`, `stop`, `seed`);
        `max_new_tokens` bounds an extractive or canned answer too. An empty question is
        refused here, before any event, so a server can still answer it with a 400."""
        if not turns or not turns[-1].content.strip():
            raise InvalidQuestion("the question is empty: ask something about your notes")
        self._sampling = dict(sampling or {})
        self._truncated = False
        return self._events(turns, rag, think, indexing)

    def _events(
        self, turns: Sequence[ChatTurn], rag: bool, think: bool, indexing: bool
    ) -> Iterator[AnswerEvent]:
        warning = INDEXING_WARNING if indexing and rag else ""
        for event in self._stream(turns, rag, think, indexing):
            if event.kind == "done" and warning:
                event = AnswerEvent("done", dataclasses.replace(event.data, warning=warning))
            yield event

    def _stream(
        self, turns: Sequence[ChatTurn], rag: bool, think: bool, indexing: bool
    ) -> Iterator[AnswerEvent]:
        question = self.standalone_question(turns) if rag else turns[-1].content
        hits = self._follow_up_hits(turns, question) if rag else []
        yield AnswerEvent("sources", [_citation(i, h, False) for i, h in enumerate(hits, 1)])
        if rag and not hits:
            yield from self._declined(turns[-1].content, hits, question, indexing)
            return
        if rag and self.mode == "extractive":
            yield from self._extractive(turns[-1].content, hits, question, "", "")
            return
        text, reasoning = "", ""
        for kind, delta in self._generate(turns, hits, rag, think):
            if kind == "reasoning":
                reasoning += delta
            else:
                text += delta
            yield AnswerEvent(kind, delta)
        problem = grounding_problem(text, hits) if rag and self.mode == "checked" else None
        if problem:
            yield from self._extractive(turns[-1].content, hits, question, reasoning, problem)
            return
        yield AnswerEvent("done", self._answer(text.strip(), reasoning, hits, question))

    def _generate(
        self, turns: Sequence[ChatTurn], hits: Sequence[SearchHit], rag: bool, think: bool
    ) -> Iterator[tuple[Literal["reasoning", "token"], str]]:
        """The model's reasoning and answer deltas, cut short once the answer loops."""
        text = ""
        messages = self._messages(turns, hits, rag)
        self._generated = True
        self._prompt_tokens = self.count_tokens(" ".join(m.content or "" for m in messages))
        for response in self.llm.stream_chat(messages, thinking=think, **self._sampling):
            thinking = response.additional_kwargs.get("thinking_delta")
            if thinking and think:  # a model that reasons unasked is not shown reasoning
                yield "reasoning", thinking
            if response.delta:
                text += response.delta
                yield "token", response.delta
                if is_degenerate(text):
                    return  # closing the stream stops the generation

    def _extractive(
        self,
        asked: str,
        hits: Sequence[SearchHit],
        question: str,
        reasoning: str,
        problem: str,
    ) -> Iterator[AnswerEvent]:
        passages = quotable(hits, self.retriever.store.scene_notes(), self.retriever.passages_of)
        quotes = best_quotes(asked, passages, self.retriever.embedder)
        if not quotes:  # nothing there says what was asked
            yield from self._declined(asked, hits, question, indexing=False)
            return
        sources = list(hits)  # a quote from a chunk retrieval did not show becomes a source
        for quote in quotes:
            if quote.passage not in sources:
                sources.append(quote.passage)
        numbered = [(q.text, sources.index(q.passage) + 1) for q in quotes]
        text = self._within_limit(extractive_answer(asked, numbered, differ=differ(quotes)))
        self._prompt_tokens = self.count_tokens(asked)
        why = f"the model's answer was replaced: {problem}" if problem else ""
        yield AnswerEvent("replace" if problem else "token", text)
        answer = self._answer(text, reasoning, sources, question, "extractive")
        yield AnswerEvent("done", dataclasses.replace(answer, note=why))

    def _declined(
        self, asked: str, hits: Sequence[SearchHit], question: str, indexing: bool
    ) -> Iterator[AnswerEvent]:
        silent = self._within_limit(STILL_INDEXING if indexing else not_in_notes(asked))
        self._prompt_tokens = self.count_tokens(asked)
        yield AnswerEvent("token", silent)
        yield AnswerEvent("done", self._answer(silent, "", hits, question, "none"))

    def relevant(self, question: str) -> list[SearchHit]:
        """The hits worth showing the model; none when the evidence is too weak."""
        found = self.retriever.find(question)
        return found.hits if holds_answer(question, found, self.retriever.settings) else []

    def _follow_up_hits(self, turns: Sequence[ChatTurn], question: str) -> list[SearchHit]:
        """The hits for `question`; for a follow-up, the best ones for the question before
        it come first (what 'she' refers to), then the conversation's own."""
        hits = self.relevant(question)
        asked = [t.content for t in turns[:-1] if t.role == "user" and t.content.strip()]
        if not asked:
            return hits
        earlier = self.relevant(asked[-1])[:FOLLOW_UP_CARRIED]
        kept = {hit.chunk_id for hit in earlier}
        combined = earlier + [hit for hit in hits if hit.chunk_id not in kept]
        return combined[: self.retriever.settings.top_k]

    def standalone_question(self, turns: Sequence[ChatTurn]) -> str:
        """What to search for: the last question, after the user's earlier questions.

        A small model's rewrite of a follow-up turns it into noise; the user's own words
        do not ('What is my cat's name?' then 'And how old is she?' finds the cat)."""
        asked = [t.content.strip() for t in turns if t.role == "user" and t.content.strip()]
        return " ".join(asked[-1 - FOLLOW_UP_TURNS :]) or turns[-1].content

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

    def count_tokens(self, text: str) -> int:
        """Tokens by the model's tokenizer where the backend offers it and the model ran
        (an extractive answer does not load a model just to count), else an estimate."""
        counter = getattr(self.llm, "count_tokens", None) if self._generated else None
        return int(counter(text)) if callable(counter) else count_tokens(text)

    def _limit(self) -> int:
        return int(self._sampling.get("max_new_tokens") or self.llm.metadata.num_output)

    def _within_limit(self, text: str) -> str:
        """`text` cut to the token limit a request set (whole words)."""
        limit = self._sampling.get("max_new_tokens")
        if not limit or self.count_tokens(text) <= limit:
            return text
        words = text.split()
        while words and self.count_tokens(" ".join(words)) > limit:
            words.pop()
        self._truncated = True
        return " ".join(words)

    def _answer(
        self,
        text: str,
        reasoning: str,
        hits: Sequence[SearchHit],
        question: str,
        kind: AnswerKind = "generated",
    ) -> Answer:
        cited = {int(n) for n in _CITATION.findall(text)}
        citations = tuple(_citation(i, h, i in cited) for i, h in enumerate(hits, 1))
        model = self.llm.metadata.model_name
        abstained = kind == "none"
        used = self.count_tokens(text)
        # A re-tokenized answer may count one token fewer than was generated.
        cut = self._truncated or (kind == "generated" and used >= self._limit() - 1)
        return Answer(
            text,
            reasoning.strip(),
            citations,
            model,
            question,
            abstained,
            answer_kind=kind,
            finish_reason="length" if cut else "stop",
            prompt_tokens=self._prompt_tokens,
            completion_tokens=used,
        )


def not_in_notes(question: str) -> str:
    """The decline, in the language of the question."""
    return NOT_IN_NOTES_RU if is_russian(question) else NOT_IN_NOTES


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
