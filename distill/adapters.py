"""Which adapter answers: the gates a run must pass, promotion, rollback, serving.

    overlay eval RUN ──▶ metrics ──▶ check_gates ──▶ promote: set_promoted(run)   (status promoted)
                                          └──────▶ reject:  status rejected, reasons logged
    overlay adapters rollback ──▶ the adapter in service before this one (or the base)
    AdapterService.refresh ──▶ the backend loads the promoted adapter, chat switches, the old one goes

A run is promoted only when, on the same held-out questions, its closed-book recall
beats the adapter in service (or the base model when none is) by `eval.min_recall_gain`
and its forgetting stays within `eval.forgetting_budget`; otherwise it is rejected and
the adapter in service stays. There is no way around the gates: a run that should
answer must earn it in an evaluation.

Served adapters are named `overlay-<run id>`: a new name per version, so a server
never confuses two versions and a request names exactly the adapter it means.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from distill.runs import Run, RunRegistry
from overlay.config import EvalSettings, Settings
from overlay.errors import ConfigError
from overlay.llms.adapters import AdapterHost, ServedAdapter

if TYPE_CHECKING:
    from llama_index.core.llms import LLM

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
    if int(metrics.get("questions", 0)) < gates.min_questions:
        reasons.append(
            f"{metrics.get('questions', 0)} held-out questions; the gates need "
            f"{gates.min_questions}"
        )
    recall, before = metrics["recall_adapter"], metrics.get("recall_incumbent")
    gain = None if before is None else round(recall - before, 4)
    if gain is None or gain < gates.min_recall_gain:
        reasons.append(
            f"recall {recall:.0%} against {before or 0:.0%} for {metrics.get('incumbent')}: "
            f"a gain of {gain or 0:+.0%}, the gate asks for {gates.min_recall_gain:+.0%}"
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


@dataclass(frozen=True)
class ModelEntry:
    """A model chat can name: the base, or an adapter (with the run it came from)."""

    id: str
    parent: str | None = None  # the base model, for an adapter
    run: str | None = None
    status: str | None = None
    promoted: bool = False  # the adapter answering by default


@dataclass
class AdapterService:
    """What answers chat: the promoted adapter by default (or `llm.adapter` when set),
    or an adapter a request names; `refresh` applies a promotion made anywhere.

    The registry is read when asked (an `overlay adapters promote` in another process
    is seen at the next refresh); the backend loads an adapter only when it answers.
    """

    settings: Settings
    host: AdapterHost
    _default: ServedAdapter | None = None
    _refreshed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _changing: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_name(self) -> str:
        return self.settings.llm.model

    def models(self) -> list[ModelEntry]:
        """The base model first, then every adapter a request may name."""
        entries = [ModelEntry(self.base_name)]
        pinned = self.pinned()
        wanted = pinned.name if pinned else None
        for run, in_service in self._runs():
            name = adapter_name(run.id)
            promoted = name == wanted if pinned else in_service
            entries.append(ModelEntry(name, self.base_name, run.id, run.status, promoted))
        if pinned is not None and all(e.id != pinned.name for e in entries):
            entries.append(ModelEntry(pinned.name, self.base_name, promoted=True))
        entries += [  # named so a client sees why they vanished; never served
            ModelEntry(adapter_name(run.id), self.base_name, run.id, run.status)
            for run in self._tainted()
        ]
        return entries

    def llm(self, name: str | None = None) -> LLM:
        """The LLM for a request: `name` an adapter's name, else the default one."""
        if name is not None and name != self.base_name:
            return self.host.llm(self._named(name))
        if not self._refreshed:
            self.refresh()
        with self._lock:
            default = self._default
        return self.host.llm(default) if default is not None else self.host.llm(None)

    @property
    def default_name(self) -> str:
        """The name of what answers by default."""
        return self._default.name if self._default is not None else self.base_name

    def refresh(self) -> str | None:
        """Serve the adapter that should answer by default now; load it first, switch,
        then unload the one it replaces. Returns a message when something changed."""
        with self._changing:
            wanted = self.pinned() or self._promoted()
            self._refreshed = True
            if wanted == self._default:
                if wanted is not None:
                    self.host.llm(wanted)  # reloads it if the server lost it (a restart)
                return None
            self.host.llm(wanted)  # loaded before anyone is switched to it
            with self._lock:
                old, self._default = self._default, wanted
            if old is not None:
                self.host.unload(old)
        message = f"answering with {self.default_name} (was {old.name if old else self.base_name})"
        log.info(message)
        return message

    def pinned(self) -> ServedAdapter | None:
        """`llm.adapter`: an adapter's served name, a run's adapter name or a folder."""
        setting = self.settings.llm.adapter
        if not setting:
            return None
        from pathlib import Path

        folder = Path(setting).expanduser().resolve()
        for run, _ in self._runs():
            if setting == adapter_name(run.id) or run.adapter.resolve() == folder:
                return served(run)
        if folder.is_dir():
            return ServedAdapter(folder.name, folder)
        return ServedAdapter(setting, None)

    def _named(self, name: str) -> ServedAdapter:
        pinned = self.pinned()
        if pinned is not None and pinned.name == name:
            return pinned
        for run, _ in self._runs():
            if adapter_name(run.id) == name:
                return served(run)
        raise ConfigError(f"no adapter named {name!r}; GET /v1/models lists them")

    def _promoted(self) -> ServedAdapter | None:
        for run, in_service in self._runs():
            if in_service:
                return served(run)
        return None

    def _tainted(self) -> list[Run]:
        if not (self.settings.resolved_data_dir() / "runs.sqlite3").is_file():
            return []
        with RunRegistry.from_settings(self.settings) as registry:
            return [run for run in registry.list() if is_tainted(run)]

    def _runs(self) -> list[tuple[Run, bool]]:
        """(run, in service) for each run with a servable adapter; none without a registry."""
        data = self.settings.resolved_data_dir()
        if not (data / "runs.sqlite3").is_file():
            return []
        with RunRegistry.from_settings(self.settings) as registry:
            promoted = registry.promoted()
            runs = registry.list()
        in_service = promoted.id if promoted else None
        return [(run, run.id == in_service) for run in runs if has_adapter(run)]


# ---- training on its own (train.auto) ----


def new_trainable_pairs(settings: Settings) -> int:
    """Approved pairs (not held out) that the latest training run did not train on."""
    from distill.pairs import PairStore
    from distill.training import training_pairs

    with PairStore.from_settings(settings) as store:
        trainable = {pair.id for pair in training_pairs(store)}
    if not (settings.resolved_data_dir() / "runs.sqlite3").is_file():
        return len(trainable)
    with RunRegistry.from_settings(settings) as registry:
        runs = registry.list()
    seen = set(runs[-1].config.get("pair_ids", [])) if runs else set()
    return len(trainable - seen)


def train_and_promote(settings: Settings, *, llm: Any = None, retriever: Any = None) -> Verdict:
    """Train on the approved pairs, evaluate the run, and promote it if the gates let it.

    `llm` (an in-process TransformersLLM to share) and `retriever` are handed to
    `distill.evaluation.evaluate`.
    """
    from distill.evaluation import evaluate
    from distill.training import train

    run = train(settings)
    log.info("trained %s; evaluating it", run.id)
    evaluate(settings, run.id, llm=llm, retriever=retriever)
    verdict = promote(settings, run.id)
    if verdict.promote:
        log.info("promoted %s: recall %+.0f%%", run.id, 100 * (verdict.gain or 0))
    else:
        log.info("%s stays out of service: %s", run.id, "; ".join(verdict.reasons))
    return verdict
