"""The pair store: idempotent adds, staleness, review status, edit history, filters."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from factories import qa_pair

from distill.pair_migrations import MIGRATIONS
from distill.pairs import Pair, PairFilter, PairStore
from overlay.errors import ConfigError, StoreError
from overlay.sqlite import apply_migrations

DIALOGUE = ("dialogue",)


def exchange(
    question: str, answer: str, note: str = "Chats/a.md", source: str = "dialogue", **rest: object
) -> Pair:
    fields: dict[str, object] = {"content_hash": "h1", "prompt_version": "dialogue-1"}
    return qa_pair(question, answer, note=note, source=source, **{**fields, **rest})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PairStore]:
    with PairStore(tmp_path / "pairs.sqlite3") as opened:
        yield opened


def test_the_same_text_makes_the_same_pair_so_a_rerun_adds_nothing(store: PairStore) -> None:
    assert store.add([exchange("q", "a")]) == [exchange("q", "a").id]
    assert store.add([exchange("q", "a")]) == []
    assert len(store.list()) == 1


def test_pairs_survive_reopening_with_their_provenance(tmp_path: Path) -> None:
    with PairStore(tmp_path / "p.sqlite3") as store:
        store.add([exchange("Где лодка?", "В Риге.", language="ru", scores={"judge": 0.9})])
    with PairStore(tmp_path / "p.sqlite3") as store:
        [pair] = store.list()
    assert pair.messages[0] == {"role": "user", "content": "Где лодка?"}
    assert (pair.language, pair.status, pair.scores) == ("ru", "pending", {"judge": 0.9})
    assert pair.created > 0


def test_replace_note_stales_only_pairs_whose_text_is_gone(store: PairStore) -> None:
    kept, changed = exchange("q1", "a1"), exchange("q2", "a2")
    store.replace_note("Chats/a.md", "h1", [kept, changed], DIALOGUE)
    store.set_status([kept.id], "approved")
    new = exchange("q2", "a2 revised", content_hash="h2")
    update = store.replace_note("Chats/a.md", "h2", [kept, new], DIALOGUE)
    assert (update.added, update.staled) == ([new.id], 1)
    assert store.get(changed.id).status == "stale"
    assert store.get(kept.id).status == "approved"
    assert store.distilled_hashes("Chats/a.md") == {"dialogue": "h2"}


def test_a_stale_pair_whose_text_comes_back_is_pending_again(store: PairStore) -> None:
    pair = exchange("q", "a")
    store.replace_note("Chats/a.md", "h1", [pair], DIALOGUE)
    store.replace_note("Chats/a.md", "h2", [], DIALOGUE)
    update = store.replace_note("Chats/a.md", "h1", [pair], DIALOGUE)
    assert update.revived == [pair.id]
    assert store.get(pair.id).status == "pending"


def test_edit_keeps_the_old_messages_in_the_history(store: PairStore) -> None:
    pair = exchange("q", "a")
    store.add([pair])
    new = [{"role": "user", "content": "q?"}, {"role": "assistant", "content": "better"}]
    edited = store.edit(pair.id[:6], new, editor="anna")
    assert (edited.status, edited.messages) == ("edited", new)
    [entry] = store.history(pair.id)
    assert (entry.editor, entry.old_messages) == ("anna", pair.messages)


def test_edit_refuses_messages_that_are_not_a_conversation(store: PairStore) -> None:
    pair = exchange("q", "a")
    store.add([pair])
    with pytest.raises(ConfigError, match="assistant"):
        store.edit(pair.id, [{"role": "user", "content": "only a question"}], editor="anna")
    assert store.get(pair.id).messages == pair.messages


def test_filters_and_bulk_status(store: PairStore) -> None:
    store.add(
        [
            exchange("q1", "a1", note="Chats/a.md", language="ru"),
            exchange("q2", "a2", note="Chats/b.md", language="en", scores={"g": 0.4}),
            exchange("q3", "a3", note="Journal/c.md", language="ru", scores={"g": 0.9}),
        ]
    )
    russian = store.list(PairFilter(language=("ru",)))
    assert store.set_status([p.id for p in russian], "approved") == 2
    assert [p.note_path for p in store.list(PairFilter(status=("approved",)))] == [
        "Chats/a.md",
        "Journal/c.md",
    ]
    assert len(store.list(PairFilter(note="Chats"))) == 2
    assert len(store.list(PairFilter(note="Chat"))) == 0
    assert [p.note_path for p in store.list(PairFilter(min_score=0.5))] == ["Journal/c.md"]
    assert store.counts()["status"] == {"approved": 2, "pending": 1}
    assert store.counts()["language"] == {"ru": 2, "en": 1}


def test_unknown_status_and_unknown_id_are_clear_errors(store: PairStore) -> None:
    with pytest.raises(ConfigError, match="unknown status"):
        store.set_status(["x"], "great")
    with pytest.raises(ConfigError, match="no pair"):
        store.get("nope")


def test_a_source_records_only_itself_and_stales_only_its_own_pairs(store: PairStore) -> None:
    said = exchange("q", "a")
    store.replace_note("Chats/a.md", "h1", [said], DIALOGUE)
    fact = exchange("When?", "1990", source="fact", fact="f1")
    store.replace_note("Chats/a.md", "h1", [fact], ("fact", "link"))
    assert store.distilled_hashes("Chats/a.md") == {"dialogue": "h1", "fact": "h1", "link": "h1"}
    store.replace_note("Chats/a.md", "h2", [], ("fact",))
    assert store.get(said.id).status == "pending" and store.get(fact.id).status == "stale"
    assert store.distilled_hashes("Chats/a.md")["fact"] == "h2"
    store.forget_note("Chats/a.md")
    assert store.distilled_hashes("Chats/a.md") == {} and store.distilled_paths() == set()


def test_a_store_made_before_per_source_records_keeps_working(tmp_path: Path) -> None:
    path = tmp_path / "pairs.sqlite3"
    with sqlite3.connect(path) as db:
        apply_migrations(db, MIGRATIONS[:1])  # the store as the first release made it
        old = [
            ("Chats/a.md", "h1", "dialogue"),  # a chat distilled by a dialogue run
            ("People/b.md", "h2", "fact"),  # a note a full run made fact pairs of
            ("People/b.md", "h0", "link"),  # a pair of an older text of it
        ]
        for note, content, source in old:
            db.execute(
                "INSERT INTO pairs VALUES (?, '[]', ?, '', ?, ?, 'm', 'v', 'en', 'pending', 0, "
                "'{}', NULL, 1, 1)",
                (f"{note}-{source}", note, content, source),
            )
        db.executemany(
            "INSERT INTO distilled_notes VALUES (?, ?, 1)",
            [("Chats/a.md", "h1"), ("People/b.md", "h2"), ("Journal/c.md", "h3")],
        )
    with PairStore(path) as store:
        assert store.distilled_hashes("Chats/a.md") == {"dialogue": "h1"}
        assert store.distilled_hashes("People/b.md") == {"fact": "h2"}
        # no pairs at all: most likely a dialogue run over a note without a transcript
        assert store.distilled_hashes("Journal/c.md") == {"dialogue": "h3"}
        assert {p.fact for p in store.list()} == {""} and len(store.list()) == 3


def test_held_out_lists_the_live_held_out_questions_of_a_language(store: PairStore) -> None:
    def question(text: str, language: str, **rest: object) -> Pair:
        return exchange(text, "1990", source="fact", language=language, fact="f1", **rest)

    trained = question("When was she born?", "en")
    english = question("Her year of birth?", "en", held_out=True)
    russian = question("Год рождения?", "ru", held_out=True)
    rejected = question("Когда?", "ru", held_out=True, status="rejected")
    stale = question("Год?", "ru", held_out=True, status="stale")
    store.add([trained, english, russian, rejected, stale])
    assert [p.id for p in store.held_out("ru")] == [russian.id]
    assert {p.id for p in store.held_out()} == {english.id, russian.id}
    assert store.list(PairFilter(fact=russian.fact, held_out=False)) == [store.get(trained.id)]


def test_a_garbled_pair_store_is_named_in_one_line_with_the_first_finding(
    tmp_path: Path,
) -> None:
    path = tmp_path / "pairs.sqlite3"
    with PairStore(path) as made:
        made.add([exchange(f"Question {n}?", f"Answer {n}. " * 20) for n in range(800)])
    data = bytearray(path.read_bytes())
    noise = random.Random(0)
    for page in range(2, len(data) // 4096):  # one wrong byte in every page: many findings
        data[page * 4096 + noise.randrange(8, 4096)] = noise.randrange(256)
    path.write_bytes(bytes(data))

    with pytest.raises(StoreError) as damaged:
        PairStore(path)

    message = str(damaged.value)
    assert "\n" not in message, message  # was the whole quick_check dump, 101 lines
    assert "pairs.sqlite3 is damaged (quick_check: " in message
    assert "***" not in message and "findings in all" in message
