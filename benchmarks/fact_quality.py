"""What `overlay distill --all` finds with its defaults: facts, not pairs, and none of them junk.

    nice -n 5 .venv/bin/python -m benchmarks.fact_quality [--seed 27] [--sample 30] [--data ../shared/data]

Distills (template sources, the defaults; no model) examples/vault, the blind dev
vault benchmarks/dev_sets/personal-vault-b/vault and the public vaults in
../shared/data (those present; SOURCE.md excluded), each into an empty data dir.
Per vault: notes read, facts kept and per note, pairs and pairs per fact (of them
questions, held-out questions, statements and near misses), facts dropped by each filter
(distill/fact_filters.py), and pairs that still hold markup or whose answer's
content words are all in the question (both should be 0). For the dev vault, how
many of facts.json's 56 facts a stored fact states (at least half of the fact's
content words, compared by their first five letters, in one stored statement).
Last, `--sample` random facts of examples/vault (seeded), each with its statement
and one question per language, for a blind rating. Prints all of it and writes
benchmarks/results/fact_quality.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.record import write_results  # noqa: E402
from distill.language import content_words, echoes  # noqa: E402
from distill.pairs import Pair, PairStore  # noqa: E402
from distill.pipeline import distill  # noqa: E402
from distill.restatements import LANGUAGES, _file  # noqa: E402
from distill.selection import Selection, fact_groups  # noqa: E402
from overlay.config import Settings  # noqa: E402

DEV = REPO / "benchmarks" / "dev_sets" / "personal-vault-b"
DATA = REPO / ".." / "shared" / "data"
PUBLIC = (
    "kepano-obsidian",
    "lixelv-itmo-notes-ru",
    "sorobby-obsidian-starter-vault",
    "groepl-zettelkasten-starter-kit",
    "tanepiper-obsidian-garden",
)
DECLINED = ("My notes don't", "В моих заметках н")  # near misses' answers
MARKUP = ("<!--", "-->", "```", "[[", "$$")


def distilled(vault: Path) -> tuple[dict[str, Any], list[Pair]]:
    """The vault's default distillation into an empty data dir: its report and pairs."""
    data = Path(tempfile.mkdtemp(prefix="fact-quality-"))
    settings = Settings.model_validate(
        {"vault": vault, "data_dir": data, "parse": {"exclude": ["SOURCE.md"]}}
    )
    started = time.monotonic()
    report = distill(settings, Selection(everything=True), sources=settings.distill.sources)
    with PairStore.from_settings(settings) as store:
        pairs = [pair for pair in store.list() if pair.fact]
    return {"report": report, "seconds": time.monotonic() - started}, pairs


def figures(vault: Path) -> tuple[dict[str, Any], list[Pair]]:
    run, pairs = distilled(vault)
    report = run["report"]
    facts = {pair.fact for pair in pairs}
    about = {q.split("$")[0] for language in LANGUAGES for q in _file("restatements-2")["_about"][language]}  # fmt: skip
    stated = [p for p in pairs if p.messages[0]["content"].startswith(tuple(about))]
    declined = [p for p in pairs if p.messages[-1]["content"].startswith(DECLINED)]
    junk = [p for p in pairs if any(mark in p.text() for mark in MARKUP)]
    echo = [p for p in pairs if echoes(p.messages[0]["content"], p.messages[-1]["content"])]
    notes = max(1, report.notes_read)
    return {
        "notes": report.notes_read,
        "facts": len(facts),
        "facts_per_note": round(len(facts) / notes, 2),
        "pairs": len(pairs),
        "pairs_per_fact": round(len(pairs) / max(1, len(facts)), 2),
        "statements": len(stated),
        "held_out": sum(p.held_out for p in pairs),
        "near_misses": len(declined),
        "questions": len(pairs) - len(stated),
        "dropped": dict(report.facts_dropped),
        "pairs_with_markup": len(junk),
        "answers_inside_question": len(echo),
        "seconds": round(run["seconds"], 1),
    }, pairs


def _stems(text: str) -> set[str]:
    return {word[:5] for word in content_words(text)}


def dev_coverage(pairs: list[Pair]) -> dict[str, Any]:
    """How many of the dev set's facts one stored statement states (half its words)."""
    written = json.loads((DEV / "facts.json").read_text(encoding="utf-8"))
    answers = [_stems(group[0].messages[-1]["content"]) for group in fact_groups(pairs)]
    missed = []
    for fact in written:
        wanted = _stems(fact["fact"])
        best = max((len(wanted & found) / len(wanted) for found in answers), default=0.0)
        if best < 0.5:
            missed.append(f"{fact['id']} {fact['fact']}")
    return {"facts": len(written), "covered": len(written) - len(missed), "missed": missed}


def sample(pairs: list[Pair], size: int, seed: int) -> list[dict[str, str]]:
    """`size` random facts, each with its statement (the answer its questions share)
    and one of its trained questions per language."""
    rng = random.Random(seed)
    shown = []
    for group in rng.sample(fact_groups(pairs), min(size, len(fact_groups(pairs)))):
        fact = Counter(p.messages[-1]["content"] for p in group).most_common(1)[0][0]
        asked = [p for p in group if p.messages[-1]["content"] == fact and not p.held_out]
        first = group[0]
        shown.append(
            {
                "note": first.note_path + (f" > {first.heading}" if first.heading else ""),
                "fact": fact,
                **{
                    language: rng.choice(mine).messages[0]["content"]
                    for language in LANGUAGES
                    if (mine := [p for p in asked if p.language == language])
                },
            }
        )
    return shown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=27)
    parser.add_argument("--sample", type=int, default=30)
    parser.add_argument("--data", type=Path, default=DATA, help="the public vaults' folder")
    args = parser.parse_args()
    vaults = {"examples/vault": REPO / "examples" / "vault", "personal-vault-b": DEV / "vault"}
    vaults |= {name: args.data / name for name in PUBLIC if (args.data / name).is_dir()}
    results: dict[str, Any] = {"machine": platform.machine(), "vaults": {}}
    for name, path in vaults.items():
        found, pairs = figures(path)
        results["vaults"][name] = found
        print(f"{name}: {json.dumps(found, ensure_ascii=False)}")
        if name == "examples/vault":
            results["sample"] = sample(pairs, args.sample, args.seed)
        if name == "personal-vault-b":
            results["dev_coverage"] = coverage = dev_coverage(pairs)
            print(f"dev facts stated: {coverage['covered']}/{coverage['facts']}")
            print("\n".join(f"  missed {line}" for line in coverage["missed"]))
    print(f"\n{args.sample} random facts of examples/vault (seed {args.seed}):")
    for number, shown in enumerate(results["sample"], 1):
        print(f"{number:2}. [{shown['note']}] {shown['fact']}")
        print("\n".join(f"      {lang}: {shown[lang]}" for lang in LANGUAGES if lang in shown))
    write_results(results, args)


if __name__ == "__main__":
    main()
