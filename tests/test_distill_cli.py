"""`overlay distill` and `overlay pairs …` as a person uses them."""

from __future__ import annotations

import io
import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from factories import qa_pair
from typer.testing import CliRunner

from distill.pairs import PairStore
from overlay.cli import app
from overlay.errors import ConfigError

runner = CliRunner()


class Overlay:
    """The CLI bound to one vault and one data dir."""

    def __init__(self, vault: Path, data: Path) -> None:
        self.vault, self.data = vault, data

    def __call__(self, *args: str, ok: bool = True) -> Any:
        result = runner.invoke(
            app, ["--vault", str(self.vault), "--data-dir", str(self.data), *args]
        )
        if ok:
            assert result.exit_code == 0, result.output + repr(result.exception)
        return result

    def pairs(self, *args: str) -> list[dict[str, Any]]:
        return json.loads(self("pairs", "list", "--json", "--limit", "1000", *args).output)

    def store(self) -> PairStore:
        return PairStore(self.data / "pairs.sqlite3")


@pytest.fixture
def overlay(example_vault: Path, tmp_path: Path) -> Overlay:
    cli = Overlay(example_vault, tmp_path / "data")
    cli("distill", "--source", "dialogue")
    return cli


def test_distill_since_july_on_the_real_samples(samples: Path, tmp_path: Path) -> None:
    cli = Overlay(samples, tmp_path / "data")
    result = cli("distill", "--since", "2025-07")  # the default sources call no model
    assert "(by source: dialogue 2, property " in result.output  # and the notes' facts
    assert "no model called" in result.output
    dates = sorted(pair["note_date"] for pair in cli.pairs("--source", "dialogue"))
    assert dates == ["2025-07-26T09:43:00", "2025-07-28T17:35:00"]
    again = json.loads(cli("distill", "--since", "2025-07", "--json").output)
    assert again["pairs_added"] == 0 and again["notes_unchanged"] == again["notes_read"]


def test_distill_refuses_a_date_it_cannot_read(overlay: Overlay) -> None:
    result = overlay("distill", "--since", "July", "--source", "dialogue", ok=False)
    assert isinstance(result.exception, ConfigError) and "YYYY-MM" in str(result.exception)


def test_bulk_approve_by_filter_and_reject_by_id(overlay: Overlay) -> None:
    russian = overlay.pairs("--language", "ru")
    assert "approved 6 pairs" in overlay("pairs", "approve", "--language", "ru").output
    assert {p["id"] for p in overlay.pairs("--status", "approved")} == {p["id"] for p in russian}
    overlay("pairs", "reject", russian[0]["id"][:8])
    assert overlay.pairs("--status", "rejected")[0]["id"] == russian[0]["id"]
    listing = overlay("pairs", "list", "--status", "approved").output
    assert "5 pairs" in listing and russian[1]["id"][:10] in listing


def test_approving_a_fact_approves_all_of_its_pairs(overlay: Overlay) -> None:
    overlay("distill", "--note", "Anna Petrova", "--source", "property")
    fact = overlay.pairs("--source", "property")[0]["fact"]
    mine = overlay.pairs("--fact", fact)
    assert len(mine) > 4 and {p["language"] for p in mine} == {"en", "ru"}
    assert f"approved {len(mine)} pairs" in overlay("pairs", "approve", "--fact", fact).output
    assert {p["id"] for p in overlay.pairs("--status", "approved")} == {p["id"] for p in mine}


def test_a_bulk_action_needs_ids_or_a_filter(overlay: Overlay) -> None:
    result = overlay("pairs", "approve", ok=False)
    assert isinstance(result.exception, ConfigError)
    assert all(p["status"] == "pending" for p in overlay.pairs())


def test_show_prints_the_messages_and_provenance(overlay: Overlay) -> None:
    pair = overlay.pairs("--source", "dialogue")[0]
    shown = overlay("pairs", "show", pair["id"]).output
    assert pair["note_path"] in shown and pair["messages"][0]["content"][:30] in shown


