"""What a run trains on: the approved pairs, the base model's replay answers, the held-out set.

Approved and edited pairs that are not held out become TRL prompt-completion rows
(the loss falls on the final assistant message only); a `replay_share` of the
examples are the base model's own answers to general prompts (`distill.replay`),
to limit forgetting; held-out pairs nobody rejected, of the facts trained, are the
evaluation set.

`by_worth` orders the approved pairs by what is most worth remembering, so a run
that cannot take them all (`distill.budget`) takes those first.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distill.callbacks import ProgressCallback, TrainProgress
from distill.export import training_row
from distill.pairs import Pair, PairFilter, PairStore
from distill.replay import ReplaySet, load_replay_prompts, replay_cache_path
from distill.selection import Worth, facts_by_worth
from overlay.config import Settings
from overlay.errors import ConfigError

TRAINED_STATUSES = ("approved", "edited")
EVALUATED_STATUSES = ("approved", "edited", "pending")  # held-out pairs nobody rejected
Row = dict[str, Any]


@dataclass(frozen=True)
class TrainingData:
    """The examples of one run."""

    train: list[Row]  # the pairs' rows, then the replay rows
    held_out: list[Row]
    pair_ids: list[str]
    replay: int
    data_hash: str


def data_hash(pairs: Sequence[Pair]) -> str:
    """A hash of the training pairs' ids and messages: equal data, equal hash."""
    digest = hashlib.sha256()
    for pair in sorted(pairs, key=lambda p: p.id):
        digest.update(json.dumps([pair.id, pair.messages], ensure_ascii=False).encode())
    return digest.hexdigest()[:16]


def training_pairs(store: PairStore) -> list[Pair]:
    """Approved and edited pairs that are not held out: the only pairs ever trained on."""
    return store.list(PairFilter(status=TRAINED_STATUSES, held_out=False))


def require_training_pairs(store: PairStore) -> list[Pair]:
    """The training pairs, or a ConfigError saying how to get some."""
    pairs = training_pairs(store)
    if not pairs:
        raise ConfigError(
            "no approved pairs to train on: review them first (`overlay pairs review` "
            "or `overlay pairs approve`)"
        )
    return pairs


def held_out_pairs(store: PairStore) -> list[Pair]:
    """Held-out pairs nobody rejected (and not stale): the evaluation set."""
    return store.list(PairFilter(status=EVALUATED_STATUSES, held_out=True))


def held_out_of(held_out: Sequence[Pair], trained: Sequence[Pair]) -> list[Pair]:
    """The held-out pairs of the facts `trained` teaches (same note and fact): the only
    ones whose loss can say whether the run is learning, so the per-epoch evaluation
    and its early stopping look at these and not at facts left for another run."""
    taught = {(pair.note_path, pair.fact) for pair in trained}
    return [pair for pair in held_out if (pair.note_path, pair.fact) in taught]


def replay_count(pairs: int, share: float) -> int:
    """Replay examples that make up `share` of the training set beside `pairs` pairs."""
    return round(pairs * share / (1.0 - share)) if pairs else 0


def by_worth(pairs: Sequence[Pair], worth: Worth, trained: Collection[str] = ()) -> list[Pair]:
    """`pairs`, most worth remembering first, each fact's pairs together: the facts no run
    before trained on (`trained`: pair ids) ahead of the others, each part in the order of
    `selection.facts_by_worth` (asked about in the log, linked, recent, long-lived), the
    one order of worth review and training share."""
    facts = facts_by_worth(pairs, worth)
    facts.sort(key=lambda fact: any(pair.id in trained for pair in fact))  # stable
    return [pair for fact in facts for pair in fact]


def collect_data(
    settings: Settings,
    store: PairStore,
    base: Path | str,
    progress: ProgressCallback | None = None,
    pairs: Sequence[Pair] | None = None,
) -> TrainingData:
    """The run's examples (`pairs`, default every training pair); generates the replay
    answers the cache lacks."""
    pairs = list(pairs) if pairs is not None else require_training_pairs(store)
    replay = replay_set(settings, base).rows(
        replay_count(len(pairs), settings.train.replay_share),
        progress=(lambda done, total: progress(TrainProgress("replay", done, total)))
        if progress
        else None,
    )
    return TrainingData(
        train=[training_row(pair, "prompt-completion") for pair in pairs] + replay,
        held_out=[
            training_row(pair, "prompt-completion")
            for pair in held_out_of(held_out_pairs(store), pairs)
        ],
        pair_ids=[pair.id for pair in pairs],
        replay=len(replay),
        data_hash=data_hash(pairs),
    )


def replay_set(settings: Settings, base: Path | str) -> ReplaySet:
    """The replay answers of `base`, cached beside the models."""
    version, tokens = settings.train.replay_prompts, settings.train.replay_max_tokens
    path = replay_cache_path(settings.llm.resolved_models_dir(), base, version, tokens)
    return ReplaySet(path, base, load_replay_prompts(version), tokens)
