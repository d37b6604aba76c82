"""The plot of every evaluated run: closed-book recall (ru/en: base, adapter, RAG
ceiling) and forgetting, in run order, redrawn after each evaluation."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from distill.runs import Run


def plot_runs(runs: Sequence[Run], path: Path) -> Path | None:
    """Recall (ru/en: base, adapter, RAG ceiling) and forgetting of every evaluated run,
    in run order, as a PNG at `path`; None when no run has been evaluated."""
    evaluated = [run for run in runs if "recall_adapter" in run.metrics]
    if not evaluated:
        return None
    import matplotlib

    matplotlib.use("Agg")  # files only: no display, no GUI toolkit
    import matplotlib.pyplot as plt

    labels = [run.id.split("-")[0] for run in evaluated]
    figure, (top, bottom) = plt.subplots(
        2, 1, figsize=(max(6.0, 0.7 * len(evaluated) + 3), 6), sharex=True
    )
    for language, color in (("ru", "tab:red"), ("en", "tab:blue")):
        for name, style in (("adapter", "-o"), ("base", ":"), ("rag", "--")):
            values = [_value(run.metrics.get(f"recall_{name}_{language}")) for run in evaluated]
            label = {"adapter": "adapter", "base": "base", "rag": "RAG ceiling"}[name]
            top.plot(labels, values, style, color=color, label=f"{label} ({language})")
    top.set_ylabel("closed-book recall")
    top.set_ylim(-0.02, 1.02)
    top.legend(fontsize="small", ncol=2)
    top.set_title("Held-out recall per run")
    bottom.bar(labels, [_value(run.metrics.get("forgetting")) for run in evaluated], color="gray")
    bottom.set_ylabel("forgetting (perplexity rise)")
    bottom.set_xlabel("run")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _value(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else math.nan
