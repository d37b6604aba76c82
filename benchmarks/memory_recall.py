"""Does what the person wrote come back, from the weights alone, when asked in their own
words; and how long does the person wait for it?

    OVERLAY_MODELS_DIR=data/models nice -n 5 .venv/bin/python benchmarks/memory_recall.py \
        [--max-minutes 15] [--answer-tokens 24] [--fresh-replay]

On a copy of the blind dev vault (benchmarks/dev_sets/personal-vault-b/vault, 16 RU/EN
notes) with the default settings and the bundled model, runs what the README's memory
walkthrough runs, each as the `overlay` command a person types, timed by the wall clock:
`overlay distill --all`, `overlay pairs approve --status pending`, `overlay train`
(replay generation included; `--max-minutes` sets train.max_minutes, default the
setting's). Then asks the dev set's 112 closed-book questions (memory.json, one RU and
one EN per fact, written blind, never trained on) of the base model and of the adapter,
as chat asks them with retrieval off, `--answer-tokens` long; an answer is right when it
contains an accepted string. Prints and writes benchmarks/results/memory_recall.json.

The replay answers are cached per machine beside the models: a first run makes them
(part of the wait); `--fresh-replay` uses an empty copy of the models dir to measure that.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from distill.evaluation import base_llm  # noqa: E402
from distill.natural_questions import ask, load_questions, natural_metrics  # noqa: E402
from distill.promotion import adapter_name  # noqa: E402
from distill.runs import RunRegistry  # noqa: E402
from overlay.config import Settings  # noqa: E402
from overlay.core.chat import Chat  # noqa: E402

DEV_SET = REPO / "benchmarks" / "dev_sets" / "personal-vault-b"
RESULTS = REPO / "benchmarks" / "results" / "memory_recall.json"
OVERLAY = [sys.executable, "-c", "from overlay.cli import main; main()"]


def overlay(where: list[str], *args: str, env: dict[str, str]) -> tuple[float, str]:
    """Runs `overlay ARGS` as a person types it; (wall seconds, stdout)."""
    started = time.monotonic()
    done = subprocess.run(
        [*OVERLAY, *where, *args], env=env, capture_output=True, text=True, check=False
    )
    seconds = round(time.monotonic() - started, 1)
    sys.stderr.write(done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"overlay {' '.join(args)} failed ({done.returncode}):\n{done.stdout}")
    print(f"overlay {' '.join(args)}: {seconds} s", flush=True)
    return seconds, done.stdout


def models_dir(root: Path, fresh: bool) -> Path:
    """The models dir to use: the configured one, or a copy of its converted models
    without their cached answers (`--fresh-replay`)."""
    configured = Settings().llm.resolved_models_dir()
    if not fresh:
        return configured
    copy = root / "models"
    shutil.copytree(configured, copy, ignore=shutil.ignore_patterns("answers"))
    return copy


def recall(settings: Settings, run_id: str, answer_tokens: int) -> dict[str, Any]:
    """The dev set's questions asked closed-book of the base model and the adapter."""
    questions = load_questions(DEV_SET / "memory.json")
    with RunRegistry.from_settings(settings) as registry:
        run = registry.get(run_id)
    base = base_llm(settings, None)
    base.max_new_tokens = answer_tokens
    models = {"base": base, "adapter": base.with_adapter(run.adapter, adapter_name(run.id))}
    started = time.monotonic()
    rows = ask(questions, {name: Chat(None, llm) for name, llm in models.items()})  # type: ignore[arg-type]
    metrics = natural_metrics(questions, rows, list(models))
    metrics["ask_seconds"] = round(time.monotonic() - started, 1)
    return {"metrics": metrics, "answers": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-minutes", type=float, default=None)
    parser.add_argument("--answer-tokens", type=int, default=24)
    parser.add_argument("--fresh-replay", action="store_true")
    options = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="memory-recall-"))
    vault, data = root / "vault", root / "data"
    shutil.copytree(DEV_SET / "vault", vault)
    models = models_dir(root, options.fresh_replay)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OVERLAY_LLM__MODELS_DIR": str(models)}
    if options.max_minutes is not None:
        env["OVERLAY_TRAIN__MAX_MINUTES"] = str(options.max_minutes)
    where = ["--vault", str(vault), "--data-dir", str(data)]

    distill_s, made = overlay(where, "distill", "--all", env=env)
    approve_s, approved = overlay(where, "pairs", "approve", "--status", "pending", env=env)
    train_s, trained = overlay(where, "train", "-q", "--json", env=env)
    run = json.loads(trained)
    c = run["config"]
    result: dict[str, Any] = {
        "command": "overlay distill --all && overlay pairs approve --status pending && overlay train",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, shared with other jobs",
        "wall_seconds": {
            "distill": distill_s,
            "approve": approve_s,
            "train": train_s,
            "total": round(distill_s + approve_s + train_s, 1),
        },
        "distilled": made.strip().splitlines()[:1] + approved.strip().splitlines()[-1:],
        "train": {
            k: c.get(k) for k in ("pairs", "left_pairs", "replay_pairs", "held_out_pairs", "epochs")
        }
        | {"estimated_seconds": c.get("estimated_seconds"), "max_seconds": c.get("max_seconds")}
        | {
            k: run["metrics"].get(k)
            for k in ("steps", "seconds", "seconds_per_step", "total_seconds")
        },
        "fresh_replay": options.fresh_replay,
        "answer_tokens": options.answer_tokens,
    }
    RESULTS.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")  # the wait, first
    settings = Settings(vault=vault, data_dir=data, llm={"models_dir": models})  # type: ignore[arg-type]
    measured = recall(settings, run["id"], options.answer_tokens)
    result["recall"] = {k: v for k, v in measured["metrics"].items() if k != "ask_seconds"}
    result["ask_seconds"] = measured["metrics"]["ask_seconds"]
    result["answers"] = measured["answers"]
    RESULTS.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "answers"}, indent=1))
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
