"""LoRA training on the reviewed pairs: peft's `LoraConfig` handed to trl's `SFTTrainer`.

What is trained: approved and edited pairs that are not held out, as TRL
prompt-completion rows, so the loss falls on the final assistant message only
(earlier turns of a dialogue are context). A `replay_share` of the examples are
the base model's own answers to general prompts (`distill.replay`), to limit
forgetting. Held-out pairs (not rejected or stale) are the evaluation set: their
loss is measured each epoch, training stops after `early_stopping_patience`
epochs without improvement and the best epoch's adapter is kept. They are never
trained on.

Where it starts: from the base model (`llm.model`) with fresh LoRA weights, by
default. Given a parent run, from that run's adapter (its rank and target
modules), trained further on all approved pairs; the new run records the parent.

How: `distill.training_data` collects the examples, `distill.fitting` trains
with recovery from out-of-memory and divergence, `distill.callbacks` time the
steps and report progress. Learning rate, epochs, rank and replay share not set
explicitly are chosen from the base model's size (`overlay.config_memory.SIZE_DEFAULTS`);
the run records what was chosen and why.
"""

from __future__ import annotations

import math
import shutil
import statistics
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from distill.budget import Plan, plan_run
from distill.callbacks import ProgressCallback, TrainProgress
from distill.fitting import Attempt, Fitted, fit, parameter_count
from distill.pairs import PairStore
from distill.runs import Run, RunRegistry, mark_abandoned, training_lock
from distill.selection import Worth
from distill.training_data import (
    Row,
    TrainingData,
    by_worth,
    collect_data,
    held_out_pairs,
    replay_count,
    replay_set,
    require_training_pairs,
    training_pairs,
)
from overlay.config import Settings
from overlay.core.model_files import resolve_model
from overlay.errors import ConfigError, StoreLocked

__all__ = ["train", "training_pairs"]  # training_pairs: what a run would train on
SAMPLE_TOKENS = 32


def train(
    settings: Settings,
    *,
    parent: str | None = None,
    registry: RunRegistry | None = None,
    store: PairStore | None = None,
    progress: ProgressCallback | None = None,
    faults: Sequence[TrainerCallback] = (),
) -> Run:
    """Train a LoRA adapter on the approved pairs; returns the run, `trained` or `failed`.

    `parent` continues from that run's adapter. `registry` and `store` default to the
    data dir's; `progress` hears replay generation and each step; `faults` are
    fault-injection callbacks for tests. A failure is recorded in the run and raised.
    """
    started = time.monotonic()
    with ExitStack() as stack:
        registry = registry or stack.enter_context(RunRegistry.from_settings(settings))
        store = store or stack.enter_context(PairStore.from_settings(settings))
        require_training_pairs(store)  # before loading anything
        stack.enter_context(_training_alone(registry))
        mark_abandoned(registry)  # runs of a killed process before this one
        base = resolve_model(settings.llm.model, settings.llm.models_dir)
        sized, chosen = settings.train.for_model(parameter_count(base))
        settings = settings.model_copy(update={"train": sized})
        parent_run = _trained_parent(registry, parent) if parent else None
        plan = _plan(settings, store, base, parent_run, progress)
        data = collect_data(settings, store, base, progress, plan.pairs)
        config = run_config(settings, base, data, parent_run)
        config |= {"chosen": chosen, **_planned(plan)}
        run = registry.create(
            parent=parent_run.id if parent_run else None, data_hash=data.data_hash, config=config
        )
        with _recorded_failure(registry, run):
            _train_run(settings, registry, run, base, data, parent_run, progress, faults)
        total = round(time.monotonic() - started, 2)  # replay, every attempt, saving
        return registry.update(run.id, metrics={"total_seconds": total})
    raise AssertionError("unreachable")  # mypy: ExitStack may swallow exceptions


