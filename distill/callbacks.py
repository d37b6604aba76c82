"""The trainer's callbacks: progress, divergence, step timing, and fault injection.

`ProgressReporter` hands each step to a progress callback; `DivergenceGuard`
stops an attempt whose loss goes NaN, infinite or explodes; `StepTimer` times
each optimizer step, so `seconds_per_step` is the median step and not the fit's
whole time (model loading, evaluation, checkpoints) divided by the steps.
`InjectedOutOfMemory` and `InjectedNaNLoss` let tests force the failures the
recovery handles (`train(faults=…)`); they are not settings.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from transformers import TrainerCallback


@dataclass(frozen=True)
class TrainProgress:
    """What the progress callback hears: a phase and how far it is."""

    phase: str  # 'replay' (generating replay answers), 'plan' (before training) or 'train'
    done: int
    total: int
    epoch: float = 0.0
    loss: float | None = None
    eval_loss: float | None = None
    attempt: int = 1
    message: str = ""  # the plan: pairs, steps, the estimate, what waits for the next run


ProgressCallback = Callable[[TrainProgress], None]


class DivergenceGuard(TrainerCallback):
    """Stops training when a logged loss is NaN, infinite, or `factor` times the first."""

    def __init__(self, factor: float) -> None:
        self.factor = factor
        self.first: float | None = None
        self.diverged: tuple[float, float | None] | None = None  # (loss, first loss)

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        loss = float(loss)
        if self.first is None and math.isfinite(loss):
            self.first = loss
            return
        if not math.isfinite(loss) or (self.first is not None and loss > self.factor * self.first):
            self.diverged = (loss, self.first)
            control.should_training_stop = True


class ProgressReporter(TrainerCallback):
    """Hands each step and each evaluation to a progress callback."""

    def __init__(self, callback: ProgressCallback, attempt: int) -> None:
        self.callback = callback
        self.attempt = attempt
        self.loss: float | None = None
        self.eval_loss: float | None = None

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
        logs = logs or {}
        self.loss = logs.get("loss", self.loss)
        self.eval_loss = logs.get("eval_loss", self.eval_loss)
        self._report(state)

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self._report(state)

    def _report(self, state: Any) -> None:
        self.callback(
            TrainProgress(
                "train",
                state.global_step,
                state.max_steps,
                float(state.epoch or 0.0),
                self.loss,
                self.eval_loss,
                self.attempt,
            )
        )


class InjectedOutOfMemory(TrainerCallback):
    """Fault injection for tests: raises torch.OutOfMemoryError at the first step while
    the per-device batch is larger than `above_batch_size`."""

    def __init__(self, above_batch_size: int) -> None:
        self.above_batch_size = above_batch_size

    def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        import torch

        if state.global_step == 0 and args.per_device_train_batch_size > self.above_batch_size:
            raise torch.OutOfMemoryError(
                f"injected: out of memory at batch size {args.per_device_train_batch_size}"
            )


class InjectedNaNLoss(TrainerCallback):
    """Fault injection for tests: fills the LoRA weights with NaN before the first step
    while the learning rate is above `above_learning_rate`, so the real loss is NaN."""

    def __init__(self, above_learning_rate: float) -> None:
        self.above_learning_rate = above_learning_rate

    def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        import torch

        model = kw.get("model")
        if state.global_step != 0 or args.learning_rate <= self.above_learning_rate or not model:
            return
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if "lora_" in name:
                    parameter.fill_(float("nan"))


class StepTimer(TrainerCallback):
    """The wall time of each optimizer step (forward, backward, update), on the GPU
    synchronised so the time is the step's and not the queueing of its kernels."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._started = 0.0

    def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        synchronize()
        self._started = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        synchronize()
        self.seconds.append(time.perf_counter() - self._started)

    def median(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None


def synchronize() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()
