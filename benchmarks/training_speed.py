"""How long LoRA training takes: seconds per optimizer step and the whole run, for N pairs.

    OVERLAY_MODELS_DIR=data/models .venv/bin/python -m benchmarks.training_speed [--pairs 32]

Runs the real `distill.training.train` (peft LoRA through trl's SFTTrainer, replay,
held-out evaluation each epoch, adapter save, loss curve) on the default model,
SmolLM2-135M-Instruct, on the CPU unless a GPU is there. The pairs are the example
vault's facts (tests/fixtures/example_vault_facts.json): each English and Russian
question with its answer, approved; one question per fact is held out. `--pairs N`
takes the first N. Default training settings (rank 16 on all linear layers, batch 8,
max length 512, replay share 0.2) unless flags say otherwise; `--epochs` defaults to 1.
Replay answers are generated into the data dir first and timed apart, so the
training figures do not include them. Figures: pairs, replay pairs, held-out pairs,
optimizer steps, seconds per step (the median step, timed by a trainer callback), training seconds (the successful attempt), total
seconds (data, training, evaluation, saving), the machine's load average at the
start. Prints and writes benchmarks/results/training_speed.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.record import write_results
from distill.fitting import checkpointing
from distill.pairs import Pair, PairStore
from distill.training import train
from distill.training_data import collect_data
from overlay.config import Settings
from overlay.core.model_files import resolve_model

REPO = Path(__file__).resolve().parents[1]


def fact_pairs() -> list[Pair]:
    """Every question of the example facts as an approved pair; the last per fact held out."""
    facts = json.loads((REPO / "tests/fixtures/example_vault_facts.json").read_text())
    pairs = []
    for fact in facts:
        questions = [(q, "en") for q in fact["questions_en"]] + [
            (q, "ru") for q in fact["questions_ru"]
        ]
        for number, (question, language) in enumerate(questions):
            pairs.append(
                Pair.make(
                    [
                        {"role": "user", "content": question},
                        {"role": "assistant", "content": fact["answer"]},
                    ],
                    note_path=fact["note"],
                    source="fact",
                    heading="",
                    content_hash="benchmark",
                    generator="none",
                    prompt_version="benchmark",
                    language=language,
                    status="approved",
                    held_out=number == len(questions) - 1,
                )
            )
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=32, help="Training pairs to use.")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--max-length", type=int, default=None)
    parser.add_argument("--no-gradient-checkpointing", action="store_true")
    args = parser.parse_args()
    pairs = fact_pairs()
    trained = [p for p in pairs if not p.held_out][: args.pairs]
    held_out = [p for p in pairs if p.held_out][: max(2, args.pairs // 4)]
    with tempfile.TemporaryDirectory() as data:
        train_settings: dict[str, Any] = {"epochs": args.epochs}
        if args.batch_size:
            train_settings["batch_size"] = args.batch_size
        if args.max_length:
            train_settings["max_length"] = args.max_length
        if args.no_gradient_checkpointing:
            train_settings["gradient_checkpointing"] = False
        settings = Settings.model_validate({"data_dir": data, "train": train_settings})
        with PairStore.from_settings(settings) as store:
            store.add([*trained, *held_out])
            started = time.monotonic()
            collect_data(settings, store, resolve_model(settings.llm.model))  # replay, cached
            replay_seconds = time.monotonic() - started
        run = train(settings)
    metrics = run.metrics
    result = {
        "model": settings.llm.model,
        "device": _device(),
        "pairs": run.config["pairs"],
        "replay_pairs": run.config["replay_pairs"],
        "held_out_pairs": run.config["held_out_pairs"],
        "epochs": args.epochs,
        "batch_size": metrics["batch_size"],
        "max_length": settings.train.max_length,
        "rank": settings.train.rank,
        "gradient_checkpointing": checkpointing(settings.train.gradient_checkpointing),
        "steps": metrics["steps"],
        "seconds_per_step": metrics["seconds_per_step"],
        "training_seconds": metrics["seconds"],
        "total_seconds": metrics["total_seconds"],
        "replay_generation_seconds": round(replay_seconds, 1),
        "first_loss": metrics["first_loss"],
        "final_loss": metrics["final_loss"],
        "eval_losses": metrics["eval_losses"],
    }
    print(json.dumps(result, indent=2, ensure_ascii=False))
    print(f"{metrics['seconds_per_step']} s/step (median of {metrics['steps']} steps)")
    write_results(result, args)


def _device() -> str:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"cpu ({torch.get_num_threads()} threads)"


if __name__ == "__main__":
    main()
