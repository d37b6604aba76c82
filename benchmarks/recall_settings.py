"""Which training settings move a few facts into SmolLM2's weights: recall and forgetting.

    OVERLAY_MODELS_DIR=data/models .venv/bin/python benchmarks/recall_settings.py \
        --train '{}' --train '{"epochs": 12, "replay_share": 0.5, "max_length": 128}'
    OVERLAY_MODELS_DIR=data/models .venv/bin/python benchmarks/recall_settings.py \
        --templates "People/Jānis Bērziņš.md"

Without `--templates`: the person's own pairs for four facts of two examples/vault notes (tests/fixtures/example_vault_facts.json; the first English
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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "integration"))

from factories import qa_pair  # noqa: E402
from vaults import copy_example_notes  # noqa: E402

from distill.evaluation import DETAILS_FILE, evaluate  # noqa: E402
from distill.pairs import Pair, PairFilter, PairStore  # noqa: E402
from distill.pipeline import distill  # noqa: E402
from distill.selection import Selection  # noqa: E402
from distill.training import train  # noqa: E402
from overlay.config import DistillSettings, Settings  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "recall_settings.json"
NOTES = ("Projects/The boat.md", "People/Обо мне.md")
FACTS = REPO / "tests" / "fixtures" / "example_vault_facts.json"
SHOWN = (
    "questions",
    "recall_base",
    "recall_adapter",
    "recall_adapter_en",
    "recall_adapter_ru",
    "forgetting",
)


def written_pair(fact: dict[str, Any], number: int, language: str) -> Pair:
    """The fact's `number`-th question in `language` with its answer; the second is held out."""
    question = fact[f"questions_{language}"][number]
    return qa_pair(
        question, fact["answer"], note=fact["note"], content_hash="written",
        generator="person", prompt_version="fixture", language=language,
        status="approved" if number == 0 else "pending", held_out=number == 1, fact=fact["id"],
    )  # fmt: skip


def measure(
    training: dict[str, Any], work: Path, templates: str | None, sources: Sequence[str]
) -> dict[str, Any]:
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
        distill(settings, Selection(), sources=sources)
        with PairStore.from_settings(settings) as store:
            pending = store.list(PairFilter(status=("pending",)))
            store.set_status([p.id for p in pending if not p.held_out], "approved")
    started = time.monotonic()
    run = train(settings)
    trained = time.monotonic()
    evaluation = evaluate(settings, run.id, plot=False)
    metrics = evaluation.metrics
    return {
        "sources": list(sources) if templates else None,
        "recalled_by_source": recalled_by_source(settings, run.folder / DETAILS_FILE),
        "pairs": templates or "written: 4 facts of " + ", ".join(NOTES),
        "train": training,
        "chosen": run.config.get("chosen"),
        **{key: metrics.get(key) for key in SHOWN},
        "steps": run.metrics["steps"],
        "training_seconds": round(trained - started, 1),
        "evaluation_seconds": round(time.monotonic() - trained, 1),
    }


def recalled_by_source(settings: Settings, details: Path) -> dict[str, str]:
    """'recalled/asked' of the adapter's held-out answers, by the pairs' source."""
    with PairStore.from_settings(settings) as store:
        source = {pair.id: pair.source for pair in store.list(PairFilter())}
    tally: dict[str, list[bool]] = {}
    for row in json.loads(details.read_text(encoding="utf-8"))["answers"]:
        tally.setdefault(source[row["pair"]], []).append(bool(row["adapter_recalled"]))
    return {name: f"{sum(rows)}/{len(rows)}" for name, rows in sorted(tally.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", action="append", default=[], help="train.* settings as JSON")
    parser.add_argument("--templates", help="An examples/vault note: train on its template pairs")
    parser.add_argument(
        "--sources",
        default=",".join(DistillSettings().sources),
        help="With --templates: the pair sources distill runs, comma-separated",
    )
    args = parser.parse_args()
    results = []
    for text in args.train or ["{}"]:
        with tempfile.TemporaryDirectory() as work:
            sources = args.sources.split(",")
            result = measure(json.loads(text), Path(work), args.templates, sources)
        results.append(result)
        print(json.dumps(result, ensure_ascii=False), flush=True)
    RESULTS.parent.mkdir(exist_ok=True)
    report = {"platform": platform.platform(), "results": results}
    RESULTS.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
