"""One distillation run: select notes, make their pairs, drop near duplicates, store.

Each note is written in one transaction together with the record that it was
distilled, so a killed run loses nothing it wrote and the next run goes on with
the notes it had not reached. Sources: `dialogue` (taken as written, no model)
and the LLM ones, `fact`, `link` and `abstention`. The LLM is made only when one
of those has a note to ask about, so a dialogue-only run never loads a model.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import Progress

from distill.dedupe import NearDuplicates
from distill.generation import Generated, Generator
from distill.judge import Judge
from distill.pairs import STATUSES, NoteUpdate, Pair, PairFilter, PairStore
from distill.selection import Selection
from distill.sources.abstention import abstention_pairs
from distill.sources.dialogues import dialogue_pairs
from distill.sources.facts import fact_pairs
from distill.sources.links import link_pairs
from overlay.config import Settings
from overlay.errors import ConfigError
from vault_schema import (
    LinkResolver,
    Note,
    SkippedFile,
    is_private,
    iter_note_paths,
    note_date,
    read_note,
    resolve_links,
)

if TYPE_CHECKING:
    from llama_index.core.llms import LLM

LIVE = tuple(status for status in STATUSES if status != "stale")
SOURCES = ("dialogue", "fact", "link", "abstention")  # the kinds of pairs, in making order


def source_names(names: Sequence[str]) -> tuple[str, ...]:
    """The sources named on the command line (`facts` means `fact`), or a ConfigError."""
    wanted = []
    for name in names:
        kind = name.strip().lower()
        kind = kind if kind in SOURCES else kind.removesuffix("s")
        if kind not in SOURCES:
            raise ConfigError(f"unknown pair source {name!r}; one of {', '.join(SOURCES)}")
        wanted.append(kind)
    return tuple(kind for kind in SOURCES if kind in wanted)


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
    pairs_known: int = 0  # made again, already in the store
    pairs_revived: int = 0
    pairs_staled: int = 0
    duplicates_dropped: int = 0
    judge_rejected: int = 0  # stored as `rejected`: not grounded in their source
    generation_failures: list[str] = field(default_factory=list)  # why a piece gave nothing
    llm_calls: int = 0
    tokens_generated: int = 0  # approximate
    store: dict[str, dict[str, int]] = field(default_factory=dict)  # PairStore.counts()
    seconds: float = 0.0

    @property
    def pairs_added(self) -> int:
        return sum(self.added_by_source.values())

    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["added_by_source"] = dict(self.added_by_source)
        data["added_by_language"] = dict(self.added_by_language)
        data["pairs_added"] = self.pairs_added
        data["seconds"] = round(self.seconds, 3)
        return data

    def summary(self) -> str:
        """The closing summary, a few lines of plain text."""
        by = _listing
        return "\n".join(
            [
                f"notes: {self.notes_read} selected, {self.notes_distilled} distilled, "
                f"{self.notes_unchanged} unchanged, {self.notes_private} private, "
                f"{len(self.skipped)} skipped, {self.notes_gone} gone",
                f"pairs added: {self.pairs_added} (by source: {by(self.added_by_source)}; "
                f"by language: {by(self.added_by_language)})",
                f"already stored: {self.pairs_known}, revived: {self.pairs_revived}, "
                f"made stale: {self.pairs_staled}, near duplicates dropped: "
                f"{self.duplicates_dropped}",
                f"store: {by(self.store.get('status', {}))}; live by source: "
                f"{by(self.store.get('source', {}))}; by language: "
                f"{by(self.store.get('language', {}))}",
                f"rejected by the groundedness judge: {self.judge_rejected}; "
                f"generation failures: {len(self.generation_failures)}",
                f"time: {self.seconds:.1f} s, "
                + (
                    f"{self.llm_calls} LLM calls, ~{self.tokens_generated} tokens generated"
                    if self.llm_calls
                    else "no model called"
                ),
            ]
        )


def _listing(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {value}" for key, value in sorted(counts.items())) or "none"


def distill(
    settings: Settings,
    selection: Selection,
    *,
    sources: Sequence[str] = SOURCES,
    progress: bool = False,
    llm: LLM | None = None,
) -> DistillReport:
    """Distill the selected notes of the settings' vault into the pair store.

    `sources` are the kinds of pairs to make (see SOURCES); `llm` replaces the
    settings' model (tests pass `distill.scripted.ScriptedLLM`).
    """
    started = time.monotonic()
    vault = settings.require_vault()
    report = DistillReport()
    all_paths = list(iter_note_paths(vault, settings.parse.exclude))
    with PairStore.from_settings(settings) as store:
        _forget_gone(store, set(all_paths), report)
        generator = Generator.from_settings(settings, llm)
        run = _Run(vault, settings, selection, store, report, source_names(sources), generator)
        run.resolver = LinkResolver(all_paths)
        paths = [path for path in all_paths if selection.wants_path(path)]
        with Progress(console=Console(stderr=True), disable=not progress, transient=True) as bar:
            task = bar.add_task("distilling", total=len(paths))
            for path in paths:
                run.path(path)
                bar.advance(task)
        report.store = store.counts()
    report.llm_calls, report.tokens_generated = generator.calls, generator.tokens
    report.judge_rejected = run.judge.rejected
    report.seconds = time.monotonic() - started
    return report


def _forget_gone(store: PairStore, present: set[str], report: DistillReport) -> None:
    for path in sorted(store.distilled_paths() - present):
        report.pairs_staled += store.forget_note(path)
        report.notes_gone += 1


@dataclass
class _Run:
    vault: Path
    settings: Settings
    selection: Selection
    store: PairStore
    report: DistillReport
    sources: tuple[str, ...]
    generator: Generator
    resolver: LinkResolver | None = None
    _kept: NearDuplicates | None = None

    def __post_init__(self) -> None:
        distill = self.settings.distill
        judge = self.generator if distill.llm_judge else None
        self.judge = Judge(distill.min_lexical, distill.min_judge, judge)

    @property
    def kept(self) -> NearDuplicates:
        """Every live pair's signature, built when the first note needs it: a run that
        finds nothing changed never pays for hashing the store."""
        if self._kept is None:
            self._kept = NearDuplicates()
            for pair in self.store.list(PairFilter(status=LIVE)):
                self._kept.add(pair.id, pair.text())
        return self._kept

    def path(self, path: str) -> None:
        """Read one note and, when it is selected, new or changed, store its pairs."""
        try:
            note = read_note(self.vault, path, max_bytes=self.settings.parse.max_file_bytes)
        except SkippedFile as skipped:
            self.report.skipped.append((path, skipped.warning.message))
            return
        if is_private(note, self.settings.parse.private_tags):
            self.report.notes_private += 1
            if self.store.distilled_hash(path) is not None:  # it became private: stop using it
                self.report.pairs_staled += self.store.forget_note(path)
            return
        if not self.selection.wants_note(note, self.settings.parse):
            return
        self.report.notes_read += 1
        if not self.selection.everything and self.store.distilled_hash(path) == note.content_hash:
            self.report.notes_unchanged += 1
            return
        self.note(note, self.make(note))

    def make(self, note: Note) -> list[Pair]:
        """The note's pairs from every source of this run, the generated ones judged."""
        parse = self.settings.parse
        made = dialogue_pairs(note, parse) if "dialogue" in self.sources else []
        if self.sources == ("dialogue",):
            return made
        date = note_date(
            note, user_callouts=parse.user_callouts, assistant_callouts=parse.assistant_callouts
        )
        for source in self.sources:
            generated = self._generate(source, note, date)
            self.report.generation_failures.extend(generated.failures)
            for pair, text in generated.pairs:
                made.append(pair if source == "abstention" else self.judge(pair, text))
        return made

    def _generate(self, source: str, note: Note, date: datetime) -> Generated:
        if source == "fact":
            return fact_pairs(note, self.generator, self.settings.distill, date)
        if source == "link":
            return link_pairs(note, self._linked(note), self.generator, date)
        if source == "abstention":
            return abstention_pairs(note, self.generator, date)
        return Generated()

    def _linked(self, note: Note) -> list[Note]:
        """The readable, non-private notes this note links to, in link order."""
        assert self.resolver is not None
        targets = dict.fromkeys(
            link.resolved
            for link in resolve_links(note, self.resolver).links
            if link.resolved and link.resolved.endswith(".md") and link.resolved != note.path
        )
        linked = []
        for path in targets:
            try:
                other = read_note(self.vault, path, max_bytes=self.settings.parse.max_file_bytes)
            except SkippedFile:
                continue
            if not is_private(other, self.settings.parse.private_tags):
                linked.append(other)
        return linked

    def note(self, note: Note, made: list[Pair]) -> None:
        """Keep the note's new pairs that repeat nothing kept, then write them in one go."""
        known = {pair.id for pair in self.store.list(PairFilter(note=note.path))}
        for old in known:  # the note's old text must not count as a duplicate of its new text
            self.kept.remove(old)
        fresh = []
        for pair in made:
            if pair.id not in known and self.kept.duplicate_of(pair.text()) is not None:
                self.report.duplicates_dropped += 1
                continue
            fresh.append(pair)
            self.kept.add(pair.id, pair.text())
        update = self.store.replace_note(note.path, note.content_hash, fresh, self.sources)
        self._count(fresh, update)

    def _count(self, stored: list[Pair], update: NoteUpdate) -> None:
        report, added = self.report, set(update.added)
        for pair in stored:
            if pair.id in added:
                report.added_by_source[pair.source] += 1
                report.added_by_language[pair.language] += 1
        report.pairs_known += len(stored) - len(added) - len(update.revived)
        report.pairs_revived += len(update.revived)
        report.pairs_staled += update.staled
        report.notes_distilled += 1
