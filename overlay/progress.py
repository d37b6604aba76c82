"""How far a long job is, told through a callback: the job never draws anything.

A job (a sync, an evaluation, a distillation run) calls its `Progress` with a
`Step` as it goes; the CLI renders steps as rich bars in one place
(`overlay.cli.progress`), the daemon and tests pass none or their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Step:
    """One task's state: `done` of `total` (None: not known yet)."""

    task: str  # names the bar: "indexing", "distilling", "replay", ...
    done: int
    total: int | None
    label: str = ""  # what the bar says beside the count: "2 pairs added", "loss 0.412"
    item: str = ""  # what is worked on now: a note's path


Progress = Callable[[Step], None]
