"""What a person does to pairs under review: approve, reject, set a status, edit
(a pair, or a fact: its statement in every one of its pairs).

`overlay pairs approve|reject|edit`, the review TUI and the HTTP API
(`/api/v1/pairs/...`, the review page) all act through these, so a bulk action
means the same pairs and an edit records the same editor wherever it is made.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from distill.pair_records import Message, Pair, Status
from distill.pairs import PairFilter, PairStore
from overlay.errors import ConfigError


@dataclass(frozen=True)
class StatusChanged:
    status: Status
    ids: list[str]  # the full ids of the pairs named
    changed: int  # how many did not have this status already


def reviewer() -> str:
    """The person this process runs for, as edits record them."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a uid without a name (some containers)
        return "unknown"


def full_ids(store: PairStore, ids: Iterable[str]) -> list[str]:
    """Ids or unique prefixes as full ids, once each; an unknown one is PairNotFound."""
    return list(dict.fromkeys(store.get(pair).id for pair in ids))


def set_status_of(store: PairStore, ids: Sequence[str], status: Status) -> StatusChanged:
    """Give the pairs named by id (or unique prefix) `status`."""
    full = full_ids(store, ids)
    return StatusChanged(status, full, store.set_status(full, status))


def set_status_where(store: PairStore, where: PairFilter, status: Status) -> StatusChanged:
    """Give every pair `where` matches `status`; without ids or a status, stale pairs
    are left alone (`PairFilter.for_bulk`). An empty filter is refused: every pair is
    too many to change by accident."""
    if where.is_empty():
        raise ConfigError("name the pairs: give ids or at least one filter")
    where = where.for_bulk()
    if where.ids:
        where = replace(where, ids=tuple(full_ids(store, where.ids)))
    ids = [pair.id for pair in store.list(where)]
    return StatusChanged(status, ids, store.set_status(ids, status))


def edit_pair(
    store: PairStore, pair_id: str, messages: Sequence[Message], editor: str | None = None
) -> Pair | None:
    """Replace a pair's messages (the old ones go to its history, its status becomes
    `edited`); None when they equal the current ones, and nothing changes."""
    pair = store.get(pair_id)
    if list(messages) == pair.messages:
        return None
    return store.edit(pair.id, messages, editor=editor or reviewer())


def edit_fact(
    store: PairStore, pairs: Sequence[Pair], old: str, new: str, editor: str | None = None
) -> list[Pair]:
    """Edit a fact: `old`, its statement as the pairs' answers hold it, becomes `new` in
    the answer of every one of its pairs (each keeps its history, becomes `edited`);
    returns the pairs that changed."""
    if not new.strip():
        raise ConfigError("a fact needs a statement; reject it instead")
    changed = []
    for pair in pairs:
        messages = [
            {**m, "content": m["content"].replace(old, new)} if m["role"] == "assistant" else m
            for m in pair.messages
        ]
        edited = edit_pair(store, pair.id, messages, editor)
        if edited is not None:
            changed.append(edited)
    return changed
