"""Which adapter answers: the gates a run must pass, promotion, rollback, serving.

    overlay eval RUN ──▶ metrics ──▶ check_gates ──▶ promote: set_promoted(run)   (status promoted)
                                          └──────▶ reject:  status rejected, reasons logged
    overlay adapters rollback ──▶ the adapter in service before this one (or the base)
    RunCatalog ──▶ overlay.core.llms.adapter_service.AdapterService.refresh ──▶ the backend loads the promoted adapter, chat switches, the old one goes

A run is promoted only when, on the same questions (the held-out restatements, or the
natural questions of `eval.questions` where `eval.gate` says so), its closed-book recall
beats the adapter in service (or the base model when none is) by `eval.min_recall_gain`
and its forgetting stays within `eval.forgetting_budget`; otherwise it is rejected and
the adapter in service stays. There is no way around the gates: a run that should
answer must earn it in an evaluation.

Served adapters are named `overlay-<run id>`: a new name per version, so a server
never confuses two versions and a request names exactly the adapter it means.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from distill.runs import Run, RunRegistry
from overlay.config import EvalSettings, Settings
from overlay.core.llms.adapter_hosts import ServedAdapter
from overlay.core.llms.adapter_service import CatalogedAdapter
from overlay.errors import ConfigError

log = logging.getLogger("overlay.adapters")

PREFIX = "overlay-"
BASE = "base"  # how metrics and messages name the base model
SERVABLE = ("trained", "evaluated", "promoted", "rejected", "retired")


def adapter_name(run_id: str) -> str:
    """The name a run's adapter is served under."""
    return PREFIX + run_id


def served(run: Run) -> ServedAdapter:
    return ServedAdapter(adapter_name(run.id), run.adapter)


def has_adapter(run: Run) -> bool:
    return run.status in SERVABLE and (run.adapter / "adapter_config.json").is_file()


def is_tainted(run: Run) -> bool:
    """Trained on a note forgotten since, its weights still on disk (`distill.forgetting`)."""
    return run.status == "tainted" and (run.adapter / "adapter_config.json").is_file()


# ---- gates ----


@dataclass(frozen=True)
class Verdict:
    """What the gates said of a run."""

    run: str
    promote: bool
    reasons: list[str]  # why not, when not
    incumbent: str  # the run in service it was measured against, or 'base'
    recall: float | None = None  # the run's closed-book recall
    incumbent_recall: float | None = None
    gain: float | None = None
    forgetting: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_gates(run: Run, in_service: Run | None, gates: EvalSettings) -> Verdict:
    """Whether `run` may replace `in_service` (None: the base model)."""
    metrics, reasons = run.metrics, []
    expected = in_service.id if in_service is not None else BASE
    if in_service is not None and in_service.id == run.id:
        return Verdict(run.id, False, ["it is already in service"], expected)
    if not has_adapter(run):
        return Verdict(run.id, False, [f"it has no adapter (status {run.status})"], expected)
    if "recall_adapter" not in metrics:
        return Verdict(run.id, False, [f"it is not evaluated: overlay eval {run.id}"], expected)
    if metrics.get("incumbent") != expected:
        reasons.append(
            f"it was measured against {metrics.get('incumbent')}, but {expected} is in "
            f"service now: run `overlay eval {run.id}` again"
        )
    prefix, kind = ("natural_", "natural") if gates.gate == "questions" else ("", "held-out")
    asked = int(metrics.get(f"{prefix}questions", 0))
    if asked < gates.min_questions:
        reasons.append(f"{asked} {kind} questions; the gates need {gates.min_questions}")
    recall = metrics.get(f"{prefix}recall_adapter") or 0.0
    before = metrics.get(f"{prefix}recall_incumbent")
    gain = None if before is None else round(recall - before, 4)
    if gain is None or gain < gates.min_recall_gain:
        reasons.append(
            f"{kind} recall {recall:.0%} against {before or 0:.0%} for "
            f"{metrics.get('incumbent')}: a gain of {gain or 0:+.0%}, the gate asks for "
            f"{gates.min_recall_gain:+.0%}"
        )
    lost = metrics.get("forgetting")
    if lost is None or lost > gates.forgetting_budget:
        shown = "not measured" if lost is None else f"{lost:.0%}"
        reasons.append(f"forgetting {shown}, the budget is {gates.forgetting_budget:.0%}")
    return Verdict(run.id, not reasons, reasons, expected, recall, before, gain, lost)


def promote(settings: Settings, run_id: str, *, dry_run: bool = False) -> Verdict:
    """Put the run in service if it passes the gates, else mark it `rejected` (the one in
    service stays). With `dry_run`, only say what the gates would decide."""
    with RunRegistry.from_settings(settings) as registry:
        run = registry.get(run_id)
        verdict = check_gates(run, registry.promoted(), settings.eval)
        if dry_run:
            return verdict
        fields = {k: v for k, v in verdict.to_dict().items() if k not in ("run", "promote")}
        if verdict.promote:
            registry.set_promoted(run.id)
            registry.log_event(run.id, "promoted", **fields)
        elif run.status in ("trained", "evaluated", "rejected"):
            registry.update(run.id, status="rejected")
            registry.log_event(run.id, "rejected", **fields)
    return verdict


def service_stack(history: list[tuple[Any, str | None, str | None]]) -> list[str | None]:
    """The runs that were in service, oldest first, with rollbacks undone: the last is in
    service now and the one before it is where a rollback goes (None: the base model).

    A change back to the run in service before the current one counts as a rollback.
    """
    stack: list[str | None] = [None]
    for _, run, _previous in history:
        if len(stack) >= 2 and stack[-2] == run:
            stack.pop()
        elif stack[-1] != run:
            stack.append(run)
    return stack


def rollback(settings: Settings) -> tuple[str | None, str | None]:
    """Put the adapter in service before the current one back (or the base model);
    returns (the run taken out, the run now in service), None meaning the base."""
    with RunRegistry.from_settings(settings) as registry:
        stack = service_stack(registry.promotion_history())
        if len(stack) < 2:
            raise ConfigError("nothing to roll back: the base model is in service")
        current, target = stack[-1], stack[-2]
        if target is not None and not has_adapter(registry.get(target)):
            raise ConfigError(f"cannot roll back to {target}: its adapter folder is gone")
        registry.set_promoted(target)
        assert current is not None
        registry.log_event(current, "rolled back", to=target or BASE)
        if target is not None:
            registry.log_event(target, "restored", replacing=current)
    return current, target


# ---- serving ----


class RunCatalog:
    """The adapters chat may answer with: every run with a servable adapter, read from
    the run registry when asked (a promotion made in another process is seen at once)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def adapters(self) -> list[CatalogedAdapter]:
        if not (self.settings.resolved_data_dir() / "runs.sqlite3").is_file():
            return []
        with RunRegistry.from_settings(self.settings) as registry:
            promoted = registry.promoted()
            runs = registry.list()
        in_service = promoted.id if promoted else None
        return [
            CatalogedAdapter(served(run), run.id, run.status, run.id == in_service)
            for run in runs
            if has_adapter(run)
        ] + [  # listed so a client sees why they vanished; never served
            CatalogedAdapter(served(run), run.id, run.status, in_service=False, servable=False)
            for run in runs
            if is_tainted(run)
        ]
