"""Indexing speed: a full index against the embedder alone, a no-change restart, a one-note
edit through the watcher (save -> searchable), and peak memory.

    .venv/bin/python -m benchmarks.index_throughput --vault hotpotqa
    .venv/bin/python -m benchmarks.index_throughput --vault generated --notes 10000 \\
        --embedder sentence-transformers --own-sample 2000

`--vault hotpotqa` is the 994 HotpotQA passages as notes, `generated` a vault of
`--notes` notes grown from the public vaults (see benchmarks/vaults.py). The pipeline's
overhead is the full index's time over the time the embedder alone needs for the same
chunk texts in the same batches (`--own-sample N` times the embedder on N of them and
scales up, for vaults too large to embed twice). Wall times on a shared machine count
other people's jobs too, so CPU seconds (all threads of this process) are recorded next
to them, with the load average. Results: benchmarks/results/index_<vault>_<embedder>.json.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.record import write_results
from benchmarks.vaults import build_generated_vault, build_hotpotqa_vault
from indexer.embedders import CountingEmbedder, embedder_from_settings
from indexer.store import Store
from indexer.sync import Indexer
from indexer.watcher import Watcher
from overlay.cli.progress import stderr_bars
from overlay.config import Settings


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Clock:
    """Wall and CPU seconds of a block."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def build_vault(kind: str, dest: Path, notes: int) -> int:
    if kind == "hotpotqa":
        return len(build_hotpotqa_vault(dest))
    return build_generated_vault(dest, notes)


def full_index(settings: Settings, embedder: CountingEmbedder, progress: bool) -> dict[str, Any]:
    store = Store.from_settings(settings)
    with stderr_bars(enabled=progress, transient=False) as tell, Clock() as clock:
        report = Indexer(settings, store, embedder, progress=tell).sync()
    stats = store.stats()
    store.close()
    return {
        "notes": stats.notes,
        "chunks": stats.chunks,
        "distinct_chunks": stats.distinct_chunks,
        "links": stats.links,
        "unresolved_links": stats.unresolved_links,
        "chunks_embedded": report.chunks_embedded,
        "seconds": round(clock.wall, 2),
        "cpu_seconds": round(clock.cpu, 2),
        "embed_seconds": round(report.embed_seconds, 2),
        "chunks_per_second": round(report.chunks_embedded / clock.wall, 2),
        "store_mib": round(stats.size_bytes / 2**20, 1),
    }


def embedder_alone(
    settings: Settings, embedder: CountingEmbedder, sample: int | None
) -> dict[str, Any]:
    """The embedder on the indexed chunk texts, in the same batches, nothing else."""
    with Store.from_settings(settings) as store:
        texts = list({c.id: c.embedding_text for c in store.chunks()}.values())
    if sample and sample < len(texts):
        texts = random.Random(0).sample(texts, sample)
    with Clock() as clock:
        embedder.inner.embed_documents(texts)
    return {
        "chunks": len(texts),
        "seconds": round(clock.wall, 2),
        "cpu_seconds": round(clock.cpu, 2),
        "chunks_per_second": round(len(texts) / clock.wall, 2),
        "chunks_per_cpu_second": round(len(texts) / clock.cpu, 2),
    }


def restart(settings: Settings, embedder: CountingEmbedder) -> dict[str, Any]:
    embedder.reset()
    with Clock() as clock:
        store = Store.from_settings(settings)
        report = Indexer(settings, store, embedder).sync()
    store.close()
    return {
        "seconds": round(clock.wall, 2),
        "cpu_seconds": round(clock.cpu, 2),
        "chunks_embedded": embedder.count,
        "notes_unchanged": report.unchanged,
    }


def edits_through_watcher(
    settings: Settings, embedder: CountingEmbedder, rounds: int
) -> dict[str, Any]:
    """Append a sentence to a note, as an editor saves it; time until it is searchable."""
    vault = settings.require_vault()
    store = Store.from_settings(settings)
    indexer = Indexer(settings, store, embedder)
    indexer.sync()
    notes = sorted(n.path for n in store.notes())
    latencies, embedded, found = [], [], []
    with Watcher(vault, indexer.sync, debounce_s=settings.index.debounce_ms / 1000):
        for round_ in range(rounds):
            path = notes[(round_ * 7919) % len(notes)]
            marker = f"Edit {round_}: the lighthouse keeper counted {round_ * 13} gulls."
            embedder.reset()
            started = time.perf_counter()
            with (vault / path).open("a", encoding="utf-8") as handle:
                handle.write(f"\n\n{marker}\n")
            while not any(marker in c.text for c in store.chunks(note_paths=[path])):
                time.sleep(0.005)
            latencies.append(time.perf_counter() - started)
            embedded.append(embedder.count)
            hits = store.dense_search(marker, embedder, k=5)
            found.append(
                any(c.note_path == path for c in store.chunks(ids=[h.chunk_id for h in hits]))
            )
    store.close()
    return {
        "rounds": rounds,
        "debounce_ms": settings.index.debounce_ms,
        "median_seconds": round(statistics.median(latencies), 3),
        "max_seconds": round(max(latencies), 3),
        "chunks_embedded_per_edit": embedded,
        "edited_note_in_dense_top5": found,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vault", choices=["hotpotqa", "generated"], default="hotpotqa")
    parser.add_argument("--notes", type=int, default=10_000, help="size of a generated vault")
    parser.add_argument("--embedder", default=None, help="index.embedder (default: settings)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--own-sample", type=int, default=None)
    parser.add_argument("--edits", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="overlay-bench-"))
    vault = work / "vault"
    with Clock() as built:
        notes = build_vault(args.vault, vault, args.notes)
    index = {"batch_size": args.batch_size} | ({"embedder": args.embedder} if args.embedder else {})
    settings = Settings.model_validate({"vault": vault, "data_dir": work / "data", "index": index})
    with Clock() as loaded:
        embedder = CountingEmbedder(embedder_from_settings(settings.index))
    rss_model = peak_rss_mib()
    result: dict[str, Any] = {
        "vault": args.vault,
        "notes_written": notes,
        "build_seconds": round(built.wall, 1),
        "embedder": embedder.name,
        "batch_size": args.batch_size,
        "model_load_seconds": round(loaded.wall, 2),
    }
    result["full_index"] = full_index(settings, embedder, args.progress)
    result["embedder_alone"] = own = embedder_alone(settings, embedder, args.own_sample)
    full = result["full_index"]
    result["pipeline_overhead"] = {
        "wall": round(own["chunks_per_second"] / full["chunks_per_second"] - 1, 3),
        "cpu": round(
            own["chunks_per_cpu_second"] * full["cpu_seconds"] / full["chunks_embedded"] - 1, 3
        ),
        "outside_embedder_share": round(1 - full["embed_seconds"] / full["seconds"], 3),
    }
    result["restart_no_change"] = restart(settings, embedder)
    result["edit_through_watcher"] = edits_through_watcher(settings, embedder, args.edits)
    result["memory"] = {
        "peak_rss_mib_after_model_load": round(rss_model, 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }
    backend = embedder.name.split(":")[0]
    name = (args.vault if args.vault == "hotpotqa" else f"generated_{notes}") + f"_{backend}"
    write_results(result, args, name=f"index_{name}")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
