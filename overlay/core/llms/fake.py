"""`FakeThinkingLLM`: a deterministic fake chat model that thinks in `<think>` tags, for tests.

It behaves like a Qwen3 model served without a reasoning parser: asked to think,
it writes `<think>…</think>` and then its answer; asked not to, it writes the
empty `<think>\\n\\n</think>` that Qwen3 emits with thinking off, then the answer
(with `always_thinks` it reasons either way, as thinking-only models do).
Streamed, its output comes a few characters at a time, so the tags fall across
chunk boundaries. It is a `LocalLLM`, so what a test sees went through the same
reasoning split as the real in-process backends. `llm.backend = "fake"` selects it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from llama_index.core.bridge.pydantic import Field

from overlay.core.llms.local import LocalLLM

THINKING_ON = "(thinking)"


class FakeThinkingLLM(LocalLLM):
    """A fake model that answers `answer_text`, thinking `reasoning_text` first when asked."""

    model: str = Field(default="fake-thinking", description="The name it answers under.")
    reasoning_text: str = Field(
        default="The person asks about their notes; the first source answers it.",
        description="What it thinks, inside <think> tags.",
    )
    answer_text: str = Field(
        default="The notes say so [1].", description="What it answers, every time."
    )
    always_thinks: bool = Field(default=False, description="Think even when asked not to.")
    piece_chars: int = Field(default=3, description="Characters per streamed delta.")

    @classmethod
    def class_name(cls) -> str:
        return "overlay_fake_thinking"

    def render(self, messages: list[dict[str, str]], *, thinking: bool | None = None) -> str:
        turns = [f"{m['role']}: {m['content']}" for m in messages]
        mark = THINKING_ON if self.thinks(thinking) else ""
        return "\n".join([*turns, f"assistant{mark}:"])

    def generate_text(self, prompt: str, **kwargs: Any) -> str:
        if self.always_thinks or prompt.endswith(f"{THINKING_ON}:"):
            return f"<think>\n{self.reasoning_text}\n</think>\n\n{self.answer_text}"
        return "<think>\n\n</think>\n\n" + self.answer_text  # Qwen3 with thinking off

    def stream_text(self, prompt: str, **kwargs: Any) -> Iterator[str]:
        output = self.generate_text(prompt)
        for start in range(0, len(output), self.piece_chars):
            yield output[start : start + self.piece_chars]
