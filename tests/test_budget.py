"""The time a person waits: which pairs a run takes first, what fits in `train.max_minutes`,
progress under `--quiet`, and replay answers kept when a run is interrupted."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from factories import qa_pair

from distill.budget import fitting_count, minutes, run_seconds, run_steps
from distill.callbacks import TrainProgress
from distill.pairs import Pair
from distill.replay import ReplaySet
from distill.selection import Worth
from distill.training_data import by_worth, held_out_of
from overlay.cli.train import MinuteLines, summary
from overlay.config import TrainSettings
from overlay.core.model_files import resolve_model


def fact_pairs(note: str, fact: str, count: int, date: datetime | None = None) -> list[Pair]:
    return [
        qa_pair(
            f"{fact} question {n}?", f"{fact} answer {n}.", note=note, fact=fact, note_date=date
        )
        for n in range(count)
    ]


def test_pairs_of_notes_asked_about_come_first_then_newer_notes_each_fact_together() -> None:
    old = fact_pairs("Old.md", "old", 2, datetime(2020, 1, 1))
    new = fact_pairs("New.md", "new", 2, datetime(2025, 1, 1))
    asked = fact_pairs("Asked.md", "asked", 2, datetime(2019, 1, 1))
    mixed = [old[0], new[0], asked[0], old[1], new[1], asked[1]]

    ordered = by_worth(mixed, Worth(asked={"Asked.md": 1}, now=datetime(2025, 6, 1).timestamp()))

    assert [p.fact for p in ordered] == ["asked", "asked", "new", "new", "old", "old"]


def test_pairs_a_parent_run_trained_on_go_last() -> None:
    first, rest = fact_pairs("A.md", "a", 2), fact_pairs("B.md", "b", 2)

    ordered = by_worth([*first, *rest], Worth(), trained={p.id for p in first})

    assert ordered == [*rest, *first]


def test_steps_are_counted_as_the_trainer_counts_them() -> None:
    train = TrainSettings(batch_size=8, gradient_accumulation=2, epochs=3)

    assert run_steps(17, train) == 3 * 2  # 3 batches, 2 updates an epoch
    assert run_steps(8, train) == 3


def test_the_budget_takes_the_first_pairs_and_ends_at_a_facts_last_pair() -> None:
    train = TrainSettings(batch_size=4, epochs=2, replay_share=0.5)
    pairs = [p for n in range(10) for p in fact_pairs("A.md", f"f{n}", 3)]  # 30 pairs
    step = 10.0  # seconds
    # 10 pairs + 10 replay rows: 5 batches × 2 epochs = 10 steps = 100 s; 11 need 120 s
    budget = run_seconds(10, 0, train, step)

    count = fitting_count(pairs, [], train, step, budget)

    assert (budget, run_seconds(11, 0, train, step)) == (100.0, 120.0)
    assert count == 9  # 10 would cut the fourth fact: three whole facts
    assert fitting_count(pairs[:2] + pairs, [], train, step, budget) == 8
    assert fitting_count(pairs, [], train, step, budget=1.0) == 3  # never below one batch's fact
    assert fitting_count(pairs, [], train, step, budget=1e9) == 30


def test_only_the_trained_facts_held_out_pairs_are_evaluated_and_counted() -> None:
    train = TrainSettings(batch_size=4, epochs=1, replay_share=0.0)
    pairs = [p for n in range(4) for p in fact_pairs("A.md", f"f{n}", 4)]  # 16 pairs
    held = [p for n in range(4) for p in fact_pairs("A.md", f"f{n}", 8)]  # 8 a fact
    # the first two facts: 2 steps, and their 16 held-out pairs in 4 evaluation batches
    budget = 2 * 10.0 + 4 * 10.0 / 3

    assert held_out_of(held, pairs[:8]) == held[:16]
    assert fitting_count(pairs, held, train, 10.0, budget) == 8
    assert fitting_count(pairs, [], train, 10.0, budget) == 12  # no evaluations: 3 steps


def test_minutes_read_as_a_person_reads_them() -> None:
    assert (minutes(40), minutes(125), minutes(900)) == ("40 s", "2 min", "15 min")


def test_quiet_progress_is_a_line_a_minute_and_one_at_the_end(
    capsys: pytest.CaptureFixture[str],
) -> None:
    now = [0.0]
    lines = MinuteLines(clock=lambda: now[0])

    for step in range(1, 11):  # ten steps of 20 s
        now[0] = 20.0 * step
        lines(TrainProgress("train", step, 10, loss=1.0))

    said = capsys.readouterr().err.splitlines()
    assert said == [
        "training, loss 1.000: 1/10",
        "training, loss 1.000: 4/10",
        "training, loss 1.000: 7/10",
        "training, loss 1.000: 10/10",
    ]


def test_the_summary_gives_the_estimate_and_the_pairs_left_for_the_next_run(tmp_path: Path) -> None:
    from distill.runs import RunRegistry

    with RunRegistry(tmp_path / "runs.sqlite3", tmp_path / "runs") as registry:
        config = {"pairs": 80, "left_pairs": 900, "estimated_seconds": 600.0}
        run = registry.create(parent=None, data_hash="x", config=config)

    assert f"trained {run.id} in ? (estimated 10m 00s): 80 pairs" in summary(run)[0]
    assert (
        f"900 approved pairs did not fit in train.max_minutes and wait for the next run: "
        f"overlay train --parent {run.id}"
    ) in summary(run)


@pytest.mark.slow
def test_replay_answers_made_before_an_interrupt_are_kept(tmp_path: Path) -> None:
    base = resolve_model("smollm2-135m-instruct")
    prompts = [f"Name a colour, please ({n})." for n in range(10)]
    replay = ReplaySet(tmp_path / "general.jsonl", base, prompts, max_new_tokens=4)

    def interrupt(done: int, total: int) -> None:
        raise KeyboardInterrupt  # the person presses Ctrl-C after the first batch

    with pytest.raises(KeyboardInterrupt):
        replay.ensure(prompts, interrupt)

    assert set(replay.cached()) == set(prompts[:8])  # the first batch is on disk
    made: list[tuple[int, int]] = []
    replay.ensure(prompts, lambda done, total: made.append((done, total)))
    assert made == [(2, 2)]  # only the two missing answers are made
    assert set(replay.cached()) == set(prompts)


def test_auto_training_continues_a_run_that_left_pairs_for_the_next(tmp_path: Path) -> None:
    from distill.auto_training import continued_from
    from distill.runs import RunRegistry
    from overlay.config import Settings

    settings = Settings(data_dir=tmp_path)  # type: ignore[call-arg]
    assert continued_from(settings) is None  # no runs yet
    with RunRegistry.from_settings(settings) as registry:
        whole = registry.create(parent=None, data_hash="a", config={"left_pairs": 0})
        registry.set_promoted(whole.id)
        assert continued_from(settings) is None  # it trained everything: start afresh
        partial = registry.create(parent=None, data_hash="b", config={"left_pairs": 40})
        registry.set_promoted(partial.id)

    assert continued_from(settings) == partial.id