def _plan(
    settings: Settings,
    store: PairStore,
    base: Path | str,
    parent: Run | None,
    progress: ProgressCallback | None,
) -> Plan:
    """The run's pairs (most worth first, within the time budget) and its estimate, told
    to `progress`; the replay answers it may need are made first (and cached)."""
    trained = parent.config.get("pair_ids", []) if parent else []
    pairs = by_worth(require_training_pairs(store), Worth.from_settings(settings), set(trained))
    wanted = replay_count(len(pairs), settings.train.replay_share)
    replay = replay_set(settings, base)
    told = (
        (lambda done, total: progress(TrainProgress("replay", done, total))) if progress else None
    )
    rows = replay.rows(wanted, progress=told)  # made once per machine, cached as made
    plan = plan_run(settings, base, pairs, held_out_pairs(store), rows)
    if progress is not None:
        progress(TrainProgress("plan", 0, plan.steps, message="\n".join(plan.lines())))
    return plan


def _planned(plan: Plan) -> dict[str, Any]:
    """What a run records of its plan."""
    return {
        "estimated_seconds": round(plan.seconds, 1),
        "measured_step_seconds": round(plan.step_seconds, 3),
        "max_seconds": plan.budget_seconds,
        "left_pairs": len(plan.left),
    }


def _trained_parent(registry: RunRegistry, parent: str) -> Run:
    run = registry.get(parent)
    if not (run.adapter / "adapter_config.json").is_file():
        raise ConfigError(f"run {run.id} has no adapter to continue from (status {run.status})")
    return run


def run_config(
    settings: Settings, base: Path | str, data: TrainingData, parent: Run | None
) -> dict[str, Any]:
    """What a run records as its config: the train settings, the base, the data's size."""
    return {
        **settings.train.model_dump(),
        "base_model": str(base),
        "model": settings.llm.model,
        "starts_from": f"adapter of {parent.id}" if parent else "base model, fresh LoRA",
        "pairs": len(data.pair_ids),
        "replay_pairs": data.replay,
        "held_out_pairs": len(data.held_out),
        "pair_ids": data.pair_ids,
        "loss": "completion only (the final assistant message)",
    }


@contextmanager
def _training_alone(registry: RunRegistry) -> Iterator[None]:
    """The training lock of the data dir, or a clear error while another process trains."""
    from filelock import Timeout

    lock = training_lock(registry)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise StoreLocked(
            "another process is training in this data dir (see `overlay runs`); "
            "one run trains at a time"
        ) from None
    try:
        yield
    finally:
        lock.release()


@contextmanager
def _recorded_failure(registry: RunRegistry, run: Run) -> Iterator[None]:
    """Marks the run `failed` with the reason when the block raises, then re-raises."""
    try:
        yield
    except BaseException as error:
        reason = "interrupted" if isinstance(error, KeyboardInterrupt) else str(error)
        registry.log_event(run.id, "failed", reason=reason, error=type(error).__name__)
        registry.update(run.id, status="failed", metrics={"error": reason})
        raise


def _train_run(
    settings: Settings,
    registry: RunRegistry,
    run: Run,
    base: Path | str,
    data: TrainingData,
    parent: Run | None,
    progress: ProgressCallback | None,
    faults: Sequence[TrainerCallback],
) -> Run:
    registry.log_event(
        run.id, "started", pairs=len(data.pair_ids), replay=data.replay,
        held_out=len(data.held_out), base=str(base),
    )  # fmt: skip

    def recovered(cause: str, old: Attempt, new: Attempt) -> None:
        kind, _, detail = cause.partition(": ")
        registry.log_event(
            run.id, "recovered", cause=kind, detail=detail, attempt=old.number, **_change(old, new)
        )

    checkpoints = run.folder / "checkpoints"
    fitted = fit(
        base, data, settings, checkpoints,
        parent_adapter=parent.adapter if parent else None,
        on_recovery=recovered, progress=progress, faults=faults,
    )  # fmt: skip
    model = restore_for_generation(fitted.trainer.model)
    model.save_pretrained(run.adapter)
    shutil.rmtree(checkpoints, ignore_errors=True)
    history = fitted.trainer.state.log_history
    plot_losses(history, run.folder / "loss.png")
    metrics = training_metrics(fitted, history)
    metrics["sample"] = sample_answer(model, fitted.trainer.processing_class, data.train[0])
    registry.log_event(run.id, "trained", **{k: metrics[k] for k in _LOGGED if k in metrics})
    return registry.update(run.id, status="trained", metrics=metrics)


