"""Parsing speed: notes per second of `load_vault` over all public vaults together.

Run from the repository root:

    .venv/bin/python -m benchmarks.parse_speed [--repeat 10]

Each round loads every vault in ../shared/data (SOURCE.md excluded): list the
files, read, parse and resolve links, as the indexer does on start. The best
round counts (the one least disturbed by other work on the machine); CPU time
of that round is reported too, and the load average, because the development
machine is shared. Chunking the loaded notes (`chunk_note`, 256 tokens) is
measured the same way. Prints the figures and writes
benchmarks/results/parse_speed.json.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from benchmarks.record import write_results
from benchmarks.vaults import PUBLIC_VAULTS, SHARED_DATA
from vault_schema import Note, chunk_note, load_vault


def load_all() -> list[Note]:
    notes: list[Note] = []
    for name in PUBLIC_VAULTS:
        notes.extend(load_vault(SHARED_DATA / name, exclude=["SOURCE.md"]).notes.values())
    return notes


def chunk_all(notes: list[Note]) -> int:
    return sum(len(chunk_note(note, 256)) for note in notes)


def best_of(repeat: int, work: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall seconds, CPU seconds) of the fastest of `repeat` rounds."""
    rounds = []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = work()
        rounds.append((time.perf_counter() - wall, time.process_time() - cpu, result))
    wall_s, cpu_s, result = min(rounds, key=lambda entry: entry[0])
    return result, wall_s, cpu_s


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=10, help="rounds; the fastest counts")
    args = parser.parse_args()
    load_all()  # warm the OS file cache: rounds measure parsing, not the disk
    notes, load_wall, load_cpu = best_of(args.repeat, load_all)
    chunks, chunk_wall, chunk_cpu = best_of(args.repeat, lambda: chunk_all(notes))
    result = {
        "vaults": list(PUBLIC_VAULTS),
        "notes": len(notes),
        "repeat": args.repeat,
        "load_vault_seconds": round(load_wall, 4),
        "load_vault_cpu_seconds": round(load_cpu, 4),
        "notes_per_second": round(len(notes) / load_wall, 1),
        "notes_per_cpu_second": round(len(notes) / load_cpu, 1),
        "chunks": chunks,
        "chunk_note_seconds": round(chunk_wall, 4),
        "chunk_note_cpu_seconds": round(chunk_cpu, 4),
        "chunked_notes_per_second": round(len(notes) / chunk_wall, 1),
    }
    write_results(result, args)
    print(
        f"load_vault: {len(notes)} notes in {load_wall:.3f} s (CPU {load_cpu:.3f} s, best of "
        f"{args.repeat}): {result['notes_per_second']} notes/s"
    )
    print(
        f"chunk_note: {chunks} chunks in {chunk_wall:.3f} s: "
        f"{result['chunked_notes_per_second']} notes/s"
    )


if __name__ == "__main__":
    main()
