"""One distillation run: select notes, make their pairs, drop near duplicates, store.

Each note is written in one transaction together with the record that it was
distilled, so a killed run loses nothing it wrote and the next run goes on with
the notes it had not reached. Only dialogue pairs exist so far: no model is
loaded or called here.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress

from distill.dedupe import NearDuplicates
from distill.pairs import STATUSES, NoteUpdate, Pair, PairFilter, PairStore
from distill.selection import Selection
from distill.sources.dialogues import dialogue_pairs
from overlay.config import Settings
from vault_schema import Note, SkippedFile, is_private, iter_note_paths, read_note

LIVE = tuple(status for status in STATUSES if status != "stale")


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
                f"time: {self.seconds:.1f} s, no model called",
            ]
        )


def _listing(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {value}" for key, value in sorted(counts.items())) or "none"


def distill(settings: Settings, selection: Selection, *, progress: bool = False) -> DistillReport:
    """Distill the selected notes of the settings' vault into the pair store."""
    started = time.monotonic()
    vault = settings.require_vault()
    report = DistillReport()
    all_paths = list(iter_note_paths(vault, settings.parse.exclude))
    with PairStore.from_settings(settings) as store:
        _forget_gone(store, set(all_paths), report)
        run = _Run(vault, settings, selection, store, report)
        paths = [path for path in all_paths if selection.wants_path(path)]
        with Progress(console=Console(stderr=True), disable=not progress, transient=True) as bar:
            task = bar.add_task("distilling", total=len(paths))
            for path in paths:
                run.path(path)
                bar.advance(task)
        report.store = store.counts()
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
    _kept: NearDuplicates | None = None

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
        self.note(note, dialogue_pairs(note, self.settings.parse))

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
        self._count(fresh, self.store.replace_note(note.path, note.content_hash, fresh))

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
