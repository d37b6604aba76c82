"""The daemon's clock: periodic jobs and jobs that wait for a condition.

    Scheduler.tick(now)
    ├── Every("adapters", 5 s)              apply a promotion made elsewhere (CLI, auto training)
    ├── Every("distill", distill.schedule)  distill the notes changed since the last run
    └── When("train", enough new pairs)     train → evaluate → gates (opt-in: train.auto)

The decisions (`due`) take the time as an argument, so they are tested with a fake
clock; `ScheduleWorker` is the thin thread that calls `tick` with the real one.
When a periodic job last ran is kept in `<data dir>/schedule.json`, so a restart
neither runs everything at once nor forgets a job that was due.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from overlay.errors import ConfigError, OverlayError

log = logging.getLogger("overlay.schedule")

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
MIN_PERIOD_S = 60.0  # a distillation every few seconds is a typo, not a schedule


def parse_duration(text: str, *, minimum: float = 0.0) -> float:
    """Seconds in `text`: a number and a unit (s, m, h, d, w), e.g. '6h', '1d', '1h30m'.

    Anything else, zero, or less than `minimum` seconds is a ConfigError that
    names the accepted forms.
    """
    spec = text.strip().lower().replace(" ", "")
    parts = _PART.findall(spec)
    if not spec or "".join(n + u for n, u in parts) != spec:
        raise ConfigError(
            f"cannot read the duration {text!r}: use a number and a unit "
            "(s, m, h, d, w), e.g. '6h', '1d' or '1h30m'"
        )
    seconds = sum(float(number) * _UNITS[unit] for number, unit in parts)
    if seconds <= 0 or seconds < minimum:
        raise ConfigError(f"the duration {text!r} is too short: at least {minimum:.0f} s")
    return seconds


@dataclass
class Every:
    """A job that runs once per `period_s`, the first time one period after it starts."""

    name: str
    period_s: float
    action: Callable[[], object]

    def due(self, now: float, last: float | None, started: float) -> bool:
        return now - (started if last is None else last) >= self.period_s


@dataclass
class When:
    """A job that runs whenever `ready()` says so, checked at most once per `check_s`."""

    name: str
    ready: Callable[[], bool]
    action: Callable[[], object]
    check_s: float = 300.0


@dataclass
class Scheduler:
    """Decides which jobs are due and runs them, one at a time, in order."""

    jobs: Sequence[Every | When]
    state_file: Path | None = None
    started: float = field(default_factory=time.time)
    last_run: dict[str, float] = field(default_factory=dict)  # Every: when it last ran
    last_check: dict[str, float] = field(default_factory=dict)  # When: when it was last asked
    failures: dict[str, str] = field(default_factory=dict)  # job name → last error

    def __post_init__(self) -> None:
        if self.state_file is not None and self.state_file.is_file():
            try:
                saved = json.loads(self.state_file.read_text(encoding="utf-8"))
                self.last_run.update({k: float(v) for k, v in saved.items()})
            except (OSError, ValueError, TypeError, AttributeError):
                log.warning("ignoring the unreadable %s", self.state_file)

    def tick(self, now: float) -> list[str]:
        """Run the jobs due at `now`, in order; a job that fails is logged and tried at its
        next turn. Returns the names of the jobs that ran."""
        ran = []
        for job in self.jobs:
            if not self._is_due(job, now):
                continue
            self._run(job)
            ran.append(job.name)
            if isinstance(job, Every):
                self.last_run[job.name] = now
                self._save()
        return ran

    def _is_due(self, job: Every | When, now: float) -> bool:
        if isinstance(job, Every):
            return job.due(now, self.last_run.get(job.name), self.started)
        last_check = self.last_check.get(job.name)
        if last_check is not None and now - last_check < job.check_s:
            return False
        self.last_check[job.name] = now
        try:
            return job.ready()
        except OverlayError as error:
            self.failures[job.name] = error.message
            log.error("%s: %s", job.name, error.message)
            return False

    def _run(self, job: Every | When) -> None:
        try:
            job.action()
        except OverlayError as error:
            self.failures[job.name] = error.message
            log.error("%s failed: %s", job.name, error.message)
        except Exception as error:  # one bad run must not stop the schedule
            self.failures[job.name] = f"{type(error).__name__}: {error}"
            log.exception("%s failed", job.name)
        else:
            self.failures.pop(job.name, None)

    def _save(self) -> None:
        if self.state_file is None:
            return
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        partial = self.state_file.with_suffix(".tmp")
        partial.write_text(json.dumps(self.last_run), encoding="utf-8")
        partial.replace(self.state_file)


class ScheduleWorker:
    """Calls `scheduler.tick(time.time())` every `interval_s` on a background thread."""

    def __init__(self, scheduler: Scheduler, interval_s: float = 5.0) -> None:
        self.scheduler = scheduler
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="overlay-schedule", daemon=True)
            self._thread.start()

    def stop(self, timeout: float | None = None) -> bool:
        """Stop after the job in progress; False if it outlived `timeout`."""
        self._stop.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.scheduler.tick(time.time())
