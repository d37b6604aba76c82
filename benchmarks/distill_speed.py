"""How fast distillation makes training pairs, and how many survive dedupe and the judge.

    .venv/bin/python -m benchmarks.distill_speed --templates
    OVERLAY_MODELS_DIR=data/models flock /tmp/overlay-heavy.lock \
        .venv/bin/python -m benchmarks.distill_speed [--notes 4] [--max-new-tokens 192]

`--templates`: the sources that need no model (property, section, relation; the
default of `overlay distill`), each alone over every note of examples/vault into an
empty data dir, then all of them together as `overlay distill --all` runs them;
prints pairs per minute per source and seconds per 10 notes, and writes
benchmarks/results/distill_speed_templates.json. Without it:

Runs the real pipeline (`distill.pipeline.distill`, every source, default distill
settings, the LLM judge on) on examples/vault into an empty data dir, with
SmolLM2-135M-Instruct behind a real vLLM server (`.vllm-venv`, made by
scripts/setup-vllm.sh; started as the integration tests start it) through the
`openai` backend, so every answer is structured output (a JSON schema), greedy.
`--notes N` takes N notes spread evenly over the vault's sorted paths (0: all of
them; a private one is read and skipped). On a 2-core CPU a note costs a minute or
more (every section, link and answer is a call of up to `--max-new-tokens`), hence
the default of 4; each note's time goes to stderr as it finishes. The server's
start is reported apart, not timed with the run. Figures: notes, LLM calls,
tokens generated (as the server counted them), pairs made (before dedupe and
judging), kept after dedupe, kept after the judge (stored, not rejected), the
shares kept, questions thrown out by the quality checks (wrong language, an
abstention question the vault answers: never pairs, so outside the shares),
pairs per minute (made and kept) and wall time. Prints and writes
benchmarks/results/distill_speed.json. Set OVERLAY_MODELS_DIR to reuse a
converted model; else one is made in a temp dir.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.record import write_results
from distill.pipeline import distill
from distill.reports import DistillReport
from distill.selection import Selection
from overlay.config import Settings, default_models_dir
from overlay.config_loading import load_settings
from overlay.core.model_files import BUNDLED, ensure_converted
from vault_schema import iter_note_paths

REPO = Path(__file__).resolve().parents[1]
VAULT = REPO / "examples" / "vault"
MODEL = "smollm2-135m-instruct"


def spread(paths: list[str], count: int) -> list[str]:
    """`count` of the paths, evenly spaced (the middle of each stretch), so a few notes
    come from several folders; 0 or more than there are: all of them."""
    if count <= 0 or count >= len(paths):
        return paths
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


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def figures(report: DistillReport, notes: int) -> dict[str, Any]:
    """The run's figures; `made` counts every pair the sources made, before dedupe."""
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
        "share_kept_after_dedupe": _share(after_dedupe, made),
        "share_kept": _share(after_judge, made),
        "pairs_per_minute_made": round(made / minutes, 1),
        "pairs_per_minute_kept": round(after_judge / minutes, 1),
        "tokens_per_second": round(report.tokens_generated / report.seconds, 1),
        "duplicates_dropped": report.duplicates_dropped,
        "judge_rejected": report.judge_rejected,
        "quality_rejected": dict(Counter(r.check for r in report.quality_rejections)),
        "generation_failures": len(report.generation_failures),
        "added_by_source": dict(report.added_by_source),
        "added_by_status": dict(report.added_by_status),
        "pairs_per_minute_by_source": {
            source: round(count / minutes, 1) for source, count in report.added_by_source.items()
        },  # each source's pairs over the whole run's time: the sources share the run
        "wall_s": round(report.seconds, 1),
    }


TEMPLATED = ("property", "section", "relation")


def templates(args: argparse.Namespace) -> None:
    """The template sources' speed on the whole example vault (see the docstring)."""
    results: dict[str, Any] = {}
    for sources in [*((source,) for source in TEMPLATED), TEMPLATED]:
        with tempfile.TemporaryDirectory() as data:
            settings = Settings.model_validate({"vault": VAULT, "data_dir": data})
            report = distill(settings, Selection(everything=True), sources=sources)
        name = "+".join(sources)
        results[name] = {
            "notes_read": report.notes_read,
            "pairs": report.pairs_added,
            "seconds": round(report.seconds, 2),
            "pairs_per_minute": round(report.pairs_added / report.seconds * 60),
            "seconds_per_10_notes": round(report.seconds / report.notes_read * 10, 2),
            "llm_calls": report.llm_calls,
        }
        print(
            f"{name}: {report.pairs_added} pairs from {report.notes_read} notes in "
            f"{report.seconds:.1f} s: {results[name]['pairs_per_minute']} pairs/min, "
            f"{results[name]['seconds_per_10_notes']} s per 10 notes"
        )
    write_results(results, args, name="distill_speed_templates")


def server_module() -> Any:
    """tests/integration/vllm_server.py: the one way this project starts vLLM."""
    sys.path.insert(0, str(REPO / "tests" / "integration"))
    import vllm_server

    if not vllm_server.VLLM_PYTHON.exists():
        sys.exit(f"no vLLM at {vllm_server.VLLM_PYTHON}: run scripts/setup-vllm.sh first")
    return vllm_server


def run(
    paths: list[str], data: Path, max_new_tokens: int, times: NoteTimes
) -> tuple[Settings, DistillReport, float]:
    """The settings, the run's report and the server's start time."""
    vllm = server_module()
    models_dir = default_models_dir() if os.environ.get("OVERLAY_MODELS_DIR") else data / "m"
    model_dir = ensure_converted(BUNDLED[MODEL], models_dir)
    start = time.perf_counter()
    server = vllm.start_server(model_dir, data / "vllm.log")
    startup_s = time.perf_counter() - start
    try:
        overrides = {
            "vault": VAULT,
            "data_dir": data / "data",
            "llm.backend": "openai",
            "llm.base_url": server.base_url,
            "llm.model": server.model,
            "llm.max_new_tokens": max_new_tokens,
        }
        settings = load_settings(overrides=overrides).settings
        report = distill(settings, Selection(notes=tuple(paths)), progress=times)
    finally:
        vllm.stop_server(server)
    return settings, report, startup_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=4, help="How many notes (0: all).")
    parser.add_argument("--max-new-tokens", type=int, default=192, help="Per LLM answer.")
    parser.add_argument("--templates", action="store_true", help="The no-model sources only.")
    args = parser.parse_args()
    if args.templates:
        templates(args)
        return
    paths = spread(list(iter_note_paths(VAULT)), args.notes)
    times = NoteTimes()
    with tempfile.TemporaryDirectory() as data:
        settings, report, startup_s = run(paths, Path(data), args.max_new_tokens, times)
    print(report.summary())
    results = {
        "model": MODEL,
        "backend": "openai (vLLM server, structured output)",
        "max_new_tokens": settings.llm.max_new_tokens,
        "questions_per_fact": settings.distill.questions_per_fact,
        "llm_judge": settings.distill.llm_judge,
        "server_start_s": round(startup_s, 1),
        **figures(report, len(paths)),
        "seconds_by_note": times.seconds,
    }
    write_results(results, args)
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
