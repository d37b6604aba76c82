"""Pairs as training data: JSONL in TRL's conversational formats, or a `datasets` dataset."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from distill.pairs import Pair
from overlay.errors import ConfigError, DependencyMissing

FORMATS = ("messages", "prompt-completion")


def training_row(pair: Pair, fmt: str) -> dict[str, Any]:
    """One example: `{"messages": […]}` or `{"prompt": […], "completion": [last message]}`."""
    if fmt == "messages":
        return {"messages": pair.messages}
    if fmt == "prompt-completion":
        return {"prompt": pair.messages[:-1], "completion": pair.messages[-1:]}
    raise ConfigError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")


def export_pairs(
    pairs: Sequence[Pair], fmt: str, *, out: Path | None = None, dataset: Path | None = None
) -> int:
    """Write the pairs as JSONL to `out` and/or a saved dataset in `dataset`; returns the count.

    Held-out pairs are for evaluation and never written here, whatever the caller passed.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    rows = [training_row(pair, fmt) for pair in pairs if not pair.held_out]
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    if dataset is not None:
        try:
            from datasets import Dataset
        except ImportError as error:
            raise DependencyMissing("datasets", "exporting a dataset") from error
        Dataset.from_list(rows).save_to_disk(str(dataset))
    return len(rows)
