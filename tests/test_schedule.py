"""The daemon's schedule: durations, periodic and conditional jobs on a fake clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from factories import qa_pair

from distill.auto_training import new_trainable_pairs
from distill.pairs import Pair, PairStore
from distill.runs import RunRegistry
from distill.training import training_pairs
from overlay.core.memory import Memory
from overlay.daemon.daemon import enough_new_pairs, schedule_jobs
from overlay.daemon.schedule import Every, Scheduler, When, parse_duration
from overlay.errors import ConfigError, OverlayError

HOUR = 3600.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("6h", 6 * HOUR), ("1d", 24 * HOUR), ("90s", 90), ("1h30m", 5400), ("2 w", 1_209_600)],
)
def test_durations_read_as_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "6", "h", "six hours", "6x", "-1h", "0h", "6h junk"])
def test_a_bad_duration_is_a_config_error_naming_the_forms(text: str) -> None:
    with pytest.raises(ConfigError, match=r"'6h'|too short"):
        parse_duration(text)


def test_a_schedule_shorter_than_the_minimum_is_refused() -> None:
    with pytest.raises(ConfigError, match="too short"):
        parse_duration("10s", minimum=60)


def test_a_periodic_job_runs_once_per_period_from_the_start() -> None:
    ran: list[float] = []
    clock = {"now": 0.0}
    scheduler = Scheduler([Every("distill", 6 * HOUR, lambda: ran.append(clock["now"]))], started=0)

    for minute in range(0, 13 * 60 + 1, 5):  # thirteen hours, a tick every five minutes
        clock["now"] = minute * 60.0
        scheduler.tick(clock["now"])

    assert ran == [6 * HOUR, 12 * HOUR]


def test_a_restart_remembers_when_a_job_last_ran(tmp_path: Path) -> None:
    state = tmp_path / "schedule.json"
    ran: list[str] = []
    first = Scheduler([Every("distill", HOUR, lambda: ran.append("a"))], state, started=0)
    first.tick(HOUR)  # runs, and is saved

    # restarted 50 minutes later: the job is due 10 minutes after that, not an hour
    again = Scheduler([Every("distill", HOUR, lambda: ran.append("b"))], state, started=1.8 * HOUR)

    assert again.tick(1.9 * HOUR) == []
    assert again.tick(2.0 * HOUR) == ["distill"]
    assert ran == ["a", "b"]


def test_an_unreadable_state_file_starts_afresh(tmp_path: Path) -> None:
    state = tmp_path / "schedule.json"
    state.write_text("not json")
    scheduler = Scheduler([Every("distill", HOUR, lambda: None)], state, started=0)
    assert scheduler.tick(HOUR) == ["distill"]


def test_a_conditional_job_is_asked_at_most_once_per_check_interval() -> None:
    asked: list[float] = []
    pairs = {"new": 0}

    def ready() -> bool:
        asked.append(1)
        return pairs["new"] >= 10

    trained: list[int] = []
    job = When("train", ready, lambda: trained.append(pairs["new"]), check_s=300)
    scheduler = Scheduler([job], started=0)

    for second in range(0, 900, 5):
        if second == 400:
            pairs["new"] = 12
        scheduler.tick(float(second))

    assert len(asked) == 3  # at 0, 300 and 600 s
    assert trained == [12]


def test_a_failing_job_is_recorded_and_the_others_still_run() -> None:
    def broken() -> None:
        raise OverlayError("the model is gone")

    ran: list[str] = []
    scheduler = Scheduler(
        [Every("distill", 10, broken), Every("adapters", 10, lambda: ran.append("adapters"))],
        started=0,
    )

    assert scheduler.tick(10) == ["distill", "adapters"]
    assert scheduler.failures == {"distill": "the model is gone"}
    assert ran == ["adapters"]


def test_the_daemon_refuses_a_bad_distill_schedule(make_settings: Any, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, distill__schedule="every six hours")
    with pytest.raises(ConfigError, match="cannot read the duration"):
        schedule_jobs(settings, None)


def test_the_daemon_schedules_only_what_the_settings_ask(
    make_settings: Any, make_vault: Any
) -> None:
    vault = make_vault({"a.md": "# A\n"})
    jobs = {}
    for name, extra in (("plain", {}), ("full", {"distill__schedule": "6h", "train__auto": True})):
        memory = Memory(make_settings(vault, **extra))
        jobs[name] = schedule_jobs(memory.settings, memory)
        memory.close()

    assert [job.name for job in jobs["plain"]] == ["adapters"]
    assert [job.name for job in jobs["full"]] == ["adapters", "distill", "train"]
    distill = jobs["full"][1]
    assert isinstance(distill, Every) and distill.period_s == 6 * HOUR


def _fact(question: str, status: str = "approved", *, held_out: bool = False) -> Pair:
    return qa_pair(
        question,
        "Kittiwake.",
        note="The boat.md",
        generator="hand",
        status=status,
        held_out=held_out,
    )


def test_auto_training_waits_for_enough_newly_approved_pairs(make_settings: Any) -> None:
    settings = make_settings(None, train__auto=True, train__auto_min_pairs=2)
    with PairStore.from_settings(settings) as store:
        store.add(
            [_fact("Boat's name?"), _fact("Held?", held_out=True), _fact("Pending?", "pending")]
        )

    assert new_trainable_pairs(settings) == 1 and not enough_new_pairs(settings)
    with PairStore.from_settings(settings) as store:
        store.add([_fact("What is my boat called?")])
    assert enough_new_pairs(settings)  # two approved pairs no run has trained on
    with PairStore.from_settings(settings) as store, RunRegistry.from_settings(settings) as runs:
        runs.create(
            parent=None, data_hash="h", config={"pair_ids": [p.id for p in training_pairs(store)]}
        )
        store.add([_fact("And the boat's name again?")])
    assert new_trainable_pairs(settings) == 1  # only what the last run did not see
