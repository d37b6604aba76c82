"""Which training settings move a few facts into SmolLM2's weights: recall and forgetting.

    OVERLAY_MODELS_DIR=data/models .venv/bin/python benchmarks/recall_settings.py \
        --train '{}' --train '{"epochs": 12, "replay_share": 0.5, "max_length": 128}'
    OVERLAY_MODELS_DIR=data/models .venv/bin/python benchmarks/recall_settings.py \
        --templates "People/Jānis Bērziņš.md"

The memory-loop test's setting, without its servers: the person's pairs for four facts
of two examples/vault notes (tests/fixtures/example_vault_facts.json; the first English
and Russian question of each fact trained, the second held out), the real `train()` on
the default model, then the real `evaluate()` closed-book (no retrieval). Each `--train`
is a JSON object of `train.*` settings over the defaults ('{}': the size table's choice).
Prints per setting: closed-book recall of the base and the adapter on the 8 held-out
questions (by language), forgetting, optimizer steps and seconds; writes
benchmarks/results/recall_settings.json. `--templates NOTE` trains instead on what
`overlay distill` makes of that examples/vault note with its defaults (the template
sources: every fact asked five ways per language, the last of each held out), all
approved, as `overlay pairs approve --status pending` would.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "integration"))

from test_memory_loop import FACTS, NOTES, written_pair  # noqa: E402
from vaults import copy_example_notes  # noqa: E402

from distill.evaluation import evaluate  # noqa: E402
from distill.pairs import PairFilter, PairStore  # noqa: E402
from distill.pipeline import distill  # noqa: E402
from distill.selection import Selection  # noqa: E402
from distill.training import train  # noqa: E402
from overlay.config import Settings  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "recall_settings.json"
SHOWN = (
    "questions",
    "recall_base",
    "recall_adapter",
    "recall_adapter_en",
    "recall_adapter_ru",
    "forgetting",
)


def measure(training: dict[str, Any], work: Path, templates: str | None) -> dict[str, Any]:
    vault = copy_example_notes([templates] if templates else NOTES, work / "vault")
    settings = Settings.model_validate(
        {"vault": vault, "data_dir": work / "data", "train": training,
         "eval": {"max_new_tokens": 32 if templates is None else 96}}
    )  # fmt: skip
    if templates is None:
        facts = [f for f in json.loads(FACTS.read_text(encoding="utf-8")) if f["note"] in NOTES]
        with PairStore.from_settings(settings) as store:
            store.add(written_pair(f, n, lg) for f in facts for n in (0, 1) for lg in ("en", "ru"))
    else:
        distill(settings, Selection())
        with PairStore.from_settings(settings) as store:
            pending = store.list(PairFilter(status=("pending",)))
            store.set_status([p.id for p in pending if not p.held_out], "approved")
    started = time.monotonic()
    run = train(settings)
    trained = time.monotonic()
    metrics = evaluate(settings, run.id, plot=False).metrics
    return {
        "pairs": templates or "written: 4 facts of " + ", ".join(NOTES),
        "train": training,
        "chosen": run.config.get("chosen"),
        **{key: metrics.get(key) for key in SHOWN},
        "steps": run.metrics["steps"],
        "training_seconds": round(trained - started, 1),
        "evaluation_seconds": round(time.monotonic() - trained, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", action="append", default=[], help="train.* settings as JSON")
    parser.add_argument("--templates", help="An examples/vault note: train on its template pairs")
    args = parser.parse_args()
    results = []
    for text in args.train or ["{}"]:
        with tempfile.TemporaryDirectory() as work:
            result = measure(json.loads(text), Path(work), args.templates)
        results.append(result)
        print(json.dumps(result, ensure_ascii=False), flush=True)
    RESULTS.parent.mkdir(exist_ok=True)
    report = {"platform": platform.platform(), "results": results}
    RESULTS.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
