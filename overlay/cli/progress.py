"""The CLI's one progress renderer: `Step`s from any job as rich bars on stderr."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as Bars

from overlay.progress import Progress, Step


@contextmanager
def progress_bars(terminal: Console | None, *, transient: bool = True) -> Iterator[Progress | None]:
    """A bar per task on `terminal` (None: no bars, and None is yielded: --quiet, --json
    or no terminal); `transient` bars are erased at the end, for the summary that follows."""
    if terminal is None:
        yield None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[item]}"),
    )
    with Bars(*columns, console=terminal, transient=transient) as bars:
        tasks: dict[str, Any] = {}

        def tell(step: Step) -> None:
            if step.task not in tasks:
                tasks[step.task] = bars.add_task(step.task, total=step.total, item="")
            description = f"{step.task}, {step.label}" if step.label else step.task
            bars.update(
                tasks[step.task],
                completed=step.done,
                total=step.total,
                description=description,
                item=step.item,
            )

        yield tell


def stderr_bars(*, enabled: bool, transient: bool = True) -> Any:
    """`progress_bars` on stderr when `enabled` (the caller checked it is a terminal)."""
    return progress_bars(Console(stderr=True) if enabled else None, transient=transient)
