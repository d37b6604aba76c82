"""What the person said of an answer, turned into training pairs.

    overlay log rate ID bad --correct TEXT ─┐
    plugin: 👍 / 👎 / Correct ──────────────┼─▶ conversation log: rating, correction
    POST /api/v1/log/{id}/rating ───────────┘        │
        correction ──▶ pair `correction`, approved at once (the person wrote it)
        rated good ──▶ pair `rated`, pending review, made by `overlay distill`

- A correction becomes at once an *approved* pair of source `correction`: the
  question (as retrieval searched for it: a follow-up made standalone) and the
  corrected answer, linked to its log entry (`Pair.log_entry`). The next
  `overlay train` trains on it. A new correction of the same answer replaces it:
  the old pair goes stale.
- An answer rated good, and not corrected, becomes a *pending* pair of source
  `rated` when `overlay distill` runs: a rating is one click, not a reviewed text,
  so it waits for review. Its `[n]` citation markers are taken out (a model
  trained on it answers without sources). When the rating changes, or a
  correction comes, the pair goes stale.
- Neither is ever made of an answer that rests on a note that is private now.
- `plot_ratings` draws good and bad answers per adapter version next to the run
  plots: `<data dir>/runs/ratings.png`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from distill.language import detect_language
from distill.pair_records import Pair, pair_id
from distill.pairs import PairFilter, PairStore
from distill.runs import RunRegistry
from overlay.config import Settings
from overlay.core.conversations import ConversationLog, LogEntry, LogFilter
from overlay.errors import ConfigError
from vault_schema import SkippedFile, is_private, read_note

CORRECTION = "correction"
RATED = "rated"
PLOT_FILE = "ratings.png"
PERSON = "person"  # the generator of a pair the person wrote
_MARKER = re.compile(r"\s*\[\d{1,2}\]")


@dataclass(frozen=True)
class Rating:
    """What rating an answer did."""

    entry: LogEntry
    pair: Pair | None  # the correction's pair, approved
    staled: int  # pairs of the answer that went stale (an older correction, a rated pair)
    plot: Path | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "entry": self.entry.to_dict(),
            "pair": self.pair.to_dict() if self.pair else None,
            "staled": self.staled,
            "plot": str(self.plot) if self.plot else None,
        }


def rate_answer(
    settings: Settings,
    log: ConversationLog,
    entry_id: int,
    rating: str,
    correction: str | None = None,
) -> Rating:
    """Rate a logged answer `good` or `bad`; with `correction`, the answer the person
    wants instead becomes an approved training pair (see the module docstring)."""
    if correction is not None and not correction.strip():
        raise ConfigError("a correction needs text: the answer you want instead")
    entry = log.rate(entry_id, rating, correction)
    pair = correction_pair(entry) if entry.correction else None
    with PairStore.from_settings(settings) as store:
        if pair is not None:
            store.add([pair])
        staled = _stale_others(store, entry, keep=pair.id if pair else rated_pair(entry).id)
    return Rating(entry, pair, staled, plot_ratings(settings, log))


def correction_pair(entry: LogEntry) -> Pair:
    """The question and the person's corrected answer, approved."""
    return _pair(entry, CORRECTION, entry.correction, PERSON, "approved")


def rated_pair(entry: LogEntry) -> Pair:
    """The question and the answer rated good, without citation markers, pending."""
    return _pair(entry, RATED, _MARKER.sub("", entry.answer).strip(), entry.served_by, "pending")


def _pair(entry: LogEntry, source: str, answer: str, generator: str, status: str) -> Pair:
    question = entry.searched or entry.question
    messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    return Pair(
        id=pair_id(f"log/{entry.id}", source, messages),
        messages=messages,
        note_path="",
        heading="",
        content_hash="",
        source=source,
        generator=generator,
        prompt_version="",
        language=detect_language(question),
        status=status,
        note_date=datetime.fromtimestamp(entry.asked),
        log_entry=entry.id,
    )


