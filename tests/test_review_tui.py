"""`overlay pairs review`: one key per action, each saved at once, undo and back."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from factories import qa_pair
from rich.console import Console
from typer.testing import CliRunner, Result

from distill.pairs import Pair, PairFilter, PairStore
from distill.selection import Worth, facts_by_worth
from overlay.cli import app
from overlay.cli.review import Review

runner = CliRunner()


def pair(number: int, language: str = "en", status: str = "pending") -> Pair:
    return qa_pair(
        f"Question {number}?",
        f"Answer {number}.",
        note=f"People/Person {number}.md",
        heading="Basics",
        content_hash="hash",
        generator="smollm2-135m-instruct",
        prompt_version="facts-1",
        language=language,
        status=status,
        scores={"lexical": 0.9, "judge": 0.75},
    )


PAIRS = [pair(0), pair(1), pair(2, "ru"), pair(3, "ru"), pair(4, status="approved")]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    with PairStore(tmp_path / "data" / "pairs.sqlite3") as store:
        store.add(PAIRS)
    return tmp_path / "data"


def review(data: Path, keys: str, *options: str) -> Result:
    result = runner.invoke(app, ["--data-dir", str(data), "pairs", "review", *options], input=keys)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def statuses(data: Path) -> list[str]:
    with PairStore(data / "pairs.sqlite3") as store:
        return [store.get(p.id).status for p in PAIRS]


def test_approve_reject_skip_then_quit(data: Path) -> None:
    result = review(data, "arsq")
    assert statuses(data) == ["approved", "rejected", "pending", "pending", "approved"]
    assert "1/4" in result.output and "4/4" in result.output and "5/4" not in result.output
    assert "Question 0?" in result.output and "People/Person 0.md > Basics" in result.output
    assert "lexical 0.90, judge 0.75" in result.output
    assert (
        "reviewed 3 of 4 facts (4 pairs): approved 1, rejected 1, edited 0, skipped 1"
        in result.output
    )


def test_back_changes_a_decision_and_undo_takes_actions_back_in_order(data: Path) -> None:
    # approve 0, back, reject 0, undo (approved again), undo (pending), skip 0, approve 1
    result = review(data, "abruu asq")
    assert statuses(data)[:3] == ["pending", "approved", "pending"]
    assert "undone: " in result.output and "is approved again" in result.output
    assert (
        "reviewed 3 of 4 facts (4 pairs): approved 1, rejected 0, edited 0, skipped 2"
        in result.output
    )


def test_the_keys_run_out_and_what_was_done_stays(data: Path) -> None:
    review(data, "ar")  # no q: the input ends
    assert statuses(data)[:3] == ["approved", "rejected", "pending"]


def test_an_unknown_key_shows_the_keys_and_does_nothing(data: Path) -> None:
    result = review(data, "xq")
    assert "keys: a approve" in result.output
    assert statuses(data)[:4] == ["pending"] * 4


def test_past_the_last_pair_back_and_undo_still_work(data: Path) -> None:
    # skip 2, approve 3 (the end), back to 3, reject it (the end), undo: 3 approved again
    result = review(data, "sabru", "--language", "ru")
    assert "all 2 facts seen" in result.output
    assert statuses(data)[2:4] == ["pending", "approved"]


def test_filters_choose_the_pairs_like_pairs_list(data: Path) -> None:
    russian = review(data, "q", "--language", "ru").output
    assert "1/2" in russian and "Question 2?" in russian
    approved = review(data, "r", "--status", "approved").output
    assert "1/1" in approved and "Question 4?" in approved
    assert statuses(data)[4] == "rejected"
    with PairStore(data / "pairs.sqlite3") as store:
        store.set_status([p.id for p in PAIRS], "rejected")
    assert "no pairs to review" in review(data, "a").output


@pytest.fixture
def editor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """$EDITOR: a real program that rewrites the assistant's message to 'Edited.'."""
    script = tmp_path / "editor.py"
    script.write_text(
        "import sys, pathlib\n"
        "p = pathlib.Path(sys.argv[1])\n"
        "head, _, _ = p.read_text(encoding='utf-8').rpartition('<!-- role: assistant -->')\n"
        "p.write_text(head + '<!-- role: assistant -->\\nEdited.\\n', encoding='utf-8')\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    return script


def test_edit_in_the_editor_stores_the_new_messages_as_edited(data: Path, editor: Path) -> None:
    result = review(data, "eq")
    with PairStore(data / "pairs.sqlite3") as store:
        edited, history = store.get(PAIRS[0].id), store.history(PAIRS[0].id)
    assert edited.status == "edited"
    assert edited.messages == [
        {"role": "user", "content": "Question 0?"},
        {"role": "assistant", "content": "Edited."},
    ]
    assert [entry.old_messages for entry in history] == [PAIRS[0].messages]
    assert "edited 1" in result.output


def test_undo_of_an_edit_restores_messages_and_status_keeping_history(
    data: Path, editor: Path
) -> None:
    review(data, "euq")
    with PairStore(data / "pairs.sqlite3") as store:
        restored, history = store.get(PAIRS[0].id), store.history(PAIRS[0].id)
    assert restored.status == "pending" and restored.messages == PAIRS[0].messages
    assert [entry.new_messages for entry in history] == [
        [PAIRS[0].messages[0], {"role": "assistant", "content": "Edited."}],
        PAIRS[0].messages,
    ]


def test_an_edit_that_breaks_the_role_lines_is_refused(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "breaker.py"
    script.write_text(
        "import sys, pathlib\npathlib.Path(sys.argv[1]).write_text('no roles left')\n"
    )
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    result = review(data, "eq")
    assert "not saved, the pair is as it was" in result.output
    with PairStore(data / "pairs.sqlite3") as store:
        assert store.get(PAIRS[0].id).status == "pending"
        assert store.get(PAIRS[0].id).messages == PAIRS[0].messages
        assert store.history(PAIRS[0].id) == []


def test_each_action_is_saved_before_the_next_key_even_on_ctrl_c(data: Path) -> None:
    def keys() -> Iterator[str]:
        yield "a"
        with PairStore(data / "pairs.sqlite3") as other:  # another process's view
            assert other.get(PAIRS[0].id).status == "approved"
        yield "r"
        raise KeyboardInterrupt

    pressed = keys()
    with PairStore(data / "pairs.sqlite3") as store:
        session = Review(store, [[p.id] for p in PAIRS[:4]], Console(file=io.StringIO()))
        session.run(lambda: next(pressed))
    assert statuses(data)[:3] == ["approved", "rejected", "pending"]
    assert (
        session.summary()
        == "reviewed 2 of 4 facts (4 pairs): approved 1, rejected 1, edited 0, skipped 0"
    )


def test_keys_typed_ahead_each_count_and_an_arrow_key_is_one_press(data: Path) -> None:
    pressed = iter(["ar", "\x1b[D", "s", ""])  # approve 0, reject 1, ← back to 1, skip
    with PairStore(data / "pairs.sqlite3") as store:
        session = Review(store, [[p.id] for p in PAIRS[:4]], Console(file=io.StringIO()))
        session.run(lambda: next(pressed))
    assert statuses(data)[:3] == ["approved", "rejected", "pending"]
    assert session.position == 2


def fact_pairs(fact: str, note: str, answer: str) -> list[Pair]:
    asked = [("en", f"What about {fact}?"), ("ru", f"Что про {fact}?"), ("en", f"And {fact}?")]
    return [
        qa_pair(
            question,
            answer,
            note=note,
            source="property",
            language=language,
            fact=fact,
            held_out=number == 2,
        )
        for number, (language, question) in enumerate(asked)
    ]


@pytest.fixture
def facts(tmp_path: Path) -> Path:
    with PairStore(tmp_path / "data" / "pairs.sqlite3") as store:
        store.add(fact_pairs("berth", "Boat.md", "B-14 at Andrejosta"))
        store.add(fact_pairs("fee", "Boat.md", "€480 a season"))
    return tmp_path / "data"


def test_a_fact_is_shown_once_with_its_restatements_and_each_key_acts_on_all_of_them(
    facts: Path,
) -> None:
    result = review(facts, "arq")
    assert "1/2" in result.output and "3 restatements" in result.output
    assert result.output.count("B-14 at Andrejosta") == 1  # the statement, folded
    assert "Что про berth?" in result.output and "held out" in result.output
    assert "reviewed 2 of 2 facts (6 pairs): approved 1, rejected 1" in result.output
    with PairStore(facts / "pairs.sqlite3") as store:
        assert {p.status for p in store.list(PairFilter(fact="berth"))} == {"approved"}
        assert {p.status for p in store.list(PairFilter(fact="fee"))} == {"rejected"}


def test_editing_a_fact_changes_its_statement_in_every_pair_and_undo_restores_them(
    facts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "fix.py"
    script.write_text("import sys, pathlib\npathlib.Path(sys.argv[1]).write_text('B-15')\n")
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    review(facts, "euq")
    with PairStore(facts / "pairs.sqlite3") as store:
        berth = store.list(PairFilter(fact="berth"))
        assert {(p.messages[-1]["content"], p.status) for p in berth} == {
            ("B-14 at Andrejosta", "pending")
        }
    review(facts, "eq")
    with PairStore(facts / "pairs.sqlite3") as store:
        berth = store.list(PairFilter(fact="berth"))
        assert {(p.messages[-1]["content"], p.status) for p in berth} == {("B-15", "edited")}
        assert {p.messages[-1]["content"] for p in store.list(PairFilter(fact="fee"))} == {
            "€480 a season"
        }


def test_facts_of_notes_asked_about_and_linked_come_first(facts: Path) -> None:
    with PairStore(facts / "pairs.sqlite3") as store:
        pairs = store.list()
    pairs += [qa_pair("Where?", "Riga", note="Me.md", fact="city")]
    plain = [group[0].fact for group in facts_by_worth(pairs, Worth())]
    assert plain == ["berth", "fee", "city"]  # nothing known: the store's order
    asked = [group[0].fact for group in facts_by_worth(pairs, Worth(asked={"Me.md": 1}))]
    linked = [group[0].fact for group in facts_by_worth(pairs, Worth(linked={"Me.md": 3}))]
    assert asked[0] == linked[0] == "city" and len(asked) == 3
