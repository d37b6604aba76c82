"""Natural questions: the blind dev set's file, its scoring rule, recall per language."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distill.natural_questions import (
    NaturalQuestion,
    is_correct,
    load_questions,
    natural_metrics,
)
from overlay.errors import ConfigError

DEV_SET = Path(__file__).parents[1] / "benchmarks" / "dev_sets" / "personal-vault-b"


def test_the_blind_dev_set_loads_one_russian_and_one_english_question_per_fact() -> None:
    questions = load_questions(DEV_SET / "memory.json")

    assert len(questions) == 112
    assert sum(q.language == "ru" for q in questions) == sum(q.language == "en" for q in questions)
    assert len({q.fact for q in questions}) == 56
    assert questions[1] == NaturalQuestion("What year was my mother born?", "en", ("1962",), "f01")


@pytest.mark.parametrize(
    ("answer", "correct"),
    [
        ("She lives in Daugavpils.", True),
        ("Мама живёт в Даугавпилсе.", True),  # an accepted string inside an inflected word
        ("DAUGAVPILS", True),
        ("She lives in Riga.", False),
        ("", False),
    ],
)
def test_an_answer_is_right_when_it_contains_an_accepted_string(answer: str, correct: bool) -> None:
    assert is_correct(answer, ["Даугавпилс", "Daugavpils"]) is correct


def test_recall_is_counted_per_language_and_per_model() -> None:
    questions = [
        NaturalQuestion("Когда?", "ru", ("1962",)),
        NaturalQuestion("When?", "en", ("1962",)),
        NaturalQuestion("Where?", "en", ("Riga",)),
    ]
    rows = [
        {"language": "ru", "base_recalled": False, "adapter_recalled": True},
        {"language": "en", "base_recalled": False, "adapter_recalled": True},
        {"language": "en", "base_recalled": True, "adapter_recalled": False},
    ]

    metrics = natural_metrics(questions, rows, ["base", "adapter"])

    assert (metrics["natural_questions_ru"], metrics["natural_questions_en"]) == (1, 2)
    assert metrics["natural_recall_adapter_ru"] == 1.0
    assert metrics["natural_recall_adapter_en"] == 0.5
    assert metrics["natural_recall_base"] == round(1 / 3, 4)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("not json", "cannot read the question file"),
        ('{"q": "x"}', "expected a JSON list"),
        ('[{"q": "Where?", "answer": []}]', "'answer' must list the accepted strings"),
        ('[{"answer": ["Riga"]}]', "no question text"),
    ],
)
def test_a_bad_question_file_is_a_clear_error(tmp_path: Path, content: str, says: str) -> None:
    path = tmp_path / "questions.json"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(ConfigError, match=says):
        load_questions(path)


def test_a_missing_question_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the question file"):
        load_questions(tmp_path / "nowhere.json")


def test_questions_round_trip_through_the_dev_set_format(tmp_path: Path) -> None:
    path = tmp_path / "q.json"
    path.write_text(
        json.dumps([{"q": " Какая машина у брата? ", "lang": "ru", "answer": ["V70", "Volvo"]}]),
        encoding="utf-8",
    )

    assert load_questions(path) == [
        NaturalQuestion("Какая машина у брата?", "ru", ("V70", "Volvo"))
    ]
