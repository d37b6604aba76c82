"""The LLM pair sources in a run, with the scripted fake LLM (the real one: integration).

One scripted reply serves every prompt: it holds the keys each source reads.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from distill.pairs import Pair, PairFilter, PairStore
from distill.run import distill, source_names
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


def reply(answer: str = "17 March 1990") -> str:
    fact = {
        "fact": "Anna was born on 17 March 1990.",
        "questions_en": ["When was Anna born?", "What is Anna's birthday?", "Anna's birth date?"],
        "questions_ru": ["Когда родилась Анна?", "Какой день рождения у Анны?", "Дата рождения?"],
        "answer": answer,
    }
    return json.dumps(
        {
            "facts": [fact],
            "question": "What does Anna's brother do?",
            "answer": "Dima is a sailor at sea until June.",
            "questions": ["What is Anna's favourite film?"],
            "grounded": True,
            "score": 1.0,
        }
    )


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
    assert {p.language for p in facts} == {"en", "ru"} and len(facts) == 6
    assert [p.messages[1]["content"] for p in facts] == ["17 March 1990"] * 6
    assert sum(p.held_out for p in facts) == 2  # one per language
    assert all(p.prompt_version == "facts-1" and p.heading == "Anna > Basics" for p in facts)
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


def test_a_failing_generator_is_recorded_and_the_run_goes_on(settings: Settings) -> None:
    report = distill(settings, Selection(), llm=ScriptedLLM(replies=["I'd rather not."]))
    assert report.pairs_added == 0 and report.notes_distilled == 2
    assert any("People/Anna.md" in reason for reason in report.generation_failures)


def test_a_run_stales_only_the_kinds_it_made_again(settings: Settings) -> None:
    distill(settings, Selection(), llm=ScriptedLLM(replies=[reply()]))
    before = {p.source for p in pairs(settings, status=("pending", "rejected"))}
    changed = ScriptedLLM(replies=[reply("born 17 March 1990")])
    distill(settings, Selection(everything=True), sources=["facts"], llm=changed)
    stale = pairs(settings, status=("stale",))
    assert stale and {p.source for p in stale} == {"fact"}
    assert {p.source for p in pairs(settings, status=("pending", "rejected"))} == before


def test_a_dialogue_only_run_never_makes_the_model(settings: Settings) -> None:
    report = distill(settings, Selection(), sources=["dialogue"])
    assert report.llm_calls == 0 and "no model called" in report.summary()


def test_the_abstention_answer_is_the_chats_own() -> None:
    from overlay.chat import NOT_IN_NOTES as CHAT_NOT_IN_NOTES

    assert NOT_IN_NOTES == CHAT_NOT_IN_NOTES


def test_sources_are_named_as_the_pair_kinds_plurals_too() -> None:
    assert source_names(["abstention", "facts", "dialogue"]) == ("dialogue", "fact", "abstention")
    with pytest.raises(ConfigError, match="unknown pair source 'summaries'"):
        source_names(["summaries"])
