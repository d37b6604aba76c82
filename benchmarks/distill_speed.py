"""How fast distillation makes training pairs, and how many survive dedupe and the judge.

    OVERLAY_MODELS_DIR=data/models .venv/bin/python benchmarks/distill_speed.py [--notes 3]

Runs the real pipeline (`distill.run.distill`, every source, default settings) on
examples/vault into an empty data dir, with the default model in process:
SmolLM2-135M-Instruct on the `transformers` backend, greedy, on the CPU unless a
GPU is there. `--notes N` takes N notes spread evenly over the vault's sorted
paths (31 is all of them; the private one is read and skipped). On a 2-core CPU a
note costs minutes (every section, link and answer is a call of up to
`llm.max_new_tokens`), hence the default of 3; each note's time goes to stderr
as it finishes. The model is
loaded before the clock starts (its load time is reported apart). Figures: notes,
LLM calls, tokens generated (by the model's tokenizer), pairs made (before dedupe
and judging), kept after dedupe, kept after the judge (stored, not rejected), the
share kept, pairs per minute (made and kept) and wall time. Prints and writes
benchmarks/results/distill_speed.json. Set OVERLAY_MODELS_DIR to reuse a
converted model; else one is made under the user data dir.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from distill.run import DistillReport, distill
from distill.selection import Selection
from overlay.config import Settings, load_settings
from overlay.llms import llm_from_settings
from vault_schema import iter_note_paths

REPO = Path(__file__).resolve().parents[1]
VAULT = REPO / "examples" / "vault"
RESULTS = REPO / "benchmarks" / "results" / "distill_speed.json"


def spread(paths: list[str], count: int) -> list[str]:
    """`count` of the paths, evenly spaced (the middle of each stretch), so a few notes
    come from several folders and all of them are the whole vault."""
    count = min(count, len(paths))
    return [paths[(2 * i + 1) * len(paths) // (2 * count)] for i in range(count)]


class NoteTimes:
    """The run's progress hook: each note's seconds, and a line on stderr as it ends."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._path, self._since = "", time.perf_counter()

    def __call__(self, done: int, total: int, path: str, report: DistillReport) -> None:
        now = time.perf_counter()
        if self._path:
            self.seconds[self._path] = round(now - self._since, 1)
            line = f"[{done}/{total}] {self.seconds[self._path]:7.1f} s  {self._path}"
            print(f"{line}  ({report.pairs_added} pairs so far)", file=sys.stderr, flush=True)
        self._path, self._since = path, now


def figures(report: DistillReport, notes: int, load_s: float) -> dict[str, Any]:
    made = report.pairs_made
    after_dedupe = made - report.duplicates_dropped
    after_judge = after_dedupe - report.added_by_status.get("rejected", 0)
    minutes = report.seconds / 60
    return {
        "notes": notes,
        "notes_read": report.notes_read,
        "llm_calls": report.llm_calls,
        "tokens_generated": report.tokens_generated,
        "tokens_estimated": report.tokens_estimated,
        "pairs_made": made,
        "kept_after_dedupe": after_dedupe,
        "kept_after_judge": after_judge,
        "share_kept": round(after_judge / made, 3) if made else None,
        "pairs_per_minute_made": round(made / minutes, 1),
        "pairs_per_minute_kept": round(after_judge / minutes, 1),
        "tokens_per_second": round(report.tokens_generated / report.seconds, 1),
        "judge_rejected": report.judge_rejected,
        "generation_failures": len(report.generation_failures),
        "kept_by_source": dict(report.added_by_source),
        "kept_by_status": dict(report.added_by_status),
        "model_load_s": round(load_s, 2),
        "wall_s": round(report.seconds, 1),
    }


def run(settings: Settings, notes: list[str], times: NoteTimes) -> tuple[DistillReport, float]:
    """The run's report and the seconds it took to load the model beforehand."""
    llm = llm_from_settings(settings.llm)
    start = time.perf_counter()
    llm.loaded()  # type: ignore[attr-defined]
    load_s = time.perf_counter() - start
    return distill(settings, Selection(notes=tuple(notes)), llm=llm, progress=times), load_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=3, help="How many notes (31: all).")
    args = parser.parse_args()
    paths = spread(list(iter_note_paths(VAULT)), args.notes)
    times, load_before = NoteTimes(), os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as data:
        settings = load_settings(overrides={"vault": VAULT, "data_dir": data}).settings
        report, load_s = run(settings, paths, times)
    print(report.summary())
    results = {
        "command": f"benchmarks/distill_speed.py --notes {args.notes}",
        "model": settings.llm.model,
        "backend": settings.llm.backend,
        "max_new_tokens": settings.llm.max_new_tokens,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        },
        **figures(report, len(paths), load_s),
        "seconds_by_note": times.seconds,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
