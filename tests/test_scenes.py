"""Scenes: hand-written training examples, validated where they are written and
taken verbatim into the pair store and the training export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from typer.testing import CliRunner
from vaults import MakeVault

from overlay.cli import app
from vault_schema import Role, SceneError, parse_note, read_scenes
from vault_schema.scenes import SCHEMA

runner = CliRunner()

GIFTS = """\
---
tags: [person/friend]
---
# Аня

Что я ей дарил, и как хочу, чтобы мне об этом отвечали.

## Подарки

```yaml
kind: scene
system: Ты — память Льва. Отвечай коротко.
language: ru
tags: [gifts]
turns:
  - user: Что подарить Ане?
  - assistant: |
      Чернила цвета тёмной бирюзы. Только не цветы.
  - user: А если она уже купила?
  - assistant: Тогда день на лодке.
```
"""

FEEDING = """\
---
overlay: scene
language: ru
tags: scene, cat
created: 2026-10-05
turns:
  - user: Чем кормить кота?
  - assistant: Влажным с индейкой.
---
# Кот
"""


def scene_note(yaml_body: str, path: str = "Scenes/s.md") -> str:
    """A note holding one fenced scene made of `yaml_body`."""
    return f"# Scene\n\nSome words first.\n\n```yaml\nkind: scene\n{yaml_body}```\n"


def line_of(text: str, fragment: str) -> int:
    """The 1-based file line where `fragment` first occurs."""
    return text[: text.index(fragment)].count("\n") + 1


def errors_of(text: str, path: str = "Scenes/s.md") -> list[SceneError]:
    return read_scenes(parse_note(path, text))[1]


# ---- the format ----


def test_the_schema_file_is_valid_json_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)


def test_a_fenced_scene_is_read_with_its_turns_prompt_language_and_tags() -> None:
    scenes, errors = read_scenes(parse_note("People/Аня.md", GIFTS))
    assert errors == []
    [scene] = scenes
    assert scene.system == "Ты — память Льва. Отвечай коротко."
    assert [turn.role for turn in scene.turns] == [Role.USER, Role.ASSISTANT] * 2
    assert scene.turns[1].text == "Чернила цвета тёмной бирюзы. Только не цветы."
    assert (scene.language, scene.tags, scene.heading) == ("ru", ("gifts",), "Подарки")
    assert scene.line == line_of(GIFTS, "kind: scene")


def test_several_examples_in_one_block_share_its_defaults() -> None:
    text = scene_note(
        "system: Be brief.\nlanguage: en\nexamples:\n"
        "  - turns:\n      - user: Port?\n      - assistant: '8742'\n"
        "  - language: ru\n    system: Коротко.\n"
        "    turns:\n      - user: Порт?\n      - assistant: '8742'\n"
    )
    scenes, errors = read_scenes(parse_note("s.md", text))
    assert errors == []
    assert [(s.system, s.language) for s in scenes] == [("Be brief.", "en"), ("Коротко.", "ru")]


def test_a_scene_note_can_hold_its_scene_in_the_frontmatter() -> None:
    scenes, errors = read_scenes(parse_note("Scenes/Кот.md", FEEDING))
    assert errors == []
    [scene] = scenes
    assert [turn.text for turn in scene.turns] == ["Чем кормить кота?", "Влажным с индейкой."]
    assert (scene.language, scene.tags) == ("ru", ("scene", "cat"))


def test_yaml_blocks_that_are_not_scenes_are_left_alone() -> None:
    text = "# Server\n\n```yaml\nservices:\n  overlay:\n    image: overlay:local\n```\n"
    assert read_scenes(parse_note("Projects/Server.md", text)) == ([], [])


def test_a_scene_inside_a_callout_is_read() -> None:
    text = "# Q\n\n> [!example]\n> ```yaml\n> kind: scene\n> turns:\n>   - user: Hi?\n>   - assistant: Hi.\n> ```\n"
    [scene] = read_scenes(parse_note("q.md", text))[0]
    assert [turn.text for turn in scene.turns] == ["Hi?", "Hi."]


# ---- broken scenes: the error says what and points at the line ----

BROKEN = [
    ("turns:\n  - user: Hi?\n  - asistant: Hello.\n", "- asistant", "unknown key 'asistant'"),
    (
        "language: de\nturns:\n  - user: Hi?\n  - assistant: Hi.\n",
        "language: de",
        "'de' is not one",
    ),
    ("turns:\n  - user: Port: which?\n  - assistant: 8742\n", "- user: Port", "not valid YAML"),
    ("turns:\n  - user: A?\n  - user: B?\n  - assistant: C.\n", "- user: B?", "two user turns"),
    ("turns:\n  - user: A?\n  - assistant: B.\n  - user: C?\n", "- user: C?", "last turn"),
    ("turns:\n  - user: Born?\n  - assistant: 1938\n", "- assistant: 1938", "put it in quotes"),
    ("turns:\n  - user: Only a question?\n", "turns:", "at least two turns"),
    ("system: x\n", "kind: scene", "`turns` (one example) or `examples`"),
    (
        "turns:\n  - user: A?\n    assistant: B.\n  - assistant: C.\n",
        "- user: A?",
        "one message per turn",
    ),
    ("tag: [x]\nturns:\n  - user: A?\n  - assistant: B.\n", "tag:", "unknown key 'tag'"),
]


@pytest.mark.parametrize(("yaml_body", "at", "says"), BROKEN)
def test_a_broken_scene_gives_an_error_at_its_line(yaml_body: str, at: str, says: str) -> None:
    text = scene_note(yaml_body)
    scenes, errors = read_scenes(parse_note("Scenes/s.md", text))
    assert scenes == []
    assert errors and errors[0].path == "Scenes/s.md"
    assert errors[0].line == line_of(text, at), str(errors[0])
    assert says in errors[0].message
    assert str(errors[0]).startswith(f"Scenes/s.md:{line_of(text, at)}: ")


def test_a_broken_frontmatter_scene_points_at_the_frontmatter_line() -> None:
    wrong_key = FEEDING.replace("  - assistant: Влажным", "  - asistant: Влажным")
    [error] = errors_of(wrong_key)
    assert error.line == line_of(wrong_key, "- asistant") and "asistant" in error.message
    wrong_language = FEEDING.replace("language: ru", "language: russian")
    [error] = errors_of(wrong_language)
    assert error.line == line_of(wrong_language, "language: russian")
    unreadable = FEEDING.replace("Чем кормить кота?", "Чем: кормить кота?")
    [error] = errors_of(unreadable)
    assert error.line == line_of(unreadable, "Чем: кормить") and "YAML" in error.message


def test_the_other_properties_of_a_frontmatter_scene_are_not_checked() -> None:
    text = FEEDING.replace("created: 2026-10-05", "created: 2026-10-05\ncssclass: wide")
    assert errors_of(text) == []


def test_a_scene_note_without_a_scene_says_so_at_its_marker() -> None:
    text = "---\ncreated: 2026-10-05\noverlay: scene\n---\n# Empty\n\nNothing yet.\n"
    [error] = errors_of(text)
    assert error.line == 3 and "holds no scene" in error.message


def test_every_yaml_block_of_a_scene_note_must_be_a_scene() -> None:
    text = (
        "---\noverlay: scene\n---\n# S\n\n```yaml\nturns:\n  - user: A?\n  - assistant: B.\n```\n"
    )
    [error] = errors_of(text)
    assert error.line == line_of(text, "turns:") and "kind: scene" in error.message


def test_a_broken_example_costs_only_itself() -> None:
    text = scene_note(
        "examples:\n  - turns:\n      - user: Good?\n      - assistant: Yes.\n"
        "  - turns:\n      - user: Broken?\n      - user: Twice.\n"
    )
    scenes, errors = read_scenes(parse_note("s.md", text))
    assert [scene.turns[0].text for scene in scenes] == ["Good?"]
    assert {error.line for error in errors} == {line_of(text, "- user: Twice.")}


# ---- overlay scenes check ----


def check(vault: Path, *args: str) -> Any:
    return runner.invoke(app, ["scenes", "check", str(vault), *args])


def test_check_passes_the_example_vault_in_both_languages(example_vault: Path) -> None:
    result = check(example_vault, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["errors"] == [] and report["totals"]["scenes"] >= 10
    scenes = report["scenes"]
    assert {scene["language"] for scene in scenes} >= {"ru", "en"}
    assert any(scene["turns"] > 2 for scene in scenes)  # multi-turn
    assert any(scene["system"] for scene in scenes)


def test_check_lists_every_error_with_file_and_line(make_vault: MakeVault) -> None:
    broken = scene_note("turns:\n  - user: Hi?\n  - asistant: Hello.\n")
    bad_front = FEEDING.replace("language: ru", "language: de")
    vault = make_vault({"Scenes/a.md": broken, "Scenes/Кот.md": bad_front, "Notes/ok.md": GIFTS})
    result = check(vault)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert f"Scenes/a.md:{line_of(broken, '- asistant')}: " in result.output
    assert any(
        line.startswith(f"Scenes/Кот.md:{line_of(bad_front, 'language: de')}: ") for line in lines
    )
    assert "1 scene ok in 1 note; 2 broken (2 errors)" in result.output


def test_check_never_reads_private_notes(make_vault: MakeVault) -> None:
    secret = "---\noverlay: private\n---\n" + scene_note("turns:\n  - user: PIN?\n")
    vault = make_vault({"Private/pin.md": secret, "Notes/ok.md": GIFTS})
    result = check(vault)
    assert result.exit_code == 0, result.output
    assert "1 private note not read" in result.output


# ---- scenes as pairs ----


class Overlay:
    """The CLI bound to one vault and one data dir."""

    def __init__(self, vault: Path, data: Path) -> None:
        self.vault, self.data = vault, data

    def __call__(self, *args: str) -> str:
        result = runner.invoke(
            app, ["--vault", str(self.vault), "--data-dir", str(self.data), *args]
        )
        assert result.exit_code == 0, result.output + repr(result.exception)
        return result.output

    def pairs(self, *args: str) -> list[dict[str, Any]]:
        return json.loads(self("pairs", "list", "--json", "--limit", "1000", *args))


def test_example_scenes_reach_the_training_export_verbatim(
    example_vault: Path, tmp_path: Path
) -> None:
    overlay = Overlay(example_vault, tmp_path / "data")
    summary = overlay("distill", "--source", "scenes")
    assert "no model called" in summary and "generation failures: 0" in summary
    report = json.loads(check(example_vault, "--json").output)
    pairs = overlay.pairs("--source", "scene")
    assert len(pairs) == report["totals"]["scenes"]
    assert {pair["status"] for pair in pairs} == {"approved"}
    assert {pair["language"] for pair in pairs} == {"ru", "en"}
    assert overlay.pairs("--source", "scenes") == pairs  # as `distill --source` reads it
    listing = overlay("pairs", "list", "--source", "scene")
    assert "approved scene" in listing
    assert "Dima is coming over at four" in listing  # the question, not the system prompt

    out = tmp_path / "train.jsonl"
    overlay("pairs", "export", "--out", str(out))
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    exported = [row["messages"] for row in rows]
    tea = next(m for m in exported if m[-1]["content"].startswith("Make tea instead."))
    assert tea[0] == {
        "role": "system",
        "content": "Ты — память Льва. Отвечай на языке вопроса, коротко, только по его заметкам.",
    }
    assert tea[1] == {"role": "user", "content": "Dima is coming over at four. Coffee?"}
    assert any(len(messages) >= 4 for messages in exported)  # multi-turn scenes stay whole


def test_an_edited_scene_replaces_its_pair_and_a_fixed_one_comes_back(
    make_vault: MakeVault, tmp_path: Path
) -> None:
    vault = make_vault({"People/Аня.md": GIFTS})
    overlay = Overlay(vault, tmp_path / "data")
    overlay("distill", "--source", "scene")
    [first] = overlay.pairs()
    note = vault / "People" / "Аня.md"

    note.write_text(GIFTS.replace("Тогда день на лодке.", "Тогда «Земноморье»."), "utf-8")
    overlay("distill", "--source", "scene")
    statuses = {pair["id"]: pair["status"] for pair in overlay.pairs()}
    assert statuses.pop(first["id"]) == "stale"
    assert list(statuses.values()) == ["approved"]

    note.write_text(GIFTS.replace("  - user: А если", "  - usr: А если"), "utf-8")
    output = overlay("distill", "--source", "scene")
    assert "no pairs from People/Аня.md:" in output and "usr" in output
    assert {pair["status"] for pair in overlay.pairs()} == {"stale"}

    note.write_text(GIFTS, "utf-8")
    overlay("distill", "--source", "scene")
    assert overlay.pairs("--status", "approved")[0]["id"] == first["id"]


def test_a_rejected_scene_stays_rejected_and_private_scenes_give_nothing(
    make_vault: MakeVault, tmp_path: Path
) -> None:
    secret = "---\noverlay: private\n---\n" + scene_note(
        "turns:\n  - user: PIN?\n  - assistant: '4711'\n"
    )
    vault = make_vault({"People/Аня.md": GIFTS, "Private/pin.md": secret})
    overlay = Overlay(vault, tmp_path / "data")
    overlay("distill", "--source", "scene")
    [pair] = overlay.pairs()
    assert pair["note_path"] == "People/Аня.md"
    overlay("pairs", "reject", pair["id"])
    note = vault / "People" / "Аня.md"
    note.write_text(GIFTS + "\nЕщё одна строка после сцены.\n", "utf-8")
    overlay("distill", "--source", "scene")
    assert [p["status"] for p in overlay.pairs()] == ["rejected"]


def test_the_readme_scene_example_is_a_valid_scene() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    example = readme.split("````markdown\n", 1)[1].split("````", 1)[0]
    scenes, errors = read_scenes(parse_note("README.md", example))
    assert errors == [] and len(scenes) == 1 and len(scenes[0].turns) == 4
