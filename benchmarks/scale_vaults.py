"""The two vaults of benchmarks/scale.py, built and indexed once into a work folder and reused.

    PYTHONPATH=. nice -n 5 .venv/bin/python -m benchmarks.scale_vaults /tmp/ov-scale

- `generated`: 20,000 notes grown from the public vaults (`vaults.build_generated_vault`).
- `entity`: the 994 HotpotQA passages of hotpotqa-100 (`vaults.build_hotpotqa_vault`) six
  times over, each copy in its own folder with the same note names (so a title a question
  names is the name of six notes) and its text marked with the copy number (so copies
  share no chunk): 5,964 notes dense with named entities.

Both are indexed with the hash embedder (embedding 60,000 chunks with a real model takes
hours on two cores; search time depends on the index's size, not the vectors' meaning).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks.vaults import build_generated_vault, build_hotpotqa_vault
from overlay.config import Settings
from overlay.core.memory import Memory

GENERATED_NOTES = 20_000
ENTITY_COPIES = 6


def settings_for(root: Path) -> Settings:
    return Settings.model_validate(
        {"vault": root / "vault", "data_dir": root / "data", "index": {"embedder": "hash"}}
    )


def build_entity_vault(dest: Path, copies: int = ENTITY_COPIES) -> int:
    written = 0
    for copy in range(copies):
        folder = dest / f"hotpot-{copy}"
        for path in build_hotpotqa_vault(folder).values():
            note = folder / path
            note.write_text(f"{note.read_text(encoding='utf-8')}(copy {copy})\n", "utf-8")
            written += 1
    return written


def prepare(root: Path, kind: str) -> Settings:
    """The vault of `kind` under `root`, built and indexed unless it is already."""
    settings = settings_for(root)
    if not (root / "vault").is_dir():
        if kind == "generated":
            build_generated_vault(root / "vault", GENERATED_NOTES)
        else:
            build_entity_vault(root / "vault")
    if not (root / "indexed").exists():
        started = time.perf_counter()
        memory = Memory(settings)
        try:
            memory.sync()
        finally:
            memory.close()
        (root / "indexed").write_text(f"{time.perf_counter() - started:.1f}\n")
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("work", type=Path)
    args = parser.parse_args()
    for kind in ("generated", "entity"):
        prepare(args.work / kind, kind)
        print(kind, "indexed in", (args.work / kind / "indexed").read_text().strip(), "s")


if __name__ == "__main__":
    main()
