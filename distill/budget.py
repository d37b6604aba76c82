"""How long a run will take, and what fits in the time a person will wait.

Before training, one optimizer step is measured on this machine (`fitting.measure_step`)
and the run's steps counted: the estimate is their product, plus the per-epoch
evaluations on the trained facts' held-out pairs (a forward pass, about a third of a
step). On a CPU, `train.max_minutes` bounds it: the approved pairs, most worth
remembering first (`training_data.by_worth`), fill the run until the estimate would
pass the budget, stopping at a fact's last pair; the rest wait for the next run, which
continues from this one's adapter (`overlay train --parent RUN`) and takes them first.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from distill.export import training_row
from distill.fitting import measure_step
from distill.pairs import Pair
from distill.training_data import Row, replay_count
from overlay.config import Settings, TrainSettings
from overlay.core.llms.causal_lm import accelerator

EVALUATION_COST = 1 / 3  # an evaluation batch against a training step: forward pass only


@dataclass(frozen=True)
class Plan:
    """What a run will train on and how long it should take."""

    pairs: list[Pair]  # trained this run, most worth first
    left: list[Pair]  # approved, left for the next run
    steps: int
    step_seconds: float  # one measured optimizer step
    seconds: float  # the estimate: every step and evaluation
    budget_seconds: float | None  # train.max_minutes on a CPU; None: no limit

    def lines(self) -> list[str]:
        """What the person is told before the first step."""
        said = [
            f"{len(self.pairs)} pairs, {self.steps} steps at {self.step_seconds:.1f} s a step "
            f"(measured on this machine): about {minutes(self.seconds)}"
        ]
        if self.left and self.budget_seconds is not None:
            said.append(
                f"train.max_minutes {self.budget_seconds / 60:g} leaves {len(self.left)} of "
                f"{len(self.pairs) + len(self.left)} approved pairs for the next run: "
                "`overlay train --parent <this run>` takes them first"
            )
        return said


def minutes(seconds: float) -> str:
    """`12 min` or `40 s`: how long, as a person reads it."""
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def run_steps(rows: int, train: TrainSettings) -> int:
    """Optimizer steps of a run over `rows` examples (as the trainer counts them)."""
    batches = math.ceil(rows / train.batch_size)
    return math.ceil(batches / train.gradient_accumulation) * train.epochs


def run_seconds(pairs: int, held_out: int, train: TrainSettings, step_seconds: float) -> float:
    """The estimated training time of `pairs` pairs with their replay share."""
    steps = run_steps(pairs + replay_count(pairs, train.replay_share), train)
    evaluations = math.ceil(held_out / train.batch_size) * train.epochs
    return (steps + evaluations * EVALUATION_COST) * step_seconds


def held_out_counts(pairs: Sequence[Pair], held_out: Sequence[Pair]) -> list[int]:
    """For each n, how many held-out pairs the first n pairs' facts have (evaluated
    each epoch: `training_data.held_out_of`)."""
    per_fact = Counter((pair.note_path, pair.fact) for pair in held_out)
    counts, seen, total = [0], set(), 0
    for pair in pairs:
        key = (pair.note_path, pair.fact)
        if key not in seen:
            seen.add(key)
            total += per_fact[key]
        counts.append(total)
    return counts


def fitting_count(
    pairs: Sequence[Pair],
    held_out: Sequence[Pair],
    train: TrainSettings,
    step_seconds: float,
    budget: float,
) -> int:
    """How many of `pairs` (in order) fit in `budget` seconds with their facts' held-out
    pairs, ending at a fact's last pair where that leaves any; at least one batch."""
    held = held_out_counts(pairs, held_out)
    count = len(pairs)
    while (
        count > train.batch_size and run_seconds(count, held[count], train, step_seconds) > budget
    ):
        count -= 1
    whole = count
    while (
        0 < whole < len(pairs) and pairs[whole].fact and pairs[whole].fact == pairs[whole - 1].fact
    ):
        whole -= 1
    return whole or count


def plan_run(
    settings: Settings,
    base: Path | str,
    pairs: Sequence[Pair],
    held_out: Sequence[Pair],
    replay: Sequence[Row],
) -> Plan:
    """The plan of a run over `pairs` (most worth first), `replay` rows beside them."""
    train = settings.train
    on_cpu = accelerator()[0] == "cpu"
    budget = train.max_minutes * 60 if train.max_minutes and on_cpu else None
    step = measure_step(base, sample_rows(pairs, replay, train), settings)
    count = len(pairs) if budget is None else fitting_count(pairs, held_out, train, step, budget)
    steps = run_steps(count + replay_count(count, train.replay_share), train)
    seconds = run_seconds(count, held_out_counts(pairs, held_out)[count], train, step)
    return Plan(list(pairs[:count]), list(pairs[count:]), steps, step, seconds, budget)


def sample_rows(pairs: Sequence[Pair], replay: Sequence[Row], train: TrainSettings) -> list[Row]:
    """A batch like the run's: pairs and replay rows in the run's share."""
    replayed = min(len(replay), round(train.batch_size * train.replay_share))
    rows = [training_row(pair, "prompt-completion") for pair in pairs[: train.batch_size]]
    return rows[: max(1, train.batch_size - replayed)] + list(replay[:replayed])
