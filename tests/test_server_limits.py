"""Requests too large to answer promptly are refused with the limits, before any work;
generations queue behind a bounded gate."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from indexer.embedders import HashEmbedder
from overlay.core.memory import Memory
from server.app import create_app
from server.limits import MAX_EMBED_CHARS, MAX_EMBED_ITEMS, GenerationGate

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
