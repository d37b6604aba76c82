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

Recovery without a person, each step logged in the run's record:
out of memory → half the batch, twice the gradient accumulation (the same
effective batch), start again; a NaN, infinite or exploding loss (more than
`divergence_factor` times the first) → half the learning rate, start again; at
most `max_recoveries` times. Every attempt starts from the same weights.

Two fault-injection callbacks, `InjectedOutOfMemory` and `InjectedNaNLoss`, let
tests force those failures through `train(faults=…)`; they are not settings.
"""

from __future__ import annotations

import gc
import hashlib
import json
import math
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformers import TrainerCallback

from distill.export import training_row
from distill.pairs import Pair, PairFilter, PairStore
from distill.replay import ReplaySet, load_replay_prompts, replay_cache_path
from distill.runs import Run, RunRegistry
from overlay.config import Settings
from overlay.errors import ConfigError, ModelUnavailable, TrainingFailed
from overlay.models import resolve_model

if TYPE_CHECKING:
    from trl import SFTTrainer

TRAINED_STATUSES = ("approved", "edited")
EVALUATED_STATUSES = ("approved", "edited", "pending")  # held-out pairs nobody rejected
SAMPLE_TOKENS = 32
Row = dict[str, Any]


@dataclass(frozen=True)
class TrainProgress:
    """What the progress callback hears: a phase and how far it is."""

    phase: str  # 'replay' (generating replay answers) or 'train'
    done: int
    total: int
    epoch: float = 0.0
    loss: float | None = None
    eval_loss: float | None = None
    attempt: int = 1


ProgressCallback = Callable[[TrainProgress], None]


@dataclass(frozen=True)
class TrainingData:
    """The examples of one run."""

    train: list[Row]  # the pairs' rows, then the replay rows
    held_out: list[Row]
    pair_ids: list[str]
    replay: int
    data_hash: str


@dataclass(frozen=True)
class Attempt:
    """The settings one try at training ran with; recoveries make the next one."""

    number: int
    batch_size: int
    gradient_accumulation: int
    learning_rate: float

    def after_out_of_memory(self) -> Attempt | None:
        if self.batch_size == 1:
            return None
        return replace(
            self,
            number=self.number + 1,
            batch_size=self.batch_size // 2,
            gradient_accumulation=self.gradient_accumulation * 2,
        )

    def after_divergence(self) -> Attempt:
        return replace(self, number=self.number + 1, learning_rate=self.learning_rate * 0.5)


# ---- the data ----


def data_hash(pairs: Sequence[Pair]) -> str:
    """A hash of the training pairs' ids and messages: equal data, equal hash."""
    digest = hashlib.sha256()
    for pair in sorted(pairs, key=lambda p: p.id):
        digest.update(json.dumps([pair.id, pair.messages], ensure_ascii=False).encode())
    return digest.hexdigest()[:16]


def training_pairs(store: PairStore) -> list[Pair]:
    """Approved and edited pairs that are not held out: the only pairs ever trained on."""
    return store.list(PairFilter(status=TRAINED_STATUSES, held_out=False))


def require_training_pairs(store: PairStore) -> list[Pair]:
    """The training pairs, or a ConfigError saying how to get some."""
    pairs = training_pairs(store)
    if not pairs:
        raise ConfigError(
            "no approved pairs to train on: review them first (`overlay pairs review` "
            "or `overlay pairs approve`)"
        )
    return pairs


def held_out_pairs(store: PairStore) -> list[Pair]:
    """Held-out pairs nobody rejected (and not stale): the evaluation set."""
    return store.list(PairFilter(status=EVALUATED_STATUSES, held_out=True))


def replay_count(pairs: int, share: float) -> int:
    """Replay examples that make up `share` of the training set beside `pairs` pairs."""
    return round(pairs * share / (1.0 - share)) if pairs else 0


def collect_data(
    settings: Settings,
    store: PairStore,
    base: Path | str,
    progress: ProgressCallback | None = None,
) -> TrainingData:
    """The run's examples; generates the replay answers the cache lacks."""
    pairs = require_training_pairs(store)
    replay = replay_set(settings, base).rows(
        replay_count(len(pairs), settings.train.replay_share),
        progress=(lambda done, total: progress(TrainProgress("replay", done, total)))
        if progress
        else None,
    )
    return TrainingData(
        train=[training_row(pair, "prompt-completion") for pair in pairs] + replay,
        held_out=[training_row(pair, "prompt-completion") for pair in held_out_pairs(store)],
        pair_ids=[pair.id for pair in pairs],
        replay=len(replay),
        data_hash=data_hash(pairs),
    )


def replay_set(settings: Settings, base: Path | str) -> ReplaySet:
    """The replay answers of `base`, cached in the data dir."""
    version = settings.train.replay_prompts
    path = replay_cache_path(settings.resolved_data_dir(), base, version)
    return ReplaySet(path, base, load_replay_prompts(version), settings.train.replay_max_tokens)


# ---- callbacks ----


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


# ---- training ----


def is_out_of_memory(error: BaseException) -> bool:
    """torch's OOM error, or a RuntimeError that says the memory ran out (CPU, MPS)."""
    import torch

    if isinstance(error, torch.OutOfMemoryError):
        return True
    message = str(error).lower()
    return isinstance(error, RuntimeError) and (
        "out of memory" in message or "can't allocate memory" in message
    )


