"""Reasoning (`<think>…</think>`) kept apart from the answer, whole or streamed.

Qwen3-style models may think before they answer. The thinking is never shown
as the answer: every backend passes its output through `split_reasoning` (whole
texts) or a `ReasoningStream` (streamed deltas), and puts the reasoning in a
LlamaIndex `ThinkingBlock`, where `ChatMessage.content` does not see it.

Two shapes occur: the model writes `<think>…</think>answer`, or the chat
template already opened the block in the prompt (Qwen3 thinking-only models,
DeepSeek-R1 distills), so the output is `…</think>answer`. A whole text is
recognised in either shape; a stream needs to be told about the second one
(`ReasoningStream(opened=True)`, see `opens_reasoning`).
"""

from __future__ import annotations

OPEN = "<think>"
CLOSE = "</think>"


def split_reasoning(text: str) -> tuple[str, str]:
    """(reasoning, answer) of a model's output; reasoning is '' when there was none.

    An unclosed block (the model ran out of tokens while thinking) is all
    reasoning and no answer. Text without a block is returned as the answer,
    unchanged.
    """
    stripped = text.lstrip()
    if stripped.startswith(OPEN):
        body = stripped[len(OPEN) :]
        reasoning, closed, answer = body.partition(CLOSE)
        return reasoning.strip(), answer.lstrip() if closed else ""
    if CLOSE in text:
        reasoning, _, answer = text.partition(CLOSE)
        return reasoning.strip(), answer.lstrip()
    return "", text


def opens_reasoning(prompt: str) -> bool:
    """Whether a rendered chat prompt leaves a `<think>` block open for the model."""
    return prompt.rstrip().endswith(OPEN)


class ReasoningStream:
    """Splits streamed text into (reasoning delta, answer delta) as it arrives.

    Text that could still turn out to be a tag is held back until it cannot, and so
    is whitespace that could still turn out to end the reasoning; `close()` releases
    whatever is left. Joined, the deltas equal `split_reasoning(whole text)` for
    output that opens its own block or has none: an empty block (Qwen3 writes one
    when thinking is off) gives no reasoning delta at all.
    """

    def __init__(self, opened: bool = False) -> None:
        self._state = "inside" if opened else "start"
        self._pending = ""
        self._fresh = True  # no reasoning released yet: leading whitespace is dropped

    def feed(self, delta: str) -> tuple[str, str]:
        """The reasoning and answer parts of `delta` that can be released now."""
        self._pending += delta
        reasoning = answer = ""
        while self._pending:
            released = self._step()
            if released is None:
                break
            kind, text = released
            if kind == "reasoning":
                reasoning += text
            else:
                answer += text
        return reasoning, answer

    def close(self) -> tuple[str, str]:
        """Whatever is still held back: reasoning inside an unclosed block, else answer."""
        pending, self._pending = self._pending, ""
        if self._state == "inside":
            return pending.strip() if self._fresh else pending.rstrip(), ""
        if self._state == "after":  # only whitespace followed the block
            return "", ""
        return "", pending

    def _step(self) -> tuple[str, str] | None:
        """Consume part of the pending text; None when more text is needed to decide."""
        if self._state == "start":
            head = self._pending.lstrip()
            if head.startswith(OPEN):
                self._state, self._pending = "inside", head[len(OPEN) :]
                return "reasoning", ""
            if not head or OPEN.startswith(head):
                return None
            self._state = "answer"
            return "answer", self._take(len(self._pending))
        if self._state == "inside":
            return self._step_inside()
        if self._state == "after":
            self._pending = self._pending.lstrip()
            if not self._pending:
                return None
            self._state = "answer"
        return "answer", self._take(len(self._pending))

    def _step_inside(self) -> tuple[str, str] | None:
        if self._fresh:
            self._pending = self._pending.lstrip()
        index = self._pending.find(CLOSE)
        if index >= 0:
            reasoning = self._take(index).rstrip()
            self._pending = self._pending[len(CLOSE) :]
            self._state = "after"
            return "reasoning", reasoning
        keep = _partial_tag_suffix(self._pending, CLOSE)
        ready = len(self._pending[: len(self._pending) - keep].rstrip())
        if ready == 0:
            return None
        self._fresh = False
        return "reasoning", self._take(ready)

    def _take(self, count: int) -> str:
        taken, self._pending = self._pending[:count], self._pending[count:]
        return taken


def _partial_tag_suffix(text: str, tag: str) -> int:
    """Length of the longest end of `text` that is a proper start of `tag`."""
    for size in range(min(len(text), len(tag) - 1), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0
