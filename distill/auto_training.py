"""Training on its own (`train.auto`): count the newly approved pairs, then train,
evaluate and promote in one go when the daemon's schedule says enough came in; a run
whose time budget left pairs over is continued by the next (`distill.budget`)."""

from __future__ import annotations

import logging
from typing import Any

from distill.promotion import Verdict, promote
from distill.runs import RunRegistry
from overlay.config import Settings

log = logging.getLogger("overlay.adapters")


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


def continued_from(settings: Settings) -> str | None:
    """The adapter in service when its run left approved pairs for the next one (its time
    budget was spent): the next run continues from it and takes those first."""
    if not (settings.resolved_data_dir() / "runs.sqlite3").is_file():
        return None
    with RunRegistry.from_settings(settings) as registry:
        promoted = registry.promoted()
    return promoted.id if promoted and promoted.config.get("left_pairs") else None


def train_and_promote(settings: Settings, *, llm: Any = None, retriever: Any = None) -> Verdict:
    """Train on the approved pairs, evaluate the run, and promote it if the gates let it.

    `llm` (an in-process TransformersLLM to share) and `retriever` are handed to
    `distill.evaluation.evaluate`.
    """
    from distill.evaluation import evaluate
    from distill.training import train

    run = train(settings, parent=continued_from(settings))
    log.info("trained %s; evaluating it", run.id)
    evaluate(settings, run.id, llm=llm, retriever=retriever)
    verdict = promote(settings, run.id)
    if verdict.promote:
        log.info("promoted %s: recall %+.0f%%", run.id, 100 * (verdict.gain or 0))
    else:
        log.info("%s stays out of service: %s", run.id, "; ".join(verdict.reasons))
    return verdict
