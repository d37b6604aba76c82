"""The CLI as a person meets it: help everywhere, JSON where asked, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
import typer
from typer.testing import CliRunner

from overlay.cli import app

runner = CliRunner()


def all_commands() -> list[tuple[str, click.Command]]:
    root = typer.main.get_command(app)
    found: list[tuple[str, click.Command]] = []

    def walk(prefix: str, command: click.Command) -> None:
        found.append((prefix, command))
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(f"{prefix} {name}".strip(), sub)

    walk("", root)
    return found


@pytest.mark.parametrize("name, command", all_commands(), ids=lambda v: str(v) or "overlay")
def test_every_command_has_help_text(name: str, command: click.Command) -> None:
    assert (command.help or "").strip(), f"'overlay {name}' has no help text"
    result = runner.invoke(app, [*name.split(), "--help"])
    assert result.exit_code == 0, result.output


def test_the_command_list_reads_at_80_columns_grouped_as_a_person_uses_it() -> None:
    listed = runner.invoke(app, ["--help"], env={"COLUMNS": "80", "TERM": "dumb"}).output
    headings = ["Index, search and ask", "Serve", "Memory: distill", "Privacy and admin"]
    assert [listed.index(heading) for heading in headings] == sorted(
        listed.index(heading) for heading in headings
    )
    first_panel = listed[listed.index(headings[0]) : listed.index(headings[1])]
    assert "│ index " in first_panel and "│ ask " in first_panel
    assert "│ eval " not in first_panel
    # a docstring's own line breaks no longer cut a sentence: "the base model and" used
    # to end a line of eval's help, half a line wide
    eval_help = listed[listed.index("│ eval ") : listed.index("│ pairs ")]
    assert "base model and the adapter" in " ".join(
        line.strip("│ ") for line in eval_help.splitlines()
    )


def test_config_show_json_reports_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OVERLAY_LLM__BACKEND", "openai")
    result = runner.invoke(app, ["--vault", str(tmp_path), "config", "show", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["settings"]["llm"]["backend"] == "openai"
    assert shown["sources"]["llm.backend"] == "env"
    assert shown["sources"]["vault"] == "cli"
    assert shown["data_dir"] and str(tmp_path) not in shown["data_dir"]


def test_expected_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "absent.toml"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from overlay.cli import main; main()",
            "--config",
            str(missing),
            "config",
            "show",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: config file {missing} does not exist"


def test_asking_before_indexing_says_what_to_run(make_vault: Any, tmp_path: Path) -> None:
    from overlay.errors import StoreError

    vault = make_vault({"a.md": "# A\n\nText.\n"})
    where = ["--vault", str(vault), "--data-dir", str(tmp_path / "data")]
    result = runner.invoke(app, [*where, "ask", "What is in A?"])
    assert isinstance(result.exception, StoreError)
    assert "run `overlay index` first" in str(result.exception)


def test_search_results_read_at_80_columns(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    folder = vault / "Путешествия" / "Северная Европа" / "Норвегия и Лофотенские острова"
    folder.mkdir(parents=True)
    sentence = "Паром на Лофотены уходит из Будё в четыре часа дня, билеты берём заранее. "
    (folder / "Поездка на Лофотены.md").write_text("# Паром\n" + sentence * 12, encoding="utf-8")
    base = ["--vault", str(vault), "--data-dir", str(tmp_path / "data")]
    env = {"OVERLAY_INDEX__EMBEDDER": "hash", "COLUMNS": "80"}
    assert runner.invoke(app, [*base, "index", "--quiet"], env=env).exit_code == 0

    shown = runner.invoke(app, [*base, "search", "паром из Будё"], env=env).output

    lines = shown.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert lines[0].lstrip().startswith("1  …") and "Поездка на Лофотены.md › Паром" in lines[0]
    assert len(lines) == 4 and lines[-1].endswith("…")  # where, scores, two lines of snippet
