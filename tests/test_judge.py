"""The groundedness judge: words of the answer in the source, and the LLM's verdict."""

from __future__ import annotations

from factories import qa_pair

from distill.generation import Generator
from distill.judge import Judge, lexical_support
from distill.pairs import Pair
from distill.scripted import ScriptedLLM

SOURCE = "Anna was born on 17 March 1990 and works as an architect in Riga."


def pair(answer: str) -> Pair:
    return qa_pair(
        "When was Anna born?",
        answer,
        note="People/Anna.md",
        generator="scripted",
        prompt_version="facts-1",
    )


def test_an_answer_from_the_source_is_supported_an_invented_one_is_not() -> None:
    assert lexical_support("Born on 17 March 1990.", SOURCE) == 1.0
    assert lexical_support("She is a surgeon in Tallinn since 2001.", SOURCE) < 0.5
    assert lexical_support("Анна родилась в Риге", "Анна родилась 17 марта в Риге.") == 1.0


def test_ungrounded_pairs_are_rejected_and_counted() -> None:
    judge = Judge(min_lexical=0.5, min_judge=0.5)
    kept = judge(pair("17 March 1990"), SOURCE)
    assert kept.status == "pending" and kept.scores == {"lexical": 1.0}
    dropped = judge(pair("In Tallinn, 2001, as a surgeon"), SOURCE)
    assert dropped.status == "rejected" and judge.rejected == 1


def test_the_llm_judge_can_reject_what_the_words_let_through() -> None:
    llm = ScriptedLLM(replies=['{"grounded": false, "score": 0.9}'])
    generator = Generator(lambda: llm, model="scripted", structured=False)
    judge = Judge(min_lexical=0.5, min_judge=0.5, generator=generator)
    judged = judge(pair("Anna was born in Riga"), SOURCE)
    assert judged.status == "rejected" and judged.scores["judge"] == 0.0
    assert "Anna was born in Riga" in llm.prompts[0] and SOURCE in llm.prompts[0]


def test_a_translated_answer_is_checked_by_its_numbers_and_names() -> None:
    assert lexical_support("Анна родилась 17 марта 1990 года.", SOURCE) == 1.0
    assert lexical_support("Анна родилась 18 марта 1991 года.", SOURCE) == 0.0
    assert lexical_support("Она архитектор в Riga.", SOURCE) == 1.0
    assert lexical_support("Она архитектор в Tallinn.", SOURCE) == 0.0
