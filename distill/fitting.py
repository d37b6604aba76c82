"""One training of a LoRA adapter: an SFTTrainer per attempt, recovering from OOM and divergence.

peft's `LoraConfig` (or a parent run's adapter) handed to trl's `SFTTrainer`, with
an evaluation and a checkpoint per epoch when there are held-out pairs (the best
epoch's adapter is kept, training stops after `early_stopping_patience` epochs
without improvement). The model is on the GPU in bf16 when one is present.

Recovery without a person, each step logged in the run's record: out of memory →
half the batch, twice the gradient accumulation (the same effective batch),
start again; a NaN, infinite or exploding loss (more than `divergence_factor`
times the first) → half the learning rate, start again; at most
`max_recoveries` times. Every attempt starts from the same weights.
"""

from __future__ import annotations

import gc
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformers import TrainerCallback

from distill.callbacks import (
    DivergenceGuard,
    ProgressCallback,
    ProgressReporter,
    StepTimer,
    synchronize,
)
from distill.training_data import TrainingData
from overlay.config import Settings
from overlay.core.llms.causal_lm import accelerator
from overlay.errors import ModelUnavailable, TrainingFailed

if TYPE_CHECKING:
    from trl import SFTTrainer


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
    from transformers import EarlyStoppingCallback, PrinterCallback
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
    trainer = SFTTrainer(
        model=model,
        args=sft_config(settings, attempt, output_dir, evaluate=evaluate),
        train_dataset=Dataset.from_list(data.train),
        eval_dataset=Dataset.from_list(data.held_out) if evaluate else None,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[*callbacks, *stopping],
    )
    trainer.remove_callback(PrinterCallback)  # it prints every log to stdout: --json breaks
    return trainer


def load_base(base: Path | str) -> tuple[Any, Any]:
    """(model, tokenizer) of the base model: on the GPU in bf16 when one is present, else
    on the CPU in the dtype it was saved in."""
    from transformers import AutoTokenizer

    from overlay.core.llms.causal_lm import load_causal_lm

    try:
        tokenizer = AutoTokenizer.from_pretrained(base)
        model = load_causal_lm(base)
    except OSError as error:
        raise ModelUnavailable(f"cannot load the base model {base}: {error}") from error
    return model, tokenizer


def parameter_count(base: Path | str) -> int:
    """The base model's parameters, counted on the meta device: no weights are read."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        config = AutoConfig.from_pretrained(base)
    except OSError as error:
        raise ModelUnavailable(f"cannot read the base model's config {base}: {error}") from error
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return sum(parameter.numel() for parameter in model.parameters())


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


def checkpointing(setting: bool | None) -> bool:
    """Whether to recompute activations: as set, else only on an accelerator (SmolLM2 on
    2 CPU cores: 9.3 s a step with it, 7.0 without; benchmarks/training_speed.py)."""
    return setting if setting is not None else accelerator()[0] != "cpu"


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
        gradient_checkpointing=checkpointing(train.gradient_checkpointing),
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


def measure_step(base: Path | str, rows: Sequence[dict[str, Any]], settings: Settings) -> float:
    """Seconds one optimizer step takes on this machine: a fresh LoRA on the base model,
    forward and backward over a batch of `rows` (cycled to the batch size), the second
    of two timed (the first warms up), times the gradient accumulation."""
    import torch
    from peft import get_peft_model

    from overlay.core.llms.causal_lm import render_chat

    train = settings.train
    model, tokenizer = load_base(base)
    model = get_peft_model(model, lora_config(settings)).train()
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    texts = [
        render_chat(tokenizer, [*row["prompt"], *row["completion"]], thinking=False)
        for row in (rows[n % len(rows)] for n in range(train.batch_size))
    ]
    batch = tokenizer(
        texts, return_tensors="pt", padding=True, truncation=True,
        max_length=train.max_length, add_special_tokens=False,
    ).to(model.device)  # fmt: skip
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    trained = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=train.learning_rate)
    seconds = 0.0
    for _ in range(2):
        started = time.perf_counter()
        model(**batch, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        synchronize()
        seconds = time.perf_counter() - started
    del model, optimizer, trained
    _free_memory()
    return seconds * train.gradient_accumulation


@dataclass
class Fitted:
    """A finished training: the trainer, the attempt that succeeded, how long it took."""

    trainer: SFTTrainer
    attempt: Attempt
    seconds: float  # the whole fit: loading, every step, evaluations, checkpoints
    step_seconds: list[float]  # each optimizer step of the attempt that succeeded


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
        guard, timer = DivergenceGuard(train.divergence_factor), StepTimer()
        callbacks = [guard, timer, *faults]
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
                return Fitted(trainer, attempt, time.monotonic() - started, timer.seconds)
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
