"""The LLM pair sources in a run, with the scripted fake LLM (the real one: integration).

One scripted reply serves every prompt: it holds the keys each source reads.
"""

from __future__ import annotations

from typing import Any

import pytest
from factories import reply

from distill.pairs import Pair, PairFilter, PairStore
from distill.pipeline import distill, source_names
from distill.scripted import ScriptedLLM
from distill.selection import Selection
from distill.sources.abstention import NOT_IN_NOTES
from overlay.config import Settings
from overlay.errors import ConfigError

ANNA = """# Anna

## Basics

Anna was born on 17 March 1990 and works as an architect in Riga.
Her brother is [[Dima]], a sailor.
"""
DIMA = "# Dima\n\nDima signed a new contract and is at sea until June on a cargo ship.\n"


@pytest.fixture
def settings(make_vault: Any, make_settings: Any) -> Settings:
    vault = make_vault({"People/Anna.md": ANNA, "People/Dima.md": DIMA})
    settings: Settings = make_settings(vault)
    return settings


def pairs(settings: Settings, **where: Any) -> list[Pair]:
    with PairStore.from_settings(settings) as store:
        return store.list(PairFilter(**where))


def test_every_source_makes_pairs_with_their_provenance(settings: Settings) -> None:
    report = distill(settings, Selection(), llm=ScriptedLLM(replies=[reply()]))
    facts = pairs(settings, source=("fact",), note="People/Anna.md")
    assert len(facts) == 6  # the paraphrases of one fact share its answer: none is dropped
    answers = {p.language: p.messages[1]["content"] for p in facts}
    assert answers == {"en": "17 March 1990", "ru": "17 марта 1990 года"}
    assert sorted(p.language for p in facts if p.held_out) == ["en", "ru"]
    assert len({p.fact for p in facts}) == 1 and facts[0].fact
    assert all(p.prompt_version == "facts-2" and p.heading == "Anna > Basics" for p in facts)
    assert all(p.generator == "smollm2-135m-instruct" for p in facts)
    assert all(p.scores["lexical"] == 1.0 and p.status == "pending" for p in facts)
    link = pairs(settings, source=("link",))
    assert len(link) == 1 and link[0].note_path == "People/Anna.md"
    assert link[0].heading == "People/Dima.md"
    abstention = pairs(settings, source=("abstention",))
    assert {p.messages[1]["content"] for p in abstention} == {NOT_IN_NOTES}
    assert report.llm_calls > 0 and report.tokens_generated > 0
    assert "LLM calls" in report.summary()


def test_answers_not_in_their_section_are_rejected_and_counted(
    make_vault: Any, make_settings: Any
) -> None:
    settings = make_settings(make_vault({"People/Dima.md": DIMA}))
    report = distill(settings, Selection(), llm=ScriptedLLM(replies=[reply()]))
    dima = pairs(settings, source=("fact",), note="People/Dima.md")
    assert dima and all(p.status == "rejected" for p in dima)
    assert report.judge_rejected == len(dima)


def test_near_duplicates_are_dropped_before_judging_so_rejections_add_up(
    make_vault: Any, make_settings: Any
) -> None:
    vault = make_vault({"People/Dima.md": DIMA, "Crew/Dima again.md": DIMA})
    settings = make_settings(vault)
    report = distill(settings, Selection(), sources=["fact"], llm=ScriptedLLM(replies=[reply()]))
    stored = pairs(settings, source=("fact",))
    assert report.duplicates_dropped == 6  # the second copy's questions, none of them judged
    assert {p.note_path for p in stored} == {"Crew/Dima again.md"}  # sorted first, kept
    assert report.judge_rejected == len(stored) == report.added_by_status["rejected"] == 6


def test_a_failing_generator_is_recorded_and_the_run_goes_on(settings: Settings) -> None:
    llm = ScriptedLLM(replies=["I'd rather not."])
    report = distill(settings, Selection(), sources=["fact", "link", "abstention"], llm=llm)
    assert report.pairs_added == 0 and report.notes_distilled == 2
    assert any("People/Anna.md" in reason for reason in report.generation_failures)


def test_a_run_stales_only_the_kinds_it_made_again(settings: Settings) -> None:
    distill(settings, Selection(), llm=ScriptedLLM(replies=[reply()]))
    before = {p.source for p in pairs(settings, status=("pending", "rejected"))}
    changed = ScriptedLLM(replies=[reply("born 17 March 1990", "родилась 17 марта 1990")])
    distill(settings, Selection(everything=True), sources=["facts"], llm=changed)
    stale = pairs(settings, status=("stale",))
    assert stale and {p.source for p in stale} == {"fact"}
    assert {p.source for p in pairs(settings, status=("pending", "rejected"))} == before


def test_held_out_questions_come_one_per_fact_and_language_with_their_reference(
    settings: Settings,
) -> None:
    distill(settings, Selection(), sources=["fact"], llm=ScriptedLLM(replies=[reply()]))
    with PairStore.from_settings(settings) as store:
        [russian] = store.held_out("ru")
        [english] = store.held_out("en")
        trained = store.list(PairFilter(fact=russian.fact, held_out=False))
    assert russian.messages == [
        {"role": "user", "content": "Дата рождения?"},
        {"role": "assistant", "content": "17 марта 1990 года"},
    ]
    assert english.fact == russian.fact and english.messages[0]["content"] == "Anna's birth date?"
    assert sorted(p.language for p in trained) == ["en", "en", "ru", "ru"]