def test_edit_in_the_editor_keeps_history(
    overlay: Overlay, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "editor.py"
    script.write_text(
        "import sys, pathlib\n"
        "p = pathlib.Path(sys.argv[1])\n"
        "text = p.read_text(encoding='utf-8')\n"
        "head, _, _ = text.rpartition('<!-- role: assistant -->')\n"
        "p.write_text(head + '<!-- role: assistant -->\\nA shorter answer.\\n', encoding='utf-8')\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    pair = overlay.pairs("--language", "en")[0]
    assert "edited" in overlay("pairs", "edit", pair["id"]).output
    with overlay.store() as store:
        edited = store.get(pair["id"])
        history = store.history(pair["id"])
    assert edited.status == "edited"
    assert edited.messages[-1] == {"role": "assistant", "content": "A shorter answer."}
    assert edited.messages[0] == pair["messages"][0]
    assert [entry.old_messages for entry in history] == [pair["messages"]]


@pytest.mark.parametrize("fmt", ["messages", "prompt-completion"])
def test_export_writes_trl_jsonl_of_approved_pairs_only(
    overlay: Overlay, tmp_path: Path, fmt: str
) -> None:
    overlay("pairs", "approve", "--source", "dialogue")
    overlay("pairs", "reject", overlay.pairs()[0]["id"])
    held = qa_pair(
        "held?",
        "out",
        note="Chats/x.md",
        generator="test",
        prompt_version="1",
        status="approved",
        held_out=True,
    )
    with overlay.store() as store:
        store.add([held])
    out = tmp_path / "train.jsonl"
    result = overlay("pairs", "export", "--format", fmt, "--out", str(out))
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(overlay.pairs("--status", "approved")) - 1 == 14
    assert f"exported {len(rows)} pairs" in result.output
    for row in rows:
        messages = row["messages"] if fmt == "messages" else row["prompt"] + row["completion"]
        roles = [m["role"] for m in messages]
        assert roles == ["user", "assistant"] * (len(roles) // 2)
        assert "held?" not in json.dumps(row)
    if fmt == "prompt-completion":
        assert all(len(row["completion"]) == 1 for row in rows)


def test_export_as_a_datasets_dataset(overlay: Overlay, tmp_path: Path) -> None:
    from datasets import load_from_disk

    overlay("pairs", "approve", "--language", "en")
    overlay("pairs", "export", "--dataset", str(tmp_path / "ds"))
    dataset = load_from_disk(str(tmp_path / "ds"))
    assert len(dataset) == 9 and dataset[0]["messages"][0]["role"] == "user"


def test_export_refuses_an_unknown_format_and_a_missing_target(
    overlay: Overlay, tmp_path: Path
) -> None:
    out = tmp_path / "x.jsonl"
    bad = overlay("pairs", "export", "--format", "alpaca", "--out", str(out), ok=False)
    assert isinstance(bad.exception, ConfigError) and "prompt-completion" in str(bad.exception)
    assert not out.exists()
    nowhere = overlay("pairs", "export", ok=False)
    assert isinstance(nowhere.exception, ConfigError) and "--out" in str(nowhere.exception)


def test_the_editor_text_round_trips_markdown_inside_messages() -> None:
    from overlay.cli.distill import parse_messages, render_messages

    messages = [
        {"role": "user", "content": "## user\nWhat is in the table?"},
        {"role": "assistant", "content": "| a | b |\n|---|---|\n| 1 | 2 |\n\n- <!-- note -->"},
    ]
    assert parse_messages(render_messages(messages)) == messages


CHAT = """>[!nexus_user] **User** - 02.06.2025 at 22:40
> What tension should the shrouds of my Folkboat have?

>[!nexus_agent] **Assistant** - 02.06.2025 at 22:44
> Fairly slack: 12 to 16 on a Loos gauge for the cap shrouds.
"""
ANNA = "# Anna\n\n## Basics\n\nAnna was born on 17 March 1990 and works as an architect in Riga.\n"
# One scripted answer holds what every source and the judge read.
FACT = {
    "fact": "Anna was born on 17 March 1990.",
    "questions_en": ["When was Anna born?", "What is Anna's birthday?"],
    "questions_ru": ["Когда родилась Анна?", "Какой день рождения у Анны?"],
    "answer": "17 March 1990",
    "answer_en": "17 March 1990",
    "answer_ru": "17 марта 1990",
}
REPLY = {
    "facts": [FACT],
    "questions": ["What is Anna's favourite film?"],
    "grounded": True,
    "score": 1.0,
}


def test_distill_closes_with_a_summary_of_what_it_did(make_vault: Any, tmp_path: Path) -> None:
    from distill.pipeline import distill
    from distill.scripted import ScriptedLLM
    from distill.selection import Selection
    from overlay.config import Settings

    # The scripted fake writes the pairs (the real SmolLM2 run is in tests/integration);
    # the summary is the one the CLI prints (`DistillReport.summary`).
    llm = ScriptedLLM(replies=[json.dumps(REPLY)])
    vault = make_vault({"People/Anna.md": ANNA, "People/Anna again.md": ANNA, "Chats/c.md": CHAT})
    cli = Overlay(vault, tmp_path / "data")
    settings = Settings(vault=vault, data_dir=tmp_path / "data")
    every = ("dialogue", "fact", "link", "abstention")
    lines = distill(settings, Selection(), sources=every, llm=llm).summary().splitlines()

    def line(pattern: str) -> re.Match[str]:
        found = [m for m in map(re.compile(pattern).fullmatch, lines) if m]
        assert found, f"no line like {pattern!r} in:\n" + "\n".join(lines)
        return found[0]

    line(r"notes read: 3 \(3 distilled, 0 unchanged\); 0 private, 0 skipped, 0 gone")
    made = line(
        r"pairs made: (\d+); near duplicates dropped: (\d+); "
        r"rejected by the groundedness judge: (\d+); generation failures: \d+"
    )
    added = line(r"pairs added: (\d+) \(by source: (.+); by language: (.+)\)")
    by_status = line(r"pairs added by status: (.+)")
    line(r"rejected by the quality checks: 0")  # the script's answers are all in their language
    tokens = line(r"time: \d+\.\d s; (\d+) LLM calls, (\d+) tokens generated \(estimated\)")
    stored = cli.pairs()
    assert int(added[1]) == len(stored) == int(made[1]) - int(made[2])
    assert int(made[2]) > 0  # the second copy of Anna's note repeats the first
    assert "dialogue 1" in added[2] and "fact" in added[2] and "en" in added[3]
    statuses = Counter(pair["status"] for pair in stored)
    assert by_status[1] == ", ".join(f"{s} {n}" for s, n in sorted(statuses.items()))
    assert int(made[3]) == statuses["rejected"]
    assert int(tokens[1]) == len(llm.prompts) and int(tokens[2]) > 0

    again = cli("distill", "--all", "--source", "dialogue").output
    assert "no model called" in again and "notes read: 3 (3 distilled" in again


def test_distill_tells_its_progress_note_by_note(make_vault: Any, make_settings: Any) -> None:
    from distill.pipeline import distill
    from distill.reports import DistillReport
    from distill.selection import Selection

    vault = make_vault({"Chats/a.md": CHAT, "Chats/b.md": CHAT.replace("Folkboat", "boat")})
    told: list[tuple[int, int, str, int]] = []

    def hook(done: int, total: int, path: str, report: DistillReport) -> None:
        told.append((done, total, path, report.pairs_added))

    distill(make_settings(vault), Selection(), sources=["dialogue"], progress=hook)
    assert told == [(0, 2, "Chats/a.md", 0), (1, 2, "Chats/b.md", 1), (2, 2, "", 2)]


def test_the_progress_bar_counts_notes_and_pairs_then_clears(
    make_vault: Any, make_settings: Any
) -> None:
    from rich.console import Console

    from distill.pipeline import distill
    from distill.selection import Selection
    from overlay.cli.distill import progress_bar

    vault = make_vault({"Chats/a.md": CHAT, "Chats/b.md": CHAT.replace("Folkboat", "boat")})
    terminal = Console(file=io.StringIO(), force_terminal=True, width=120)
    with progress_bar(terminal) as hook:
        distill(make_settings(vault), Selection(), sources=["dialogue"], progress=hook)
    drawn = terminal.file.getvalue()  # type: ignore[attr-defined]
    assert "2 pairs added" in drawn and "2/2" in drawn
    assert drawn.endswith("\x1b[1A\x1b[2K")  # transient: the bar is erased for the summary
    with progress_bar(None) as none:
        assert none is None  # --quiet, --json or no terminal: no bar