def build_trainer(
    base: Path | str,
    data: TrainingData,
    settings: Settings,
    attempt: Attempt,
    output_dir: Path,
    *,
    parent_adapter: Path | None = None,
    callbacks: Sequence[TrainerCallback] = (),
) -> SFTTrainer:
    """An SFTTrainer for one attempt: a fresh model, LoRA from settings or the parent."""
    import datasets
    from datasets import Dataset
    from transformers import EarlyStoppingCallback
    from trl import SFTTrainer

    datasets.disable_progress_bars()
    model, tokenizer = load_base(base)
    peft_config = None
    if parent_adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(parent_adapter), is_trainable=True)
    else:
        peft_config = lora_config(settings)
    evaluate = bool(data.held_out)
    stopping = [EarlyStoppingCallback(settings.train.early_stopping_patience)] if evaluate else []
    return SFTTrainer(
        model=model,
        args=sft_config(settings, attempt, output_dir, evaluate=evaluate),
        train_dataset=Dataset.from_list(data.train),
        eval_dataset=Dataset.from_list(data.held_out) if evaluate else None,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[*callbacks, *stopping],
    )


def load_base(base: Path | str) -> tuple[Any, Any]:
    """(model, tokenizer) of the base model, in the dtype it was saved in."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(base)
        model = AutoModelForCausalLM.from_pretrained(base, dtype="auto")
    except OSError as error:
        raise ModelUnavailable(f"cannot load the base model {base}: {error}") from error
    return model, tokenizer


def lora_config(settings: Settings) -> Any:
    from peft import LoraConfig

    train = settings.train
    return LoraConfig(
        r=train.rank,
        lora_alpha=train.alpha,
        lora_dropout=train.dropout,
        target_modules=train.target_modules,
        task_type="CAUSAL_LM",
    )


def sft_config(settings: Settings, attempt: Attempt, output_dir: Path, *, evaluate: bool) -> Any:
    """trl's SFTConfig: prompt-completion loss, an evaluation (and best checkpoint) per epoch."""
    import torch
    from trl import SFTConfig

    train = settings.train
    every_epoch = "epoch" if evaluate else "no"
    return SFTConfig(
        output_dir=str(output_dir),
        num_train_epochs=train.epochs,
        per_device_train_batch_size=attempt.batch_size,
        per_device_eval_batch_size=attempt.batch_size,
        gradient_accumulation_steps=attempt.gradient_accumulation,
        learning_rate=attempt.learning_rate,
        max_length=train.max_length,
        completion_only_loss=True,
        gradient_checkpointing=train.gradient_checkpointing,
        bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
        logging_steps=1,
        logging_nan_inf_filter=False,  # the divergence guard must see a NaN loss
        eval_strategy=every_epoch,
        save_strategy=every_epoch,
        load_best_model_at_end=evaluate,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        save_total_limit=1,
        save_only_model=True,
        report_to="none",
        disable_tqdm=True,
        seed=train.seed,
        data_seed=train.seed,
    )


class _Diverged(Exception):
    """The loss went NaN, infinite or exploded: this attempt stops, the next one is slower."""


@dataclass
class Fitted:
    """A finished training: the trainer, the attempt that succeeded, how long it took."""

    trainer: SFTTrainer
    attempt: Attempt
    seconds: float


def fit(
    base: Path | str,
    data: TrainingData,
    settings: Settings,
    output_dir: Path,
    *,
    parent_adapter: Path | None = None,
    on_recovery: Callable[[str, Attempt, Attempt], None] | None = None,
    progress: ProgressCallback | None = None,
    faults: Sequence[TrainerCallback] = (),
) -> Fitted:
    """Train, recovering from out-of-memory and divergence (see the module docstring)."""
    train = settings.train
    attempt = Attempt(1, train.batch_size, train.gradient_accumulation, train.learning_rate)
    while True:
        shutil.rmtree(output_dir, ignore_errors=True)
        guard = DivergenceGuard(train.divergence_factor)
        callbacks = [guard, *faults]
        if progress is not None:
            callbacks.append(ProgressReporter(progress, attempt.number))
        started = time.monotonic()
        try:
            trainer = build_trainer(
                base, data, settings, attempt, output_dir,
                parent_adapter=parent_adapter, callbacks=callbacks,
            )  # fmt: skip
            trainer.train()
            if guard.diverged is None:
                return Fitted(trainer, attempt, time.monotonic() - started)
            cause = f"diverging loss: {guard.diverged[0]} (first {guard.diverged[1]})"
            following = attempt.after_divergence()
        except Exception as error:
            if not is_out_of_memory(error):
                raise
            cause, next_oom = f"out of memory: {error}", attempt.after_out_of_memory()
            if next_oom is None:
                raise TrainingFailed(f"out of memory even at batch size 1: {error}") from error
            following = next_oom
        finally:
            trainer = None  # type: ignore[assignment]
            _free_memory()
        if attempt.number > train.max_recoveries:
            raise TrainingFailed(f"gave up after {attempt.number} attempts; last: {cause}")
        if on_recovery is not None:
            on_recovery(cause, attempt, following)
        attempt = following


def _free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


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
        base = resolve_model(settings.llm.model, settings.llm.models_dir)
        parent_run = _trained_parent(registry, parent) if parent else None
        data = collect_data(settings, store, base, progress)
        run = registry.create(
            parent=parent_run.id if parent_run else None,
            data_hash=data.data_hash,
            config=run_config(settings, base, data, parent_run),
        )
        with _recorded_failure(registry, run):
            _train_run(settings, registry, run, base, data, parent_run, progress, faults)
        total = round(time.monotonic() - started, 2)  # replay, every attempt, saving
        return registry.update(run.id, metrics={"total_seconds": total})
    raise AssertionError("unreachable")  # mypy: ExitStack may swallow exceptions


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
        "seconds_per_step": round(fitted.seconds / steps, 3) if steps else None,
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

    from overlay.llms.local import render_chat

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
    import matplotlib

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
