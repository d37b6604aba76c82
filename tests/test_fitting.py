"""Training's choices and recoveries, without a model: settings chosen from the model's
size, out of memory and divergence handled (distill/fitting.py, distill/callbacks.py).
The runs that recover for real are in tests/test_training.py.
"""

from __future__ import annotations

import math

import pytest

from distill.callbacks import DivergenceGuard
from distill.fitting import Attempt, checkpointing, is_out_of_memory
from overlay.config import TrainSettings


def test_activations_are_recomputed_only_where_memory_is_short() -> None:
    import torch

    assert checkpointing(None) is torch.cuda.is_available()  # a CPU has time to save
    assert checkpointing(True) and not checkpointing(False)  # a setting wins


def test_training_defaults_are_chosen_from_the_model_size_and_explicit_ones_win() -> None:
    small, said = TrainSettings().for_model(134_515_008)
    assert (small.learning_rate, small.epochs, small.rank, small.replay_share) == (
        1e-3, 6, 16, 0.5,
    )  # fmt: skip
    assert small.alpha == 2 * small.rank
    assert said == (
        "chosen for a 135M model: learning_rate 0.001, epochs 6, rank 16, replay_share 0.5"
    )
    large, said = TrainSettings(epochs=1).for_model(14_800_000_000)
    assert (large.learning_rate, large.epochs) == (1e-4, 1)
    assert said.startswith("chosen for a 14.8B model: ") and "(set explicitly: epochs)" in said
    huge, _ = TrainSettings().for_model(32_000_000_000)
    assert huge.learning_rate < large.learning_rate and huge.replay_share > large.replay_share
    assert small.replay_share > huge.replay_share  # a small model forgets most per fact


def test_out_of_memory_halves_the_batch_and_keeps_the_effective_batch() -> None:
    attempt = Attempt(1, batch_size=8, gradient_accumulation=1, learning_rate=1e-3)

    following = attempt.after_out_of_memory()

    assert following == Attempt(2, batch_size=4, gradient_accumulation=2, learning_rate=1e-3)
    assert Attempt(3, 1, 8, 1e-3).after_out_of_memory() is None  # nothing left to halve


def test_divergence_halves_the_learning_rate() -> None:
    assert Attempt(1, 8, 1, 1e-3).after_divergence() == Attempt(2, 8, 1, 5e-4)


def test_out_of_memory_errors_are_recognised_by_kind_and_message() -> None:
    import torch

    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory"))
    assert is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: 9 GB"))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(ValueError("out of memory"))


class _Control:
    should_training_stop = False


@pytest.mark.parametrize(
    ("losses", "stops"),
    [
        ([2.0, 1.5, 1.2, 0.9], False),
        ([2.0, 1.5, math.nan], True),
        ([2.0, 1.5, math.inf], True),
        ([2.0, 9.0], True),  # more than 4x the first loss
        ([math.nan], True),
    ],
)
def test_the_divergence_guard_stops_on_nan_inf_or_explosion(
    losses: list[float], stops: bool
) -> None:
    guard, control = DivergenceGuard(factor=4.0), _Control()

    for loss in losses:
        guard.on_log(None, None, control, logs={"loss": loss})
        guard.on_log(None, None, control, logs={"eval_loss": 100.0})  # not a training loss

    assert control.should_training_stop is stops
    assert (guard.diverged is not None) is stops
