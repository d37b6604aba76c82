"""`overlay parse PATH` through typer's CliRunner."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner
from vaults import SAMPLES, SHARED, needs_samples

from overlay.cli.app import app
from overlay.errors import NoteNotFound

KEPANO = SHARED / "data" / "kepano-obsidian"
runner = CliRunner()


@pytest.fixture(autouse=True)
def no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings from defaults only: no overlay.toml from the home dir, no OVERLAY_* variables."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in [name for name in os.environ if name.startswith("OVERLAY_")]:
        monkeypatch.delenv(name)


def run_json(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["parse", *args, "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return data


def make_vault(root: Path, files: dict[str, str | bytes]) -> Path:
    for path, content in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


@needs_samples
def test_tables_show_notes_dialogues_and_totals() -> None:
    result = runner.invoke(app, ["parse", str(SAMPLES)])
    assert result.exit_code == 0, result.output
    assert "3 notes in" in result.output
    assert "dialogues" in result.output
    assert "2025-07-26 09:43" in result.output and "2025-07-28 17:35" in result.output
    assert result.output.count("assistant") == 2
    assert "notes: 3  canvases: 0  pdfs: 0  links: 70" in result.output


@needs_samples
def test_json_of_one_note_has_stable_keys() -> None:
    data = run_json(str(SAMPLES / "02_что_нам_полезного.md"))
    assert set(data) == {"root", "notes", "skipped", "totals"}
    (note,) = data["notes"]
    assert set(note) == {
        "path",
        "title",
        "date",
        "aliases",
        "tags",
        "headings",
        "links",
        "dialogue",
        "warnings",
    }
    assert note["date"] == "2025-07-28T17:35:00"
    assert [(t["role"], t["timestamp"], t["line"]) for t in note["dialogue"]["turns"]] == [
        ("user", "2025-07-28T17:35:00", 1),
        ("assistant", "2025-07-28T17:35:00", 63),
    ]
    self_link = note["links"][0]
    assert self_link == {
        "kind": "wiki",
        "target": "02_что_нам_полезного",
        "heading": None,
        "block": None,
        "display": None,
        "line": 7,
        "resolved": "02_что_нам_полезного.md",
    }
    assert data["totals"] == {
        "notes": 1,
        "canvases": 0,
        "pdfs": 0,
        "links": 30,
        "resolved": 3,
        "unresolved": 27,
        "dialogues": 1,
        "turns": 2,
        "warnings": 0,
        "skipped": 0,
    }


def test_a_note_resolves_against_its_enclosing_vault(tmp_path: Path) -> None:
    vault = make_vault(
        tmp_path / "vault",
        {
            ".obsidian/app.json": "{}",
            "Projects/Plan.md": "[[Idea]] [[Nowhere]] ![[pic.png]]",
            "Ideas/Idea.md": "---\naliases: [Spark]\n---\n",
            "Ideas/pic.png": b"\x89PNG",
        },
    )
    data = run_json(str(vault / "Projects" / "Plan.md"))
    assert data["root"] == str(vault.resolve())
    assert [(link["target"], link["resolved"]) for link in data["notes"][0]["links"]] == [
        ("Idea", "Ideas/Idea.md"),
        ("Nowhere", None),
        ("pic.png", "Ideas/pic.png"),
    ]


def test_a_note_outside_any_vault_resolves_in_its_folder(tmp_path: Path) -> None:
    folder = make_vault(tmp_path / "loose", {"a.md": "[[b]] [[c]]", "b.md": "", "sub/c.md": ""})
    data = run_json(str(folder / "a.md"))
    assert data["root"] == str(folder.resolve())
    assert [link["resolved"] for link in data["notes"][0]["links"]] == ["b.md", "sub/c.md"]


def test_warnings_and_skipped_files_are_reported(tmp_path: Path) -> None:
    vault = make_vault(
        tmp_path,
        {
            "good.md": "fine",
            "bad yaml.md": "---\nkey: [unclosed\n---\nbody",
            "latin.md": "caf\xe9".encode("latin-1"),
            "blob.md": b"\x00\x01binary",
        },
    )
    data = run_json(str(vault))
    assert [(s["path"], s["code"]) for s in data["skipped"]] == [("blob.md", "binary")]
    codes = {n["path"]: [w["code"] for w in n["warnings"]] for n in data["notes"]}
    assert codes == {"bad yaml.md": ["frontmatter"], "good.md": [], "latin.md": ["encoding"]}
    result = runner.invoke(app, ["parse", str(vault)])
    assert result.exit_code == 0
    assert "warnings" in result.output and "binary" in result.output


def test_exclude_is_repeatable(tmp_path: Path) -> None:
    vault = make_vault(tmp_path, {"SOURCE.md": "x", "Templates/t.md": "x", "n.md": "x"})
    assert run_json(str(vault))["totals"]["notes"] == 3
    data = run_json(str(vault), "--exclude", "SOURCE.md", "--exclude", "Templates/*")
    assert [n["path"] for n in data["notes"]] == ["n.md"]


@pytest.mark.skipif(not KEPANO.is_dir(), reason="../shared/data is not present")
def test_public_vault_totals() -> None:
    totals = run_json(str(KEPANO), "--exclude", "SOURCE.md")["totals"]
    assert (totals["notes"], totals["links"], totals["resolved"]) == (103, 209, 146)
    assert totals["warnings"] == 28  # template notes whose YAML holds `{{date}}`


def test_a_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["parse", str(tmp_path / "nope.md")])
    assert result.exit_code != 0
    assert isinstance(result.exception, NoteNotFound)
    assert "no note or folder" in str(result.exception)


def test_help_names_the_json_keys() -> None:
    result = runner.invoke(app, ["parse", "--help"])
    assert result.exit_code == 0
    assert "--exclude" in result.output and "totals" in result.output
