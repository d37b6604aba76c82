"""Asking an LLM for JSON: lenient reading, bounded retries, structured output, no model until asked."""

from __future__ import annotations

from typing import Any

import pytest

from distill.generation import GenerationFailure, Generator, load_prompt, parse_json
from distill.scripted import ScriptedLLM

SCHEMA: dict[str, Any] = {"type": "object", "properties": {"questions": {"type": "array"}}}


def generator(*replies: str, structured: bool = False, attempts: int = 2) -> Generator:
    llm = ScriptedLLM(replies=list(replies))
    return Generator(lambda: llm, model="scripted", structured=structured, max_attempts=attempts)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('Sure! Here it is:\n```json\n{"a": [1, 2,],}\n```\nHope this helps.', {"a": [1, 2]}),
        ('[{"q": "Где?"}] and then {"b": 2}', [{"q": "Где?"}]),
        ('{"a": {"b": 1}} trailing } brace', {"a": {"b": 1}}),
    ],
)
def test_json_is_read_out_of_chatty_answers(text: str, expected: Any) -> None:
    assert parse_json(text) == expected


def test_text_without_json_is_refused() -> None:
    with pytest.raises(ValueError, match="no JSON"):
        parse_json("I cannot help with that {not json")


def test_a_bad_answer_is_retried_then_given_up_with_the_reason() -> None:
    retried = generator("no idea", '{"questions": ["Why?"]}')
    assert retried.ask("ask", SCHEMA, "questions") == {"questions": ["Why?"]}
    assert retried.calls == 2 and retried.tokens > 0
    failing = generator("no idea", "still nothing", "never asked", attempts=2)
    failure = failing.ask("ask", SCHEMA, "questions")
    assert isinstance(failure, GenerationFailure) and "still nothing" in failure.reason
    assert failing.calls == 2


def test_a_retry_samples_so_it_does_not_repeat_the_failed_answer() -> None:
    retried = generator("no idea", '{"questions": []}')
    retried.ask("ask", SCHEMA, "questions")
    llm = retried.llm()
    assert isinstance(llm, ScriptedLLM)
    assert "temperature" not in llm.kwargs[0]  # the first try at the model's own setting
    assert llm.kwargs[1]["temperature"] == 0.7


def test_the_openai_backend_sends_a_per_call_temperature() -> None:
    from overlay.config import LLMSettings
    from overlay.core.llms.openai_backend import openai_llm

    llm = openai_llm(LLMSettings.model_validate({"backend": "openai", "temperature": 0.0}))
    assert llm._get_model_kwargs(temperature=0.7)["temperature"] == 0.7


def test_structured_backends_get_the_schema_others_read_it_in_the_prompt() -> None:
    structured = generator('{"questions": []}', structured=True)
    structured.ask("ask", SCHEMA, "questions")
    llm = structured.llm()
    assert isinstance(llm, ScriptedLLM)
    assert llm.kwargs[0]["response_format"]["json_schema"] == {
        "name": "questions",
        "schema": SCHEMA,
    }
    plain = generator('{"questions": []}')
    plain.ask("ask", SCHEMA, "questions")
    llm = plain.llm()
    assert isinstance(llm, ScriptedLLM)
    assert llm.kwargs[0] == {} and '"questions"' in llm.prompts[0]


def test_the_model_is_made_at_the_first_question_only() -> None:
    made: list[int] = []

    def make() -> ScriptedLLM:
        made.append(1)
        return ScriptedLLM(replies=["{}"])

    lazy = Generator(make, model="scripted", structured=False)
    assert made == []
    lazy.ask("ask", SCHEMA, "x")
    lazy.ask("ask", SCHEMA, "x")
    assert made == [1]


def test_prompts_are_versioned_files() -> None:
    prompt = load_prompt("facts-1")
    assert prompt.version == "facts-1"
    text = prompt.render(title="Anna", heading="Basics", text="Born 1990.", count="3")
    assert "Born 1990." in text and "$" not in text