def _stale_others(store: PairStore, entry: LogEntry, keep: str) -> int:
    """The answer's live pairs other than `keep` (and a rated pair unless the answer
    is still rated good and uncorrected) go stale."""
    wanted = keep if entry.correction or entry.rating == "good" else None
    ids = [
        pair.id
        for pair in store.list(PairFilter(source=(CORRECTION, RATED)))
        if pair.log_entry == entry.id and pair.id != wanted and pair.status != "stale"
    ]
    return store.set_status(ids, "stale")


def sync_rated(settings: Settings, store: PairStore) -> tuple[list[Pair], int]:
    """Make the pending pairs of the answers rated good (run by `overlay distill`);
    returns the pairs that are new (or revived) and how many went stale."""
    vault, tags = settings.require_vault(), settings.parse.private_tags
    with ConversationLog.from_settings(settings) as log:
        good = log.list(LogFilter(rating="good", limit=None))
    made = [
        rated_pair(entry)
        for entry in good
        if not entry.correction and not _rests_on_private(entry, vault, tags)
    ]
    added = set(store.add(made))
    live = {pair.id for pair in made}
    gone = [
        pair.id
        for pair in store.list(PairFilter(source=(RATED,)))
        if pair.id not in live and pair.status != "stale"
    ]
    return [pair for pair in made if pair.id in added], store.set_status(gone, "stale")


def _rests_on_private(entry: LogEntry, vault: Path, private_tags: list[str]) -> bool:
    for source in entry.sources:
        try:
            if is_private(read_note(vault, source["note_path"]), private_tags):
                return True
        except SkippedFile:
            return True  # gone: nothing shows it is not private now
    return False


# ---- the plot ----


def rating_counts(entries: list[LogEntry], order: list[str]) -> dict[str, dict[str, int]]:
    """Good and bad answers per adapter version ('base' for the base model), the
    versions in `order` first (run order), then any other in name order."""
    counts: dict[str, dict[str, int]] = {}
    for entry in entries:
        if entry.rating:
            version = entry.adapter or "base"
            counts.setdefault(version, {"good": 0, "bad": 0})[entry.rating] += 1
    ranked = ["base", *order]
    return dict(
        sorted(
            counts.items(),
            key=lambda kv: (ranked.index(kv[0]) if kv[0] in ranked else len(ranked), kv[0]),
        )
    )


def plot_ratings(settings: Settings, log: ConversationLog) -> Path | None:
    """Good and bad answers per adapter version, as a PNG beside the run plots; None
    when no answer is rated yet."""
    from distill.promotion import adapter_name

    with RunRegistry.from_settings(settings) as registry:
        order = [adapter_name(run.id) for run in registry.list()]
        path = registry.runs_dir / PLOT_FILE
    counts = rating_counts(log.list(LogFilter(limit=None)), order)
    if not counts:
        return None
    return _draw(counts, path)


def _draw(counts: dict[str, dict[str, int]], path: Path) -> Path:
    # The object API, not pyplot: the server draws from several threads.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    labels = [name.removeprefix("overlay-").split("-")[0] for name in counts]
    good = [c["good"] for c in counts.values()]
    bad = [c["bad"] for c in counts.values()]
    figure = Figure(figsize=(max(6.0, 0.8 * len(labels) + 3), 4))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.bar(labels, good, color="tab:green", label="good")
    axes.bar(labels, bad, bottom=good, color="tab:red", label="bad")
    for x, (up, down) in enumerate(zip(good, bad, strict=True)):
        axes.text(x, up + down, f"{up / (up + down):.0%} good", ha="center", va="bottom")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylim(0, max(u + d for u, d in zip(good, bad, strict=True)) * 1.2)
    axes.set_ylabel("rated answers")
    axes.set_xlabel("adapter version (run)")
    axes.set_title("Answer ratings per adapter version")
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the bars, not on them
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path
