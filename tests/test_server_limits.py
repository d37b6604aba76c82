"""Requests too large to answer promptly are refused with the limits, before any work."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from indexer.embedders import HashEmbedder
from overlay.memory import Memory
from server.app import create_app
from server.limits import MAX_EMBED_CHARS, MAX_EMBED_ITEMS

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
