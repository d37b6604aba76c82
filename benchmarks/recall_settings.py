"""Which training settings move a few facts into SmolLM2's weights: recall and forgetting.

    OVERLAY_MODELS_DIR=data/models .venv/bin/python -m benchmarks.recall_settings \
        [--note "People/Jānis Bērziņš.md"] [--variants defaults "replay 0.3" ...]

Runs every variant README.md quotes (VARIANTS below; all of them unless --variants names
some) and writes them together to benchmarks/results/recall_settings.json, keyed by name:
- `defaults`, `replay 0.3`, `without section`: train on what `overlay distill` makes of
  `--note` (an examples/vault note) with its defaults (the template sources: every fact
  asked five ways per language, the last of each held out), all approved, as
  `overlay pairs approve --status pending` would; with the size table's training settings,
  with `replay_share` 0.3, and without the `section` source (the note's own text).
- `own questions`: the person's own pairs for four facts of two examples/vault notes
  (tests/fixtures/example_vault_facts.json; the first English and Russian question of
  each fact trained, the second held out).
Each runs the real `train()` on the default model, then the real `evaluate()` closed-book
(no retrieval), and records closed-book recall of the base and the adapter on the held-out
questions (by language and by source), forgetting, optimizer steps and seconds.
"""

from __future__ import annotations

import argparse
import json
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

from benchmarks.record import write_results  # noqa: E402
from distill.evaluation import DETAILS_FILE, evaluate  # noqa: E402
from distill.pairs import Pair, PairFilter, PairStore  # noqa: E402
from distill.pipeline import distill  # noqa: E402
from distill.selection import Selection  # noqa: E402
from distill.training import train  # noqa: E402
from overlay.config import DistillSettings, Settings  # noqa: E402

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


DEFAULT_SOURCES = DistillSettings().sources
# name: (train.* settings over the defaults, the sources distill runs on --note; None: the
# person's own questions of NOTES instead)
VARIANTS: dict[str, tuple[dict[str, Any], Sequence[str] | None]] = {
    "defaults": ({}, DEFAULT_SOURCES),
    "replay 0.3": ({"replay_share": 0.3}, DEFAULT_SOURCES),
    "without section": ({}, [s for s in DEFAULT_SOURCES if s != "section"]),
    "own questions": ({}, None),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--note", default="People/Jānis Bērziņš.md", help="An examples/vault note")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    args = parser.parse_args()
    results = {}
    for name in args.variants:
        training, sources = VARIANTS[name]
        with tempfile.TemporaryDirectory() as work:
            note = args.note if sources is not None else None
            results[name] = measure(training, Path(work), note, sources or ())
        print(name, json.dumps(results[name], ensure_ascii=False), flush=True)
    write_results({"variants": results}, args)


if __name__ == "__main__":
    main()
