"""What a distillation run did: counts by source, language and status, rejections,
failures and model use, for the closing summary and `--json`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from distill.generation import REJECTION_CHECKS, Rejection


@dataclass
class DistillReport:
    """What a run did, for the closing summary and `--json`."""

    notes_read: int = 0  # read and matched the selection
    notes_distilled: int = 0  # new or changed, so their pairs were made again
    notes_unchanged: int = 0  # same content as at their last distillation
    notes_private: int = 0
    notes_gone: int = 0  # distilled before, no longer in the vault
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    added_by_source: Counter[str] = field(default_factory=Counter)
    added_by_language: Counter[str] = field(default_factory=Counter)
    added_by_status: Counter[str] = field(default_factory=Counter)  # pending or rejected
    pairs_known: int = 0  # made again, already in the store
    pairs_revived: int = 0
    pairs_staled: int = 0
    duplicates_dropped: int = 0
    facts_kept: int = 0  # facts the template sources found and asked about
    facts_dropped: Counter[str] = field(default_factory=Counter)  # by reason (fact_filters)
    judge_rejected: int = 0  # stored as `rejected`: not grounded in their source
    quality_rejections: list[Rejection] = field(default_factory=list)  # thrown out, not stored
    generation_failures: list[str] = field(default_factory=list)  # why a piece gave nothing
    sources_skipped: list[str] = field(default_factory=list)  # '<source>: why', one line each
    llm_calls: int = 0
    tokens_generated: int = 0  # as the server reported them or by the model's tokenizer
    tokens_estimated: int = 0  # the part of tokens_generated only estimated (no tokenizer)
    store: dict[str, dict[str, int]] = field(default_factory=dict)  # PairStore.counts()
    seconds: float = 0.0

    @property
    def pairs_added(self) -> int:
        return sum(self.added_by_source.values())

    @property
    def pairs_made(self) -> int:
        """Every pair the sources made, before near duplicates were dropped."""
        kept = self.pairs_added + self.pairs_known + self.pairs_revived
        return kept + self.duplicates_dropped

    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        for name in ("added_by_source", "added_by_language", "added_by_status", "facts_dropped"):
            data[name] = dict(getattr(self, name))
        data["quality_rejections"] = [vars(rejection) for rejection in self.quality_rejections]
        data["pairs_added"] = self.pairs_added
        data["pairs_made"] = self.pairs_made
        data["seconds"] = round(self.seconds, 3)
        return data

    def summary(self) -> str:
        """The closing summary, a few lines of plain text."""
        by = _listing
        return "\n".join(
            [
                f"notes read: {self.notes_read} ({self.notes_distilled} distilled, "
                f"{self.notes_unchanged} unchanged); {self.notes_private} private, "
                f"{len(self.skipped)} skipped, {self.notes_gone} gone",
                f"pairs added: {self.pairs_added} (by source: {by(self.added_by_source)}; "
                f"by language: {by(self.added_by_language)})",
                f"pairs added by status: {by(self.added_by_status)}",
                f"pairs made: {self.pairs_made}; near duplicates dropped: "
                f"{self.duplicates_dropped}; rejected by the groundedness judge: "
                f"{self.judge_rejected}; generation failures: {len(self.generation_failures)}",
                f"facts: {self.facts_kept} kept; dropped: {_listing(self.facts_dropped)}",
                f"rejected by the quality checks: {len(self.quality_rejections)}"
                f"{self._rejections_by_check()}",
                f"already stored: {self.pairs_known}, revived: {self.pairs_revived}, "
                f"made stale: {self.pairs_staled}",
                f"store: {by(self.store.get('status', {}))}; live by source: "
                f"{by(self.store.get('source', {}))}; by language: "
                f"{by(self.store.get('language', {}))}",
                f"time: {self.seconds:.1f} s; {self._model_work()}",
            ]
            + [f"skipped {line}" for line in self.sources_skipped]
        )

    def _rejections_by_check(self) -> str:
        counts = Counter(REJECTION_CHECKS[r.check] for r in self.quality_rejections)
        return f" ({_listing(counts)})" if counts else ""

    def _model_work(self) -> str:
        if not self.llm_calls:
            return "no model called"
        tokens, estimated = self.tokens_generated, self.tokens_estimated
        how = (
            "counted"
            if not estimated
            else "estimated"
            if estimated == tokens
            else f"{estimated} of them estimated"
        )
        return f"{self.llm_calls} LLM calls, {tokens} tokens generated ({how})"


def _listing(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {value}" for key, value in sorted(counts.items())) or "none"