_LOGGED = ("steps", "seconds", "final_loss", "best_eval_loss", "attempts")


def _change(old: Attempt, new: Attempt) -> dict[str, Any]:
    """The settings a recovery changed, as old_<name> and new_<name>."""
    before, after = asdict(old), asdict(new)
    changed = [name for name in before if name != "number" and before[name] != after[name]]
    return {
        **{f"old_{name}": before[name] for name in changed},
        **{f"new_{name}": after[name] for name in changed},
    }


def restore_for_generation(model: Any) -> Any:
    """trl trains with gradient checkpointing and without the KV cache; undo both so the
    trained model generates at full speed."""
    if getattr(model, "is_gradient_checkpointing", False):
        model.gradient_checkpointing_disable()
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    base.config.use_cache = True
    base.generation_config.use_cache = True
    return model.eval()


def training_metrics(fitted: Fitted, history: list[dict[str, Any]]) -> dict[str, Any]:
    """Losses, steps, time and the settings of the attempt that succeeded."""
    losses = [entry["loss"] for entry in history if "loss" in entry]
    by_epoch: dict[int, list[float]] = {}
    for entry in history:  # an entry at epoch 1.5 belongs to the second epoch
        if "loss" in entry:
            by_epoch.setdefault(math.ceil(entry["epoch"] - 1e-9), []).append(entry["loss"])
    evals = [entry["eval_loss"] for entry in history if "eval_loss" in entry]
    steps = fitted.trainer.state.global_step
    return {
        "steps": steps,
        "epochs": fitted.trainer.state.epoch,
        "seconds": round(fitted.seconds, 2),
        # the median step: the fit's time over its steps would add loading and evaluation
        "seconds_per_step": round(statistics.median(fitted.step_seconds), 3)
        if fitted.step_seconds
        else None,
        "first_loss": losses[0] if losses else None,
        "final_loss": losses[-1] if losses else None,
        "losses": losses,
        "epoch_losses": [sum(v) / len(v) for _, v in sorted(by_epoch.items())],
        "eval_losses": evals,
        "best_eval_loss": min(evals) if evals else None,
        "final_eval_loss": evals[-1] if evals else None,
        "attempts": fitted.attempt.number,
        "batch_size": fitted.attempt.batch_size,
        "gradient_accumulation": fitted.attempt.gradient_accumulation,
        "learning_rate": fitted.attempt.learning_rate,
    }


def sample_answer(model: Any, tokenizer: Any, row: Row, max_new_tokens: int = SAMPLE_TOKENS) -> str:
    """The trained model's greedy answer to a training prompt: proof that it generates."""
    import torch

    from overlay.core.llms.causal_lm import render_chat

    prompt = render_chat(tokenizer, row["prompt"], thinking=False)
    encoded = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(model.device)
    with torch.inference_mode():
        output = model.generate(
            **encoded,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
        )
    return str(
        tokenizer.decode(output[0][encoded["input_ids"].shape[1] :], skip_special_tokens=True)
    )


def plot_losses(history: list[dict[str, Any]], path: Path) -> None:
    """The training loss by step and the held-out loss by epoch, as a PNG."""
    try:
        import matplotlib
    except ImportError:  # a bare GPU box (benchmarks/gpu_training.py): no curve, same run
        return
    matplotlib.use("Agg")  # no display: write a file only
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(7, 4))
    for key, label in (("loss", "training"), ("eval_loss", "held-out")):
        points = [(entry["step"], entry[key]) for entry in history if key in entry]
        if points:
            axes.plot(*zip(*points, strict=True), marker="." if key == "loss" else "o", label=label)
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
