"""Visible reasoning: asked for (`think`), it arrives apart from the answer through every
API; not asked for, none arrives and no `<think>` tag ever reaches an answer.

The fast tests use `FakeThinkingLLM` (it thinks in `<think>` tags, streamed in 3-character
pieces, and writes Qwen3's empty block when thinking is off); the last ones use the real
SmolLM2, which cannot think, through the real in-process backend.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner
from vaults import MakeSettings, MakeVault

from indexer.embedders import HashEmbedder
from overlay.cli import app as cli
from overlay.config import Settings
from overlay.core.chat import ChatTurn
from overlay.core.llms.fake import FakeThinkingLLM
from overlay.core.memory import Memory
from server.app import create_app

FAKE = FakeThinkingLLM()
REASONING, ANSWER = FAKE.reasoning_text, FAKE.answer_text
TOKEN = "test-token"
QUESTION = [{"role": "user", "content": "What is my boat called?"}]
BOAT = {
    "Projects/The boat.md": "# The boat\n\nMy boat is called Rusalka. She is moored at Jurmala.\n"
}


def reasoning_settings(make_settings: MakeSettings, vault: Path, **overrides: Any) -> Settings:
    return make_settings(
        vault,
        index__embedder="hash",
        llm__backend="fake",
        llm__model="fake-thinking",
        llm__answers="generated",  # its fixed answer is about reasoning, not grounding
        retrieval__min_relevance=-1.0,  # the hash embedder's hits always count
        server__token=TOKEN,
        **overrides,
    )


@pytest.fixture
def settings(make_settings: MakeSettings, make_vault: MakeVault) -> Settings:
    return reasoning_settings(make_settings, make_vault(BOAT))


@contextmanager
def serve(settings: Settings, **llm_fields: Any) -> Iterator[TestClient]:
    """The HTTP API over the vault, answered by a FakeThinkingLLM with `llm_fields`."""
    memory = Memory(settings, embedder=HashEmbedder(), llm=FakeThinkingLLM(**llm_fields))
    memory.sync()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(create_app(settings, memory=memory), headers=headers) as http:
        yield http
    memory.close()


@pytest.fixture
def http(settings: Settings) -> Iterator[TestClient]:
    with serve(settings) as client:
        yield client


def events(http: TestClient, **body: Any) -> list[tuple[str, Any]]:
    """The plugin API's streamed answer as (event, data) pairs."""
    response = http.post("/api/v1/chat", json={"messages": QUESTION} | body)
    assert response.status_code == 200, response.text
    frames = []
    for block in response.text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "data" in fields:
            frames.append((fields.get("event", "message"), json.loads(fields["data"])))
    return frames


def texts(frames: list[tuple[str, Any]], kind: str) -> list[str]:
    return [data["text"] for event, data in frames if event == kind]


def assert_clean(answer: str) -> None:
    """An answer without reasoning or a trace of its tags."""
    assert "<think" not in answer and "think>" not in answer
    assert REASONING not in answer


# The plugin API: /api/v1/chat


@pytest.mark.parametrize("rag", [True, False])
def test_a_streamed_answer_sends_reasoning_apart_and_first(http: TestClient, rag: bool) -> None:
    frames = events(http, think=True, rag=rag)

    kinds = [event for event, _ in frames]
    assert kinds[0] == "sources" and kinds[-1] == "done"
    assert kinds.index("token") > max(i for i, kind in enumerate(kinds) if kind == "reasoning")
    assert "".join(texts(frames, "reasoning")) == REASONING
    assert "".join(texts(frames, "token")).strip() == ANSWER
    for token in texts(frames, "token"):
        assert_clean(token)
    done = frames[-1][1]
    assert (done["text"], done["reasoning"]) == (ANSWER, REASONING)


@pytest.mark.parametrize("think", [False, None])  # None: the default, llm.thinking (off)
def test_without_think_no_reasoning_is_streamed(http: TestClient, think: bool | None) -> None:
    frames = events(http, think=think)

    assert texts(frames, "reasoning") == []
    assert "".join(texts(frames, "token")).strip() == ANSWER  # Qwen3's empty block is gone
    done = frames[-1][1]
    assert (done["text"], done["reasoning"]) == (ANSWER, "")


