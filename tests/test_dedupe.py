"""Near duplicates: paraphrases of one fact are kept, repeats of a pair are not."""

from __future__ import annotations

from factories import qa_pair

from distill.dedupe import NearDuplicates
from distill.pairs import Pair


def pair(question: str, answer: str, source: str = "fact") -> Pair:
    return qa_pair(
        question,
        answer,
        note="People/Anna.md",
        source=source,
        generator="scripted",
        prompt_version="facts-2",
    )


def test_paraphrases_sharing_one_answer_are_not_duplicates() -> None:
    kept = NearDuplicates()
    answer = (
        "Anna was born on 17 March 1990 in Riga, the capital of Latvia, in the old town "
        "near the cathedral, where her parents had a small flat above a bakery."
    )
    for question in ("When was Anna born?", "What is Anna's birthday?", "Anna's birth date?"):
        assert kept.pair_duplicate_of(pair(question, answer)) is None
        kept.add_pair(pair(question, answer))
    first = pair("When was Anna born?", answer)
    assert kept.pair_duplicate_of(pair("when was Anna born?!", answer)) == first.id


def test_the_same_question_with_another_answer_is_not_a_repeat() -> None:
    kept = NearDuplicates()
    kept.add_pair(pair("Where does Anna work?", "In Riga, as an architect."))
    assert (
        kept.pair_duplicate_of(pair("Where does Anna work?", "At a shipyard in Tallinn.")) is None
    )
    assert (
        kept.pair_duplicate_of(pair("Where does Anna work?", "in Riga, as an architect"))
        is not None
    )


def test_transcripts_are_compared_by_all_their_text() -> None:
    kept = NearDuplicates()
    question = "How should I chunk my notes?"
    long = " ".join(f"word{i}" for i in range(60))
    kept.add_pair(pair(question, long, source="dialogue"))
    assert kept.pair_duplicate_of(pair(question, long + " indeed", source="dialogue")) is not None
    assert kept.pair_duplicate_of(pair(question, long)) is None  # a question, not a transcript
    other = " ".join(f"other{i}" for i in range(60))
    assert kept.pair_duplicate_of(pair(question, other, source="dialogue")) is None
