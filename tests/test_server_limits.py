"""Requests too large to answer promptly are refused with the limits, before any work;
generations queue behind a bounded gate; a client that leaves, queued or answered, stops
its work and frees its place; an answer that does not begin in time gets 504.

The gate and the time limit alone are tested around endpoints that stand in for slow
ones; what happens to a generation is tested with the real app and the real SmolLM2
(behind uvicorn on a loopback port where a client must really hang up).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route
from starlette.types import Message

from indexer.embedders import HashEmbedder
from overlay.config import Settings
from overlay.core.chat import ChatTurn
from overlay.core.conversations import LogFilter
from overlay.core.memory import Memory
from overlay.daemon.daemon import ListeningServer
from server.app import create_app
from server.limits import (
    MAX_EMBED_CHARS,
    MAX_EMBED_ITEMS,
    SYNC_WAIT_S,
    GenerationGate,
    TimeLimit,
)

TOKEN = "limits-test-token-" + "x" * 20


@pytest.fixture
def http(make_vault: Any, make_settings: Any) -> Iterator[TestClient]:
    settings = make_settings(make_vault({"a.md": "alpha"}), server__token=TOKEN)
    memory = Memory(settings, embedder=HashEmbedder())  # a fake: only the refusal is tested
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(create_app(settings, memory=memory), headers=headers) as client:
        yield client
    memory.close()


def test_an_embeddings_request_over_the_limits_gets_413_naming_them(http: TestClient) -> None:
    many = http.post("/v1/embeddings", json={"model": "m", "input": ["w"] * (MAX_EMBED_ITEMS + 1)})
    long = http.post("/v1/embeddings", json={"model": "m", "input": ["w" * 60_000] * 2})
    for response in (many, long):
        assert response.status_code == 413
        message = response.json()["error"]["message"]
        assert f"{MAX_EMBED_ITEMS} texts" in message and f"{MAX_EMBED_CHARS} characters" in message


def test_an_embeddings_request_within_the_limits_is_answered(http: TestClient) -> None:
    response = http.post("/v1/embeddings", json={"model": "m", "input": ["w" * 1000] * 8})
    assert response.status_code == 200 and len(response.json()["data"]) == 8


def test_generations_queue_behind_the_gate_and_the_overflow_gets_429() -> None:
    """Five chats at once through the gate (one running, two waiting) around an endpoint
    that stands in for a slow model: one at a time, two queued, two told to come back."""
    running, most = 0, 0

    async def slow_answer(request: Request) -> JSONResponse:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.2)
        running -= 1
        return JSONResponse({"answer": "ok"})

    endpoint = Starlette(routes=[Route("/v1/chat/completions", slow_answer, methods=["POST"])])
    gate = GenerationGate(endpoint, running=1, waiting=2, retry_after_s=7)

    async def five_at_once() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=gate)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            calls = [client.post("/v1/chat/completions", json={}) for _ in range(5)]
            return list(await asyncio.gather(*calls))

    responses = asyncio.run(five_at_once())
    codes = sorted(response.status_code for response in responses)
    assert codes == [200, 200, 200, 429, 429] and most == 1
    served = sorted(int(r.headers["x-queue-position"]) for r in responses if r.status_code == 200)
    assert served == [0, 1, 2]
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.headers["retry-after"] == "7"
    assert refused.json()["error"]["type"] == "TooManyRequests"


def test_a_client_that_leaves_while_queued_gives_up_its_place_at_once() -> None:
    """One running, one place in the queue: B queues and leaves, so C, coming after,
    still finds the place free; B never reaches the endpoint."""
    release, reached = asyncio.Event(), []

    async def held_answer(request: Request) -> JSONResponse:
        reached.append((await request.json())["who"])
        await release.wait()
        return JSONResponse({"answer": "ok"})

    endpoint = Starlette(routes=[Route("/v1/chat/completions", held_answer, methods=["POST"])])
    gate = GenerationGate(endpoint, running=1, waiting=1, retry_after_s=7)

    async def scenario() -> tuple[list[Message], list[Message], list[Message]]:
        b_leaves = asyncio.Event()
        a = asyncio.ensure_future(ask(gate, "A"))
        await asyncio.sleep(0.05)
        b = asyncio.ensure_future(ask(gate, "B", leaves=b_leaves))
        await asyncio.sleep(0.05)
        b_leaves.set()
        b_sent = await asyncio.wait_for(b, timeout=2)  # gone from the queue at once
        c = asyncio.ensure_future(ask(gate, "C"))
        await asyncio.sleep(0.05)
        release.set()
        return await a, b_sent, await c

    a_sent, b_sent, c_sent = asyncio.run(scenario())
    assert b_sent == [] and reached == ["A", "C"]
    assert status_of(a_sent) == 200 and status_of(c_sent) == 200
    assert dict(c_sent[0]["headers"])[b"x-queue-position"] == b"1"


async def ask(app: Any, who: str, leaves: asyncio.Event | None = None) -> list[Message]:
    """A POST to the chat route at the ASGI level, from a client that hangs up when
    `leaves` is set (else once answered); what the app sent it."""
    body = [{"type": "http.request", "body": json.dumps({"who": who}).encode()}]
    sent: list[Message] = []

    async def receive() -> Message:
        if body:
            return body.pop()
        await (leaves or asyncio.Event()).wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "headers": [(b"content-type", b"application/json")],
        "query_string": b"",
    }
    await app(scope, receive, send)
    return sent


def status_of(sent: list[Message]) -> int:
    return int(sent[0]["status"])


def test_an_answer_not_begun_within_its_limit_gets_504_naming_the_setting() -> None:
    """Search has the short limit, chat the long one; a stream that has begun is not
    cut however long it runs; sync, which may wait for a sync, gets its wait beyond."""

    async def slow(request: Request) -> JSONResponse:
        await asyncio.sleep(0.3)
        return JSONResponse({"answer": "ok"})

    async def trickle(request: Request) -> StreamingResponse:
        async def parts() -> AsyncIterator[str]:
            for _ in range(3):
                await asyncio.sleep(0.15)
                yield "x"

        return StreamingResponse(parts())

    endpoint = Starlette(
        routes=[
            Route("/api/v1/search", slow),
            Route("/v1/chat/completions", slow, methods=["POST"]),
            Route("/api/v1/chat", trickle, methods=["POST"]),
        ]
    )
    limited = TimeLimit(endpoint, request_s=0.1, generation_s=1.0)

    async def three() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=limited)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            started = time.monotonic()
            search = await client.get("/api/v1/search")
            assert time.monotonic() - started < 0.25  # the 504 does not wait for the work
            return [
                search,
                await client.post("/v1/chat/completions"),
                await client.post("/api/v1/chat"),
            ]

    search, chat, stream = asyncio.run(three())
    assert search.status_code == 504
    error = search.json()["error"]
    assert error["type"] == "GatewayTimeout"
    assert "0.1 s" in error["message"] and "server.request_timeout_s" in error["message"]
    assert chat.status_code == 200 and chat.json() == {"answer": "ok"}
    assert stream.status_code == 200 and stream.text == "xxx"
    seconds, setting = limited.limit("/api/v1/sync")
    assert seconds == SYNC_WAIT_S + 0.1 and setting.startswith("server.request_timeout_s")


# ---- a real generation: the app, SmolLM2, a client that really hangs up ----

LONG = "Write a very long story about a sailor and his boat, in ten chapters."
BARE = {"overlay": {"rag": False}}  # the model alone: no retrieval, a long generation


@pytest.fixture(scope="module")
def smol(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Memory]:
    """A Memory answering with the bundled SmolLM2, logging every finished answer; the
    embedder is a fake, as nothing here retrieves."""
    root = tmp_path_factory.mktemp("smol")
    (root / "vault" / ".obsidian").mkdir(parents=True)
    (root / "vault" / "a.md").write_text("alpha", encoding="utf-8")
    settings = Settings.model_validate(
        {"vault": root / "vault", "data_dir": root / "data", "server": {"token": TOKEN}}
    )
    memory = Memory(settings, embedder=HashEmbedder())
    memory.answer([ChatTurn("user", "Hi")], rag=False, sampling={"max_new_tokens": 1})  # load
    yield memory
    memory.close()


def completion(memory: Memory, question: str, max_tokens: int) -> dict[str, Any]:
    messages = [{"role": "user", "content": question}]
    return {"model": memory.models()[0], "messages": messages, "max_tokens": max_tokens, **BARE}


def logged_questions(memory: Memory) -> list[str]:
    return [entry.question for entry in memory.conversations.list(LogFilter(limit=None))]


@pytest.fixture
def served(smol: Memory) -> Iterator[str]:
    """The app behind uvicorn on a free loopback port; its URL."""
    urls: list[str] = []
    server = ListeningServer(
        uvicorn.Config(create_app(smol.settings, memory=smol), port=0, log_config=None),
        urls.append,
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not urls and time.monotonic() < deadline:
        time.sleep(0.05)
    yield urls[0]
    server.should_exit = True
    thread.join(timeout=30)


def test_a_chat_whose_client_left_stops_and_frees_its_slot_for_the_next(
    smol: Memory, served: str
) -> None:
    """A non-streamed answer of up to 1500 tokens (minutes on a CPU) whose client hangs
    up after two seconds: the next answer is served at once, and the first never ends
    (a finished answer is logged)."""
    host, port = served.removeprefix("http://").split(":")
    body = json.dumps(completion(smol, LONG, 1500)).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection((host, int(port))) as hanging_up:
        hanging_up.sendall(head.encode() + body)
        time.sleep(2)  # it is generating
    left = time.monotonic()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=served, headers=headers, timeout=60, trust_env=False) as http:
        next_one = http.post("/v1/chat/completions", json=completion(smol, "Hello!", 2))
    assert next_one.status_code == 200
    assert time.monotonic() - left < 30  # not after the first answer's minutes
    assert "Hello!" in logged_questions(smol) and LONG not in logged_questions(smol)


def test_a_chat_past_generation_timeout_s_gets_504_and_stops(smol: Memory) -> None:
    settings = smol.settings.model_copy(deep=True)
    settings.server.generation_timeout_s = 1.0
    app = create_app(settings, memory=smol)
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        started = time.monotonic()
        response = http.post("/v1/chat/completions", json=completion(smol, LONG, 1500))
        assert response.status_code == 504 and time.monotonic() - started < 5
        message = response.json()["error"]["message"]
        assert "1 s" in message and "server.generation_timeout_s" in message
        # The model answers one at a time: this waits for the long answer unless it stopped.
        waited = time.monotonic()
        smol.answer([ChatTurn("user", "Bye")], rag=False, sampling={"max_new_tokens": 1})
        assert time.monotonic() - waited < 30
    assert LONG not in logged_questions(smol)
