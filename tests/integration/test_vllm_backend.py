"""The `openai` backend against a real vLLM server: chat, streaming, JSON schema, LoRA hot-loading."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from llama_index.core.base.llms.types import ThinkingBlock
from llama_index.core.llms import ChatMessage
from vllm_server import VllmServer, random_lora_adapter

from overlay.config import LLMSettings
from overlay.core.llms import llm_from_settings
from overlay.errors import ModelUnavailable

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QUESTION = [ChatMessage(role="user", content="What is the capital of France?")]


def served(server: VllmServer, **overrides: object) -> LLMSettings:
    settings = {"max_new_tokens": 24, **overrides}
    return LLMSettings(backend="openai", base_url=server.base_url, model=server.model, **settings)


def test_chat_through_the_openai_backend(vllm_server: VllmServer) -> None:
    llm = llm_from_settings(served(vllm_server))
    assert "Paris" in llm.chat(QUESTION).message.content


def test_streamed_chat_adds_up_to_the_answer(vllm_server: VllmServer) -> None:
    llm = llm_from_settings(served(vllm_server))
    responses = list(llm.stream_chat(QUESTION))
    deltas = [r.delta for r in responses if r.delta]

    assert len(deltas) >= 3
    assert "".join(deltas) == responses[-1].message.content
    assert "Paris" in "".join(deltas)


def test_json_schema_output_follows_the_schema(vllm_server: VllmServer) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
        "required": ["city", "country"],
        "additionalProperties": False,
    }
    llm = llm_from_settings(served(vllm_server, max_new_tokens=64))
    ask = [ChatMessage(role="user", content="Name a city and its country.")]

    reply = llm.chat(
        ask,
        response_format={"type": "json_schema", "json_schema": {"name": "place", "schema": schema}},
    )

    place = json.loads(reply.message.content or "")
    assert set(place) == {"city", "country"}
    assert all(isinstance(value, str) and value for value in place.values())


def test_thinking_asked_of_a_model_that_cannot_think_still_answers_cleanly(
    vllm_server: VllmServer,
) -> None:
    llm = llm_from_settings(served(vllm_server))

    reply = llm.chat(QUESTION, thinking=True).message  # SmolLM2's template has no thinking
    streamed = list(llm.stream_chat(QUESTION, thinking=False))

    assert "Paris" in (reply.content or "")
    for text in (reply.content or "", streamed[-1].message.content or ""):
        assert "<think" not in text and "think>" not in text
    assert not [b for b in reply.blocks if isinstance(b, ThinkingBlock) and b.content]
    assert not any(r.additional_kwargs.get("thinking_delta") for r in streamed)


def test_an_unknown_model_is_model_unavailable(vllm_server: VllmServer) -> None:
    llm = llm_from_settings(served(vllm_server, adapter="never-loaded"))
    with pytest.raises(ModelUnavailable, match="does not serve the model 'never-loaded'"):
        llm.chat(QUESTION)


def test_a_lora_adapter_loads_at_runtime_and_answers(
    vllm_server: VllmServer, smollm2_folder: Path, tmp_path: Path
) -> None:
    adapter = random_lora_adapter(smollm2_folder, tmp_path / "tiny-adapter", rank=8)

    loaded = httpx.post(
        f"{vllm_server.base_url}/load_lora_adapter",
        json={"lora_name": "tiny-adapter", "lora_path": str(adapter)},
        timeout=120.0,
    )
    models = httpx.get(f"{vllm_server.base_url}/models", timeout=10.0).json()["data"]

    assert loaded.status_code == 200, loaded.text
    assert any(m["id"] == "tiny-adapter" and m["parent"] == vllm_server.model for m in models)
    base = llm_from_settings(served(vllm_server)).chat(QUESTION).message.content
    adapted = llm_from_settings(served(vllm_server, adapter="tiny-adapter")).chat(QUESTION)
    assert adapted.message.content and adapted.message.content != base