def test_a_follow_up_thinks_once_and_its_history_holds_no_reasoning(http: TestClient) -> None:
    turns = [*QUESTION, {"role": "assistant", "content": ANSWER}, QUESTION[0]]
    frames = events(http, think=True, messages=turns)

    assert "".join(texts(frames, "reasoning")) == REASONING  # not for the rewritten question
    assert frames[-1][1]["text"] == ANSWER


def test_a_whole_answer_carries_reasoning_in_its_own_field(http: TestClient) -> None:
    asked = {"messages": QUESTION, "stream": False}
    thought = http.post("/api/v1/chat", json={**asked, "think": True}).json()
    plain = http.post("/api/v1/chat", json=asked).json()

    assert (thought["text"], thought["reasoning"]) == (ANSWER, REASONING)
    assert (plain["text"], plain["reasoning"]) == (ANSWER, "")


def test_a_model_that_thinks_unasked_shows_no_reasoning(settings: Settings) -> None:
    with serve(settings, always_thinks=True) as http:
        frames = events(http, think=False)
        whole = http.post("/api/v1/chat", json={"messages": QUESTION, "stream": False}).json()

        assert texts(frames, "reasoning") == [] and frames[-1][1]["reasoning"] == ""
        assert_clean("".join(texts(frames, "token")))
        assert (whole["text"], whole["reasoning"]) == (ANSWER, "")


def test_the_thinking_setting_is_the_default_and_a_request_overrides_it(
    make_settings: MakeSettings, make_vault: MakeVault
) -> None:
    settings = reasoning_settings(make_settings, make_vault(BOAT), llm__thinking=True)
    with serve(settings) as http:
        assert "".join(texts(events(http), "reasoning")) == REASONING
        assert texts(events(http, think=False), "reasoning") == []


# The OpenAI-compatible API: /v1/chat/completions


def completion(http: TestClient, **body: Any) -> dict[str, Any]:
    request = {"model": "fake-thinking", "messages": QUESTION, **body}
    response = http.post("/v1/chat/completions", json=request)
    assert response.status_code == 200, response.text
    reply: dict[str, Any] = response.json()
    return reply


def chunk_deltas(http: TestClient, **body: Any) -> list[dict[str, Any]]:
    request = {"model": "fake-thinking", "messages": QUESTION, "stream": True, **body}
    response = http.post("/v1/chat/completions", json=request)
    assert response.status_code == 200, response.text
    lines = [
        line[len("data: ") :] for line in response.text.splitlines() if line.startswith("data: ")
    ]
    assert lines[-1] == "[DONE]"
    return [
        json.loads(line)["choices"][0]["delta"]
        for line in lines[:-1]
        if json.loads(line)["choices"]
    ]


@pytest.mark.parametrize(
    "asked",
    [{"overlay": {"think": True}}, {"chat_template_kwargs": {"enable_thinking": True}}],
    ids=["overlay.think", "chat_template_kwargs"],
)
def test_a_completion_returns_reasoning_as_reasoning_content(
    http: TestClient, asked: dict[str, Any]
) -> None:
    message = completion(http, **asked)["choices"][0]["message"]

    assert message["reasoning_content"] == message["reasoning"] == REASONING
    assert message["content"].startswith(ANSWER)  # then the list of sources
    assert_clean(message["content"])


def test_a_completion_without_think_has_no_reasoning(http: TestClient) -> None:
    message = completion(http)["choices"][0]["message"]
    off = completion(http, chat_template_kwargs={"enable_thinking": False})["choices"][0]

    assert message["reasoning_content"] is None and message["reasoning"] is None
    assert message["content"].startswith(ANSWER)
    assert_clean(message["content"])
    assert off["message"]["reasoning_content"] is None


def test_a_streamed_completion_sends_reasoning_in_its_own_deltas(http: TestClient) -> None:
    deltas = chunk_deltas(http, overlay={"think": True})

    reasoning = [d["reasoning_content"] for d in deltas if "reasoning_content" in d]
    content = [d["content"] for d in deltas if d.get("content")]
    assert "".join(reasoning) == REASONING
    assert all("content" not in d for d in deltas if "reasoning_content" in d)
    assert "".join(content).startswith(ANSWER)
    for piece in content:
        assert_clean(piece)
    first_content = next(i for i, d in enumerate(deltas) if d.get("content"))
    assert first_content > max(i for i, d in enumerate(deltas) if "reasoning_content" in d)


