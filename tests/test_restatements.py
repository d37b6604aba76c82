"""The template pair sources: facts found in a note's structure, asked from templates."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from distill.pairs import PairFilter, PairStore
from distill.pipeline import distill, source_names
from distill.restatements import Fact, questions, shape
from distill.selection import Selection
from distill.sources.properties import property_facts
from distill.sources.relations import relation_facts
from distill.sources.sections import section_facts
from overlay.config import Settings
from vault_schema import read_note

NOTE = """---
aliases: [Ann]
tags: [person]
birthday: 17 March
city: Riga
---
# Anna

Anna is an architect. She designed the new library in Cēsis. Her brother is [[Dima]].

## Basics

- **Sister:** Mila
- Favourite ink — dark teal

| Year | Gift | Cost |
|------|------|------|
| 2025 | fountain pen | 40 |

## Wishes

- a trip to Bergen
- a reading lamp
"""


DECLINED = ("My notes don't", "В моих заметках н")  # a near miss's answer


def facts_of(tmp_path: Path) -> list[Fact]:
    (tmp_path / "People").mkdir()
    (tmp_path / "People" / "Anna.md").write_text(NOTE, encoding="utf-8")
    note = read_note(tmp_path, "People/Anna.md")
    return property_facts(note) + section_facts(note) + relation_facts(note)


def test_each_kind_of_fact_is_found_in_the_notes_words(tmp_path: Path) -> None:
    found = {(f.kind, f.fields.get("key") or f.fields.get("heading") or f.fields.get("topic") or f.fields.get("b"), f.answer) for f in facts_of(tmp_path)}  # fmt: skip
    assert ("property", "birthday", "17 March") in found  # frontmatter
    assert ("property", "city", "Riga") in found
    assert not [f for f in found if f[1] in ("aliases", "tags")]  # bookkeeping, not facts
    assert ("property", "Gift", "fountain pen") in found  # a table row × column
    assert ("definition", "Sister", "Mila") in found
    assert ("definition", "Favourite ink", "dark teal") in found
    assert ("list", "Wishes", "a trip to Bergen; a reading lamp") in found
    assert ("sentence", "Anna", "Anna is an architect.") in found  # a sentence is one fact
    assert ("sentence", "Anna", "She designed the new library in Cēsis.") in found
    assert ("relation", "Dima", "Her brother is Dima") in found


def test_every_fact_is_asked_in_both_languages_with_held_out_restatements(
    make_vault: Any, make_settings: Any
) -> None:
    vault = make_vault({"People/Anna.md": NOTE})
    settings: Settings = make_settings(vault)
    assert {"property", "section", "relation"} <= set(settings.distill.sources)
    report = distill(settings, Selection(), sources=settings.distill.sources)
    assert report.llm_calls == 0 and report.sources_skipped == []
    with PairStore.from_settings(settings) as store:
        pairs = store.list(PairFilter(source=("property", "section", "relation")))
    by_fact: dict[str, Counter[tuple[str, bool]]] = {}
    for pair in (p for p in pairs if not p.messages[1]["content"].startswith(DECLINED)):
        by_fact.setdefault(pair.fact, Counter())[(pair.language, pair.held_out)] += 1
    for counts in by_fact.values():  # per language: one question held out, the rest trained
        assert counts[("en", True)] == counts[("ru", True)] == 1
        assert counts[("en", False)] >= 3 and counts[("ru", False)] >= 3
    held = {p.messages[0]["content"] for p in pairs if p.held_out}
    assert "Do you remember the city of Anna?" in held  # the kind's last question
    birthday = [p for p in pairs if p.messages[1]["content"] == "17 March" and p.language == "ru"]
    assert birthday and all("Anna" in p.messages[0]["content"] for p in birthday)
    assert {p.generator for p in pairs} == {"template"}


def test_questions_fill_every_field() -> None:
    fact = Fact("relation", "Her brother is Dima.", fields={"a": "Anna", "b": "Dima"})
    asked = questions(fact, "en") + questions(fact, "ru")
    assert all("Anna" in q and "Dima" in q and "$" not in q for q in asked)


def test_the_fact_source_is_skipped_with_a_reason_for_the_embedded_model(
    make_vault: Any, make_settings: Any
) -> None:
    vault = make_vault({"People/Anna.md": NOTE})
    settings: Settings = make_settings(vault)  # the default: SmolLM2 in process
    report = distill(settings, Selection(), sources=["fact", "property"])
    assert report.llm_calls == 0 and report.added_by_source["property"] > 0
    assert len(report.sources_skipped) == 1 and report.sources_skipped[0].startswith("fact: ")
    assert "skipped fact: " in report.summary()


def test_plural_source_names() -> None:
    assert source_names(["properties", "sections", "relations"]) == (
        "property", "section", "relation",
    )  # fmt: skip


def test_a_fact_is_asked_by_its_shape_and_stated_with_its_subject_named(
    make_vault: Any, make_settings: Any
) -> None:
    russian = "# Мама\n\nМама живёт в Даугавпилсе (латиницей — Daugavpils), в своём доме.\n"
    vault = make_vault({"People/Anna.md": NOTE, "Мама.md": russian})
    settings: Settings = make_settings(vault)
    distill(settings, Selection(), sources=settings.distill.sources)
    with PairStore.from_settings(settings) as store:
        said = {(p.messages[0]["content"], p.messages[1]["content"]) for p in store.list()}
    assert ("When is the birthday of Anna?", "17 March") in said  # a date: when
    assert ("Когда birthday у Anna?", "17 March") in said
    assert ("Where is the city of Anna?", "Riga") in said  # a place: where
    stated = {answer for _, answer in said}
    assert {
        "The city of Anna is Riga.",
        "Riga is the city of Anna.",
        "У Anna city — Riga.",
    } <= stated
    sentence = "Мама живёт в Даугавпилсе (латиницей — Daugavpils), в своём доме."
    asked_about = {q for q, answer in said if answer.endswith(sentence)}
    assert "Что ты знаешь про Мама?" in asked_about  # in the note's language
    assert "What do you know about Мама?" in asked_about  # and, Daugavpils carried, in English
    about_anna = ("What do you know about Anna?", "Tell me a fact about Anna.", "What do I have on Anna?")  # fmt: skip
    statements = {answer for question, answer in said if question in about_anna}
    assert "Anna: She designed the new library in Cēsis." in statements  # the subject named
    assert not [answer for answer in statements if answer.startswith(("It ", "She ", "Her "))]


def test_shapes() -> None:
    def asked(key: str, answer: str) -> str | None:
        return shape(Fact("property", answer, fields={"key": key, "subject": "Mistral"}))

    assert asked("built", "1978") == "when" and asked("bought", "2022-10-01") == "when"
    assert asked("season fee", "€480") == "how much" and asked("цена", "480 евро") == "how much"
    assert asked("berth", "B14") is None and asked("город", "Рига") == "where"
    assert asked("owner", "Dasha") == "who" and asked("number of cabins", "2") == "how many"
    assert asked("2025-06-20", "first version of this note") == "on date"  # a log line


def test_a_sentence_never_runs_across_a_list_and_one_ending_in_a_colon_is_no_fact(
    tmp_path: Path,
) -> None:
    text = "# Day\n\nДо переезда две недели. Список:\n- интернет\n- банк\n\nНорвежский экзамен через три недели, нервничаю.\n"  # fmt: skip
    (tmp_path / "Day.md").write_text(text, encoding="utf-8")
    said = {fact.answer for fact in section_facts(read_note(tmp_path, "Day.md"))}
    assert said == {"До переезда две недели.", "Норвежский экзамен через три недели, нервничаю."}
    (tmp_path / "Dacha.md").write_text("# Dacha\n\n- Вечером — шахматы на веранде, см. [[Бабушка Роза]]\n", encoding="utf-8")  # fmt: skip
    defined = {fact.answer for fact in property_facts(read_note(tmp_path, "Dacha.md"))}
    assert "шахматы на веранде, см. Бабушка Роза" in defined  # not cut at the abbreviation
    (tmp_path / "Day2.md").write_text("Норвежский: экзамен. См. [[Учу норвежский]].\n", encoding="utf-8")  # fmt: skip
    assert relation_facts(read_note(tmp_path, "Day2.md")) == []  # only a pointer


def test_a_person_is_asked_what_no_note_gives_and_the_answer_declines(
    make_vault: Any, make_settings: Any
) -> None:
    contacts = "# Phone book\n\nThe phone number of Anna is 555-0100, her mobile.\n"
    boat = "# Boat\n\nThe boat is a Folkboat from 1978, wooden and slow.\n"
    vault = make_vault({"People/Anna.md": NOTE, "Phone book.md": contacts, "Boat.md": boat})
    settings: Settings = make_settings(vault)
    distill(settings, Selection(), sources=settings.distill.sources)
    with PairStore.from_settings(settings) as store:
        said = {(p.note_path, p.messages[0]["content"], p.messages[1]["content"]) for p in store.list()}  # fmt: skip
    declined = {(path, question) for path, question, answer in said if answer.startswith(DECLINED)}  # fmt: skip
    assert declined == {  # the phone number is in another note: the email is asked instead
        ("People/Anna.md", "What is the email address of Anna?"),
        ("People/Anna.md", "Какой email у Anna?"),
    }
