"""Only the person's statements become facts: markup, scenes, bookkeeping, echoes and
duplicates are dropped before anything is stored (distill/fact_filters.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from distill.fact_filters import is_bookkeeping
from distill.language import content_words, echoes
from distill.pairs import Pair, PairStore
from distill.pipeline import distill
from distill.selection import Selection
from overlay.config import Settings
from vault_schema import iter_note_paths, read_note, read_scenes

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / ".." / "shared" / "data"
PUBLIC = ("kepano-obsidian", "lixelv-itmo-notes-ru", "sorobby-obsidian-starter-vault")

CHAT = """---
uid: 5b1e9d3c-0c1f-4a55-9a51-7d3cbb0c2f10
date: 2025-03-22
created: 2025-03-22
city: Riga
related: "[[Anna]]"
---
>[!nexus_user] **User** - 22.03.2025 at 10:00
> Where should I keep the boat?
<!-- UID: 08f0dc81-d8fe-4e46-9cd7-c4b6e76c8f93 -->

>[!nexus_agent] **Assistant** - 22.03.2025 at 10:01
> Berth: a marina close to home.

## Decided

- Berth — B-14 at Andrejosta, on the far pontoon
- Berth — B-14 at Andrejosta, on the far pontoon
- Sail number: LAT 318
- Syntax: `[[Anna]]` and ``, as written

```python
port: 8742
```
"""

SCENE = """---
overlay: scene
language: en
---
# Pantry

How I want to be answered about the home server: what I decided back then.

```yaml
kind: scene
turns:
  - user: There's a kernel update. Install it and reboot?
  - assistant: Yes, but keep the old kernel in GRUB.
```
"""


def pairs_of(settings: Settings) -> list[Pair]:
    distill(settings, Selection(everything=True), sources=settings.distill.sources)
    with PairStore.from_settings(settings) as store:
        return store.list()


def test_bookkeeping_markup_echoes_and_duplicates_never_become_pairs(
    make_vault: Any, make_settings: Any
) -> None:
    settings: Settings = make_settings(make_vault({"Boat/2025-03-22.md": CHAT}))
    answers = [p.messages[-1]["content"] for p in pairs_of(settings) if p.source != "dialogue"]
    assert "Riga" in answers and "LAT 318" in answers  # the person's facts stay
    assert "B-14 at Andrejosta, on the far pontoon" in answers
    for answer in answers:
        assert answer != "2025-03-22" and " date" not in answer  # the note's title is its date
        assert "UID" not in answer and "-->" not in answer
        assert "5b1e9d3c" not in answer and "8742" not in answer  # bookkeeping, code
        assert "marina" not in answer  # the assistant's turn is the dialogue source's
        assert "Anna" not in answer  # a property that is only a link points the way
        assert "``" not in answer  # inline code emptied by cleaning is markup
    report = distill(settings, Selection(everything=True), sources=["property"])
    assert report.facts_dropped["duplicate"] >= 1  # the Berth line, written twice
    assert "facts: " in report.summary()


def test_a_scene_note_gives_scene_pairs_and_no_facts(make_vault: Any, make_settings: Any) -> None:
    settings: Settings = make_settings(make_vault({"Scenes/Pantry.md": SCENE}))
    assert {p.source for p in pairs_of(settings)} == {"scene"}


def test_what_counts_as_an_echo_and_as_bookkeeping() -> None:
    assert echoes("Помнишь, какой date у 2025-03-22?", "2025-03-22")
    assert echoes("What is the Experiment log in Experiment log?", "experiment log")
    assert not echoes("What colour is my car?", "dark teal")
    assert content_words("<!-- -->") == set()
    assert all(map(is_bookkeeping, ["UID", "date-modified", "Created", "cssclasses", "dg-publish"]))
    assert not any(map(is_bookkeeping, ["city", "birthday", "price"]))


def offences(vault: Path, settings: Settings) -> list[str]:
    """Every pair of the vault with markup, scene text, a bookkeeping value or an answer
    inside its question, described."""
    scene_text: set[str] = set()
    bookkeeping: set[tuple[str, str]] = set()  # (note, value)
    for path in iter_note_paths(vault, ["SOURCE.md"]):
        note = read_note(vault, path)
        for scene in read_scenes(note)[0]:
            scene_text |= {" ".join(turn.text.split()) for turn in scene.turns}
        bookkeeping |= {
            (path, str(value))
            for key, value in note.frontmatter.items()
            if is_bookkeeping(str(key))
        }
    found = []
    for pair in pairs_of(settings):
        if pair.source in ("dialogue", "scene"):
            continue
        question, answer = pair.messages[0]["content"], pair.messages[-1]["content"]
        markup = any(mark in question + answer for mark in ("<!--", "-->", "```", "[[", "$$"))
        if (
            markup
            or " ".join(answer.split()) in scene_text
            or (pair.note_path, answer) in bookkeeping
            or echoes(question, answer)
        ):
            found.append(f"{pair.note_path}: {question} -> {answer}")
    return found


@pytest.mark.parametrize("name", ["examples/vault", *PUBLIC])
def test_no_pair_of_a_real_vault_is_markup_scene_bookkeeping_or_an_echo(
    name: str, make_settings: Any
) -> None:
    vault = REPO / name if name.startswith("examples") else DATA / name
    if not vault.is_dir():
        pytest.skip(f"{vault} is not present")
    settings: Settings = make_settings(vault, parse__exclude=["SOURCE.md"])
    assert offences(vault, settings) == []
