"""Asking the LLM for JSON: structured output where the backend has it, lenient parsing else.

The `openai` backend (vLLM first) takes a JSON schema as `response_format`, so the
answer is valid JSON by construction. In-process backends cannot: the prompt shows
the schema and the answer is read leniently (the first JSON object or array in the
text, trailing commas forgiven). A retry samples at `retry_temperature` (every
backend takes `temperature` per call): at the usual temperature 0 it would repeat
the answer that just failed. A generator that still gets nothing usable after
`max_attempts` returns a `GenerationFailure` with the reason; the run records it
and moves on. Nothing here imports a model: the LLM is handed in.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from string import Template
from typing import TYPE_CHECKING, Any

from distill.pairs import Pair
from overlay.config import Settings
from vault_schema import Note, count_tokens

if TYPE_CHECKING:
    from llama_index.core.llms import LLM, ChatResponse

_TRAILING_COMMA = re.compile(r",\s*([\]}])")
_OPENERS = {"{": "}", "[": "]"}


@dataclass(frozen=True)
class Prompt:
    """A versioned prompt file, `distill/prompts/<name>-<n>.txt`; `$names` are its fields."""

    version: str  # e.g. 'facts-1': stored with every pair it made
    text: str

    def render(self, **fields: str) -> str:
        return Template(self.text).substitute(fields)


def load_prompt(version: str) -> Prompt:
    """The prompt file of this version, from the package's `prompts` folder."""
    text = resources.files("distill.prompts").joinpath(f"{version}.txt").read_text("utf-8")
    return Prompt(version, text)


@dataclass(frozen=True)
class GenerationFailure:
    """Why a generator got no usable answer for one piece of text."""

    reason: str


def parse_json(text: str) -> Any:
    """The first JSON object or array in `text`, or ValueError.

    Small models wrap JSON in prose or code fences and leave trailing commas; both
    are forgiven. The whole text is tried first, as a structured answer is just JSON.
    """
    with contextlib.suppress(json.JSONDecodeError):
        return json.loads(text)
    for start, char in enumerate(text):
        if char in _OPENERS:
            end = text.rfind(_OPENERS[char])
            while end > start:
                candidate = _TRAILING_COMMA.sub(r"\1", text[start : end + 1])
                try:
                    return json.loads(candidate)
                except json.JSONDecodeError:
                    end = text.rfind(_OPENERS[char], start, end)
    raise ValueError(f"no JSON in the answer: {text[:80]!r}")


class Generator:
    """Asks one LLM for JSON answers matching schemas; counts the tokens it got back."""

    def __init__(
        self,
        make_llm: Callable[[], LLM],
        *,
        model: str,
        structured: bool,
        max_attempts: int = 2,
        retry_temperature: float = 0.7,
    ) -> None:
        self._make_llm = make_llm  # called at the first question: no question, no model
        self._llm: LLM | None = None
        self.model = model  # recorded as each pair's generator
        self.structured = structured  # the backend takes `response_format` json_schema
        self.max_attempts = max_attempts
        self.retry_temperature = retry_temperature  # the first attempt uses the LLM's own
        self.tokens = 0  # generated, all answers
        self.tokens_estimated = 0  # the part of `tokens` that could only be estimated
        self.calls = 0

    @classmethod
    def from_settings(cls, settings: Settings, llm: LLM | None = None) -> Generator:
        """A generator for the settings' LLM (or `llm`), made when first asked."""

        def make() -> LLM:
            if llm is not None:
                return llm
            from overlay.core.llms import llm_from_settings

            return llm_from_settings(settings.llm)

        return cls(
            make,
            model=settings.llm.adapter or settings.llm.model,
            structured=settings.llm.backend == "openai",
            max_attempts=settings.distill.max_attempts,
            retry_temperature=settings.distill.retry_temperature,
        )

    def llm(self) -> LLM:
        """The LLM, made now if this is the first question."""
        if self._llm is None:
            self._llm = self._make_llm()
        return self._llm

    def ask(self, prompt: str, schema: dict[str, Any], name: str) -> Any:
        """The parsed answer to `prompt`, or a GenerationFailure saying why there is none."""
        from llama_index.core.llms import ChatMessage

        kwargs: dict[str, Any] = {}
        if self.structured:
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": schema},
            }
        else:
            prompt += f"\n\nAnswer with JSON only, matching this schema:\n{json.dumps(schema)}"
        reason = "no attempt"
        for attempt in range(self.max_attempts):
            self.calls += 1
            if attempt:
                kwargs["temperature"] = self.retry_temperature
            response = self.llm().chat([ChatMessage(role="user", content=prompt)], **kwargs)
            answer = response.message.content or ""
            self._count(response)
            try:
                return parse_json(answer)
            except ValueError as error:
                reason = str(error)
        return GenerationFailure(f"{name}: {reason}")

    def _count(self, response: ChatResponse) -> None:
        """Add the answer's tokens: as the server reported them (`usage.completion_tokens`),
        else by the in-process model's tokenizer, else estimated (vault_schema.count_tokens)."""
        reported = response.additional_kwargs.get("completion_tokens")
        if isinstance(reported, int) and reported > 0:
            self.tokens += reported
            return
        # The reasoning (a ThinkingBlock's `content`) was generated too.
        text = "".join(
            str(getattr(block, "content", None) or getattr(block, "text", ""))
            for block in response.message.blocks
        )
        tokenizer = _tokenizer(self.llm())
        if tokenizer is not None:
            self.tokens += len(tokenizer(text, add_special_tokens=False)["input_ids"])
            return
        estimate = count_tokens(text)
        self.tokens += estimate
        self.tokens_estimated += estimate


def _tokenizer(llm: LLM) -> Any:
    """The in-process backends' own tokenizer (transformers: `loaded()`; vLLM: its
    engine's), or None for a model this process does not run."""
    loaded = getattr(llm, "loaded", None)
    if callable(loaded):
        return loaded()[1]
    engine = getattr(llm, "engine", None)
    if callable(engine):
        return engine().get_tokenizer()
    return None


@dataclass(frozen=True)
class Rejection:
    """A question or answer the model wrote that a quality check threw out."""

    check: str  # one of REJECTION_CHECKS
    detail: str  # where and what, for the closing summary


REJECTION_CHECKS = {
    "language": "not in its language",
    "answered": "abstention question the vault answers",
}


@dataclass
class Generated:
    """What an LLM source made of one note: pairs, each with the text it must be
    grounded in; why pieces gave nothing (`failures`: no usable answer); and what
    the quality checks threw out (`rejections`: a question or answer not in its
    language, an abstention question the vault answers)."""

    pairs: list[tuple[Pair, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


def qa_pair(
    question: str, answer: str, *, note: Note, source: str, generator: Generator, **rest: Any
) -> Pair:
    """A one-exchange pair made by `generator` from `note`, pending review."""
    messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    return Pair.make(
        messages,
        note_path=note.path,
        source=source,
        content_hash=note.content_hash,
        generator=generator.model,
        **rest,
    )


def texts(value: Any) -> list[str]:
    """The non-empty strings of a JSON list (anything else: none)."""
    if not isinstance(value, list):
        return []
    return [item.strip() for item in value if isinstance(item, str) and item.strip()]
