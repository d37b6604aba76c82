"""Distilling a vault: dialogue pairs, selection, incremental reruns, staleness, privacy."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from distill.dedupe import NearDuplicates
from distill.language import detect_language
from distill.pairs import Pair, PairFilter, PairStore
from distill.pipeline import distill
from distill.selection import Selection, parse_period
from distill.sources.dialogues import clean_markup, dialogue_pairs
from overlay.config import ParseSettings, Settings
from vault_schema import parse_note

DIALOGUE = ("dialogue",)  # the LLM sources have their own tests

LORA_CHAT = "Chats/01_хочу_обучить_lora_на.md"
PARSE = ParseSettings.model_validate({})

TRANSCRIPT = """>[!nexus_user] **User** - 03.09.2025 at 19:02
> How should I chunk [[Overlay architecture|the design]] notes?[^1]
<!-- UID: u1 -->

Commentary with [[Домашний сервер#Грабли]].

[^1]: [[Overlay architecture]]

>[!nexus_agent] **Assistant** - 03.09.2025 at 19:05
> ### 1. Split by headings
>
> | Content | Size |
> |---|---|
> | prose | 256 |
>
> See [[Overlay architecture]] and ![[diagram.png]] ^answer1
<!-- UID: a1 -->
"""


LONG_ANSWER = (
    "Keep the heading path as a prefix of every chunk, because a short chunk without it "
    "loses its meaning; split chat transcripts by turns, design documents by sections, "
    "and only then by size, with a small overlap so that a sentence cut in half still "
    "appears whole in one of the two chunks; measure retrieval on your own questions "
    "before you tune anything else, since the defaults are usually good enough."
)


def pairs_of(settings: Settings, where: PairFilter | None = None) -> list[Pair]:
    with PairStore.from_settings(settings) as store:
        return store.list(where or PairFilter())


def test_samples_since_july_give_their_dialogue_pairs_with_dates(
    samples: Path, make_settings: Any
) -> None:
    settings = make_settings(samples)
    report = distill(settings, Selection.from_options(since="2025-07"), sources=DIALOGUE)
    pairs = pairs_of(settings)
    assert sorted(p.note_date or datetime.min for p in pairs) == [
        datetime(2025, 7, 26, 9, 43),
        datetime(2025, 7, 28, 17, 35),
    ]
    assert {p.source for p in pairs} == {"dialogue"}
    assert {p.language for p in pairs} == {"ru"}
    assert all([m["role"] for m in p.messages] == ["user", "assistant"] for p in pairs)
    assert "что нам полезного?" in {p.messages[0]["content"] for p in pairs}
    assert report.pairs_added == 2 and report.added_by_source == {"dialogue": 2}


def test_samples_since_august_give_no_pairs(samples: Path, make_settings: Any) -> None:
    settings = make_settings(samples)
    distill(settings, Selection.from_options(since="2025-08"), sources=DIALOGUE)
    distill(settings, Selection.from_options(until="2025-06"), sources=DIALOGUE)
    assert pairs_of(settings) == []


@pytest.mark.integration
def test_distilling_loads_no_language_model(samples: Path, tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from overlay.config import Settings\n"
        "from distill.pipeline import distill\n"
        "from distill.selection import Selection\n"
        f"s = Settings(vault={str(samples)!r}, data_dir={str(tmp_path / 'data')!r})\n"
        "report = distill(s, Selection.from_options(since='2025-07'), sources=s.distill.sources)\n"
        "assert report.added_by_source['dialogue'] == 2, report\n"
        "loaded = [m for m in ('overlay.core.llms', 'transformers', 'torch', 'llama_index.core')"
        " if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_rerun_adds_nothing_and_reads_no_note_again(
    example_vault: Path, make_settings: Any
) -> None:
    settings = make_settings(example_vault)
    first = distill(settings, Selection(), sources=DIALOGUE)
    again = distill(settings, Selection(), sources=DIALOGUE)
    forced = distill(settings, Selection(everything=True), sources=DIALOGUE)
    assert first.pairs_added == len(pairs_of(settings)) > 0
    assert (again.pairs_added, again.notes_distilled, again.notes_unchanged) == (
        0,
        0,
        first.notes_read,
    )
    assert (forced.pairs_added, forced.pairs_known) == (0, first.pairs_added)


def test_editing_a_note_stales_only_its_changed_pairs(
    example_vault: Path, make_settings: Any
) -> None:
    settings = make_settings(example_vault)
    distill(settings, Selection(), sources=DIALOGUE)
    before = {p.id: p for p in pairs_of(settings)}
    chat = example_vault / LORA_CHAT
    text = chat.read_text(encoding="utf-8")
    chat.write_text(
        text.replace("Не запутается, если", "Скорее всего не запутается, если"), encoding="utf-8"
    )
    report = distill(settings, Selection(), sources=DIALOGUE)
    after = {p.id: p for p in pairs_of(settings)}
    stale = {i for i, p in after.items() if p.status == "stale"}
    assert {after[i].note_path for i in stale} == {LORA_CHAT}
    assert len(stale) == 2  # the second exchange and the whole conversation
    assert report.notes_distilled == 1 and report.pairs_added == 2
    first_exchange = [
        p for p in before.values() if p.note_path == LORA_CHAT and len(p.messages) == 2
    ]
    assert any(after[p.id].status == "pending" for p in first_exchange)
    new = [p for i, p in after.items() if i not in before]
    assert all("Скорее всего не запутается" in p.messages[-1]["content"] for p in new)


def test_private_notes_never_give_pairs_and_a_note_made_private_is_withdrawn(
    example_vault: Path, make_settings: Any
) -> None:
    settings = make_settings(example_vault)
    report = distill(settings, Selection(), sources=DIALOGUE)
    assert report.notes_private == 1
    assert not [p for p in pairs_of(settings) if p.note_path.startswith("Private/")]
    chat = example_vault / LORA_CHAT
    chat.write_text("---\noverlay: private\n---\n" + chat.read_text(encoding="utf-8"), "utf-8")
    distill(settings, Selection(), sources=DIALOGUE)
    assert {p.status for p in pairs_of(settings, PairFilter(note=LORA_CHAT))} == {"stale"}


def test_a_deleted_note_leaves_stale_pairs(example_vault: Path, make_settings: Any) -> None:
    settings = make_settings(example_vault)
    distill(settings, Selection(), sources=DIALOGUE)
    (example_vault / LORA_CHAT).unlink()
    report = distill(settings, Selection(), sources=DIALOGUE)
    assert report.notes_gone == 1
    assert {p.status for p in pairs_of(settings, PairFilter(note=LORA_CHAT))} == {"stale"}


def test_several_exchanges_also_give_the_whole_conversation(example_vault: Path) -> None:
    note = parse_note(LORA_CHAT, (example_vault / LORA_CHAT).read_text(encoding="utf-8"))
    pairs = dialogue_pairs(note, PARSE)
    assert [len(p.messages) for p in pairs] == [2, 2, 4]
    assert [m["role"] for m in pairs[-1].messages] == ["user", "assistant"] * 2
    assert pairs[-1].note_date == pairs[0].note_date == datetime(2025, 6, 12, 21, 14)


def test_dialogue_text_is_cleaned_of_obsidian_markup() -> None:
    [pair] = dialogue_pairs(parse_note("Chats/c.md", TRANSCRIPT), PARSE)
    question, answer = (m["content"] for m in pair.messages)
    assert question == "How should I chunk the design notes?"
    assert "[[" not in answer and "^answer1" not in answer and "diagram.png" not in answer
    assert "### 1. Split by headings" in answer and "| prose | 256 |" in answer
    assert "See Overlay architecture and" in answer
    assert clean_markup("**User** - 1.1.2025\nhi <!-- UID: x -->") == "hi"


def test_custom_callout_types_come_from_the_settings() -> None:
    text = ">[!me] Me\n> Где ключи?\n\n>[!bot] Bot\n> В синей папке.\n"
    note = parse_note("c.md", text)
    assert dialogue_pairs(note, PARSE) == []
    parse = ParseSettings.model_validate({"user_callouts": ["me"], "assistant_callouts": ["bot"]})
    [pair] = dialogue_pairs(note, parse)
    assert pair.messages[1]["content"] == "В синей папке." and pair.language == "ru"


def test_a_repeated_transcript_is_dropped_as_a_near_duplicate(
    make_vault: Any, make_settings: Any
) -> None:
    long = TRANSCRIPT.replace("^answer1", "^answer1\n>\n> " + LONG_ANSWER)
    vault = make_vault({"a.md": long, "b.md": long.replace("notes?", "notes, please?")})
    settings = make_settings(vault)
    report = distill(settings, Selection(), sources=DIALOGUE)
    assert (report.pairs_added, report.duplicates_dropped) == (1, 1)
    kept = NearDuplicates()
    kept.add("x", "one two three four five six seven eight nine ten")
    assert kept.duplicate_of("completely different words about boats and rivers here") is None


def test_selection_by_folder_tag_and_note(example_vault: Path, make_settings: Any) -> None:
    settings = make_settings(example_vault)
    distill(settings, Selection.from_options(tags=["#learning"]), sources=DIALOGUE)
    assert {p.note_path for p in pairs_of(settings)} == {"Chats/04_help_me_prepare_for.md"}
    distill(settings, Selection.from_options(notes=["02_how_should_i_chunk"]), sources=DIALOGUE)
    distill(settings, Selection.from_options(folders=["Journal/"]), sources=DIALOGUE)
    assert {p.note_path for p in pairs_of(settings)} == {
        "Chats/04_help_me_prepare_for.md",
        "Chats/02_how_should_i_chunk.md",
    }


def test_periods_cover_a_year_a_month_or_a_day() -> None:
    assert parse_period("2025-07") == (datetime(2025, 7, 1), datetime(2025, 8, 1))
    assert parse_period("2025-12") == (datetime(2025, 12, 1), datetime(2026, 1, 1))
    assert parse_period("2025-07-15")[1] == datetime(2025, 7, 16)
    assert parse_period("2025") == (datetime(2025, 1, 1), datetime(2026, 1, 1))
    with pytest.raises(Exception, match="YYYY-MM"):
        parse_period("July")


def test_language_by_share_of_cyrillic() -> None:
    assert detect_language("Как обучить LoRA на заметках?") == "ru"
    assert detect_language("How do I train a LoRA?") == "en"
    assert detect_language("LoRA adapter training — обучение адаптера") == "mixed"


def _random_transcript(seed: int) -> str:
    import random

    rng = random.Random(seed)
    words = [f"w{rng.randrange(100_000)}" for _ in range(60)]
    return (
        f">[!nexus_user] **User** - 01.08.2025 at 10:00\n> {' '.join(words[:20])}?\n\n"
        f">[!nexus_agent] **Assistant** - 01.08.2025 at 10:01\n> {' '.join(words[20:])}.\n"
    )


@pytest.mark.integration
def test_a_killed_run_keeps_what_it_wrote_and_the_rerun_completes(
    make_vault: Any, make_settings: Any, tmp_path: Path
) -> None:
    import signal
    import sqlite3
    import time

    total = 800
    vault = make_vault({f"Chats/{i:04}.md": _random_transcript(i) for i in range(total)})
    settings = make_settings(vault)
    db_path = settings.resolved_data_dir() / "pairs.sqlite3"
    command = [
        "--vault",
        str(vault),
        "--data-dir",
        str(settings.resolved_data_dir()),
        "distill",
        "--source",
        "dialogue",
    ]
    run = subprocess.Popen(
        [sys.executable, "-c", "from overlay.cli import main; main()", *command, "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    written = 0
    while run.poll() is None and written < 100:
        time.sleep(0.01)
        if db_path.exists():
            try:
                with sqlite3.connect(db_path, timeout=5) as db:
                    counted = db.execute("SELECT count(DISTINCT path) FROM distilled_sources")
                    written = counted.fetchone()[0]
            except sqlite3.OperationalError:  # the schema is being created
                continue
    run.send_signal(signal.SIGKILL)
    run.wait()
    with PairStore(db_path) as store:
        done = store.distilled_paths()
        kept = store.list()
    assert 100 <= len(done) < total, "the run finished before it could be killed"
    assert {pair.note_path for pair in kept} == done  # each recorded note has its pair
    report = distill(settings, Selection(), sources=DIALOGUE)
    assert (report.notes_distilled, report.notes_unchanged) == (total - len(done), len(done))
    assert len(pairs_of(settings)) == total