def test_a_streamed_completion_without_think_has_no_reasoning(http: TestClient) -> None:
    deltas = chunk_deltas(http)

    assert not any("reasoning_content" in d or "reasoning" in d for d in deltas)
    content = "".join(d.get("content") or "" for d in deltas)
    assert content.startswith(ANSWER)
    assert_clean(content)


# The command line: overlay ask --think


def ask(settings: Settings, *args: str) -> str:
    where = ["--vault", str(settings.vault), "--data-dir", str(settings.data_dir)]
    env = {
        "OVERLAY_LLM__BACKEND": "fake",
        "OVERLAY_INDEX__EMBEDDER": "hash",
        "OVERLAY_RETRIEVAL__MIN_RELEVANCE": "-1",
        "OVERLAY_LLM__ANSWERS": "generated",  # the fake's fixed answer, not a quote
    }
    runner = CliRunner()
    indexed = runner.invoke(cli, [*where, "index"], env=env)
    assert indexed.exit_code == 0, indexed.output
    result = runner.invoke(cli, [*where, "ask", *args, "What is my boat called?"], env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_ask_think_shows_the_reasoning_before_the_answer(settings: Settings) -> None:
    shown = ask(settings, "--think")

    assert REASONING in shown and ANSWER in shown
    assert shown.index(REASONING) < shown.index(ANSWER)
    assert_clean(shown.split(REASONING, 1)[1])


def test_ask_without_think_shows_no_reasoning(settings: Settings) -> None:
    shown = ask(settings, "--no-rag")

    assert ANSWER in shown
    assert_clean(shown)


def test_ask_json_keeps_reasoning_in_its_field(settings: Settings) -> None:
    thought = json.loads(ask(settings, "--think", "--json"))
    plain = json.loads(ask(settings, "--json"))

    assert (thought["text"], thought["reasoning"]) == (ANSWER, REASONING)
    assert (plain["text"], plain["reasoning"]) == (ANSWER, "")


# Real parts: SmolLM2 in-process, a model that cannot think


@pytest.fixture(scope="module")
def smollm2_memory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Memory]:
    root = tmp_path_factory.mktemp("reasoning")
    (root / "vault" / ".obsidian").mkdir(parents=True)
    for relative, text in BOAT.items():
        (root / "vault" / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / "vault" / relative).write_text(text, encoding="utf-8")
    models = Path(os.environ.get("OVERLAY_MODELS_DIR") or root / "models")
    settings = Settings.model_validate(
        {
            "vault": root / "vault",
            "data_dir": root / "data",
            "index": {"embedder": "hash"},
            "llm": {"models_dir": models, "max_new_tokens": 12},
            "server": {"token": TOKEN},
        }
    )
    memory = Memory(settings, embedder=HashEmbedder())
    memory.sync()
    yield memory
    memory.close()


@pytest.mark.slow  # the real SmolLM2
def test_a_real_model_answers_without_reasoning_when_think_is_off(smollm2_memory: Memory) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    app = create_app(smollm2_memory.settings, memory=smollm2_memory)
    with TestClient(app, headers=headers) as http:
        whole = http.post(
            "/api/v1/chat", json={"messages": QUESTION, "rag": False, "stream": False}
        ).json()
        deltas = chunk_deltas(http, model="smollm2-135m-instruct", overlay={"rag": False})

    assert whole["text"].strip() and whole["reasoning"] == ""
    assert "<think" not in whole["text"] and "think>" not in whole["text"]
    assert not any("reasoning_content" in d for d in deltas)
    assert "".join(d.get("content") or "" for d in deltas).strip()


@pytest.mark.slow  # the real SmolLM2
def test_think_on_a_model_without_a_reasoning_template_still_answers(
    smollm2_memory: Memory,
) -> None:
    answer = smollm2_memory.answer([ChatTurn("user", "Say hello.")], rag=False, think=True)

    assert answer.text.strip()
    assert "<think" not in answer.text and "think>" not in answer.text
    assert answer.reasoning == ""