def test_a_question_or_answer_not_in_its_language_is_dropped_and_recorded(
    settings: Settings,
) -> None:
    english_for_russian = reply(answer_ru="17 March 1990")
    report = distill(
        settings, Selection(), sources=["fact"], llm=ScriptedLLM(replies=[english_for_russian])
    )
    assert {p.language for p in pairs(settings, source=("fact",))} == {"en"}
    rejected = report.quality_rejections  # one per note: the script answers both alike
    assert {r.check for r in rejected} == {"language"} and len(rejected) == 2
    assert all("the Russian answer is not in Russian" in r.detail for r in rejected)
    assert not report.generation_failures  # the model answered; the check threw it out
    assert "rejected by the quality checks: 2 (not in its language 2)" in report.summary()
    mixed = reply(questions_ru=("Когда родилась Анна?", "When is Anna's birthday?"))
    report = distill(
        settings, Selection(everything=True), sources=["fact"], llm=ScriptedLLM(replies=[mixed])
    )
    russian = pairs(settings, source=("fact",), language=("ru",), status=("pending",))
    assert [p.messages[0]["content"] for p in russian] == ["Когда родилась Анна?"]
    assert not russian[0].held_out  # the only Russian question is trained on
    assert {r.check for r in report.quality_rejections} == {"language"}
    details = [r.detail for r in report.quality_rejections]
    assert any('not in Russian: "When is Anna\'s birthday?"' in d for d in details)


def test_a_near_identical_question_is_dropped_its_paraphrases_are_not(settings: Settings) -> None:
    repeated = reply(
        questions_en=("When was Anna born?", "What is Anna's birthday?", "when was Anna born?!")
    )
    report = distill(settings, Selection(), sources=["fact"], llm=ScriptedLLM(replies=[repeated]))
    english = pairs(settings, source=("fact",), language=("en",), note="People/Anna.md")
    assert [p.messages[0]["content"] for p in english] == [
        "When was Anna born?",
        "What is Anna's birthday?",
    ]
    # and all six of Dima's: the script asks Anna's questions with Anna's answers there too
    assert report.duplicates_dropped == 1 + 6


def test_each_source_remembers_what_it_distilled(settings: Settings) -> None:
    distill(settings, Selection(), sources=["dialogue"])
    first = distill(settings, Selection(), sources=["fact"], llm=ScriptedLLM(replies=[reply()]))
    assert first.notes_distilled == 2 and first.added_by_source["fact"] > 0
    again = distill(settings, Selection(), sources=["fact"], llm=ScriptedLLM(replies=[reply()]))
    assert (again.llm_calls, again.pairs_added, again.notes_unchanged) == (0, 0, 2)
    anna = settings.require_vault() / "People/Anna.md"
    anna.write_text(ANNA.replace("17 March 1990", "18 March 1990"), encoding="utf-8")
    edited = reply("18 March 1990", "18 марта 1990 года")
    report = distill(settings, Selection(), sources=["fact"], llm=ScriptedLLM(replies=[edited]))
    assert (report.notes_distilled, report.notes_unchanged) == (1, 1)
    stale = pairs(settings, status=("stale",))
    assert stale and {(p.note_path, p.source) for p in stale} == {("People/Anna.md", "fact")}
    assert {
        p.messages[1]["content"]
        for p in pairs(settings, note="People/Anna.md", status=("pending",))
    } == {"18 March 1990", "18 марта 1990 года"}
    dialogue = distill(settings, Selection(), sources=["dialogue"])
    assert (dialogue.notes_distilled, dialogue.notes_unchanged) == (1, 1)


def test_links_written_as_an_alias_are_followed(make_vault: Any, make_settings: Any) -> None:
    anna = ANNA.replace("[[Dima]]", "[[Dimka]]")
    dima = "---\naliases: [Dimka]\n---\n" + DIMA
    settings = make_settings(make_vault({"People/Anna.md": anna, "Crew/Dima.md": dima}))
    distill(settings, Selection(), sources=["link"], llm=ScriptedLLM(replies=[reply()]))
    [link] = pairs(settings, source=("link",))
    assert (link.note_path, link.heading) == ("People/Anna.md", "Crew/Dima.md")


def test_abstention_questions_that_the_vault_answers_are_dropped(settings: Settings) -> None:
    asked = reply(
        questions=(
            "Where does Anna work as an architect?",  # her note says so
            "Until when is Dima at sea?",  # Dima's note says so
            "What is Anna's favourite film?",
        )
    )
    report = distill(
        settings, Selection(), sources=["abstention"], llm=ScriptedLLM(replies=[asked])
    )
    [kept] = pairs(settings, source=("abstention",))
    assert kept.messages[0]["content"] == "What is Anna's favourite film?"
    assert {r.check for r in report.quality_rejections} == {"answered"}
    details = [r.detail for r in report.quality_rejections]
    assert any("People/Anna.md answers 'Where does Anna work" in d for d in details)
    assert any("People/Dima.md answers 'Until when is Dima" in d for d in details)
    assert not report.generation_failures
    assert "abstention question the vault answers" in report.summary()


def test_a_dialogue_only_run_never_makes_the_model(settings: Settings) -> None:
    report = distill(settings, Selection(), sources=["dialogue"])
    assert report.llm_calls == 0 and "no model called" in report.summary()


def test_the_abstention_answer_is_the_chats_own() -> None:
    from overlay.core.chat import NOT_IN_NOTES as CHAT_NOT_IN_NOTES

    assert NOT_IN_NOTES == CHAT_NOT_IN_NOTES


def test_sources_are_named_as_the_pair_kinds_plurals_too() -> None:
    assert source_names(["abstention", "facts", "dialogue"]) == ("dialogue", "fact", "abstention")
    with pytest.raises(ConfigError, match="unknown pair source 'summaries'"):
        source_names(["summaries"])
