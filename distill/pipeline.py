"""One distillation run: select notes, make their pairs, drop near duplicates, judge, store.

Each note is written in one transaction together with the record that each source
of the run distilled it, so a killed run loses nothing it wrote and the next run
goes on with the notes it had not reached; a run makes only the sources that have
not seen the note as it is now (`--all`: every source again). Sources: `dialogue`
and `scene` (taken as written, no model), `property`, `section` and `relation` (the
note's facts asked from question templates, no model: distill/restatements.py) and
the LLM ones, `fact`, `link` and `abstention`. The LLM is made only when one of
those has a note to ask about, so a run without them never loads a model; `fact` is
skipped, with a reason in the report, when the model is the embedded SmolLM2. Scene pairs are never dropped as
near duplicates: the person wrote each of them on purpose. Last, `rated`: the
answers the person rated good in the conversation log become pending pairs
(distill/ratings.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from distill.dedupe import NearDuplicates
from distill.fact_filters import FactSieve, fact_view
from distill.generation import Generated, Generator
from distill.judge import Judge
from distill.pairs import GONE, STATUSES, NoteUpdate, Pair, PairFilter, PairStore
from distill.reports import DistillReport
from distill.restatements import NEAR_MISS_SOURCE, about_person, near_miss_pairs
from distill.restatements import fact_pairs as templated_pairs
from distill.selection import Selection
from distill.sources.abstention import NoteTexts, abstention_pairs
from distill.sources.dialogues import clean_markup, dialogue_pairs
from distill.sources.facts import fact_pairs
from distill.sources.links import link_pairs
from distill.sources.properties import property_facts
from distill.sources.relations import relation_facts
from distill.sources.scenes import scene_pairs
from distill.sources.sections import section_facts
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
    vault_excludes,
)

if TYPE_CHECKING:
    from llama_index.core.llms import LLM

LIVE = tuple(status for status in STATUSES if status not in GONE)
# kinds of pairs, in making order; 'rated' (answers rated good in the conversation log,
# distill/ratings.py) is made once per run, not per note
SOURCES = (
    "dialogue",
    "scene",
    "property",
    "section",
    "relation",
    "fact",
    "link",
    "abstention",
    "rated",
)
TEMPLATED = ("property", "section", "relation")  # facts asked from templates: no model
NOTE_SOURCES = SOURCES[:-1]
PAIR_KINDS = (*SOURCES, "correction")  # corrections come from rated answers, not from a run


def source_names(names: Sequence[str], known: Sequence[str] = SOURCES) -> tuple[str, ...]:
    """The sources named by a person (`facts` means `fact`), or a ConfigError."""
    wanted = []
    for name in names:
        kind = name.strip().lower()
        if kind not in known:  # a plural: 'facts', 'properties'
            kind = (
                kind.removesuffix("ies") + "y" if kind.endswith("ies") else kind.removesuffix("s")
            )
        if kind not in known:
            raise ConfigError(f"unknown pair source {name!r}; one of {', '.join(known)}")
        wanted.append(kind)
    return tuple(kind for kind in known if kind in wanted)


ProgressHook = Callable[[int, int, str, DistillReport], None]
"""Told (notes done, notes to go through, the note read next or '' at the end, the
report so far) before each note and once when all are done."""


def distill(
    settings: Settings,
    selection: Selection,
    *,
    sources: Sequence[str] = SOURCES,
    progress: ProgressHook | None = None,
    llm: LLM | None = None,
) -> DistillReport:
    """Distill the selected notes of the settings' vault into the pair store.

    `sources` are the kinds of pairs to make (see SOURCES); `llm` replaces the
    settings' model (tests pass `distill.scripted.ScriptedLLM`); `progress` is told
    how far the run is (the CLI draws a bar with it).
    """
    started = time.monotonic()
    vault = settings.require_vault()
    report = DistillReport()
    exclude = vault_excludes(
        vault, settings.parse.exclude, templates=settings.parse.exclude_templates
    )
    all_paths = list(iter_note_paths(vault, exclude, settings.parse.file_kinds))
    with PairStore.from_settings(settings) as store:
        _forget_gone(store, set(all_paths), report)
        generator = Generator.from_settings(settings, llm)
        kinds = source_names(sources)
        if llm is None:
            kinds = _without_unfit(kinds, settings, report)
        per_note = tuple(kind for kind in kinds if kind in NOTE_SOURCES)
        run = _Run(vault, settings, selection, store, report, per_note, generator)
        run.all_paths = all_paths
        paths = [path for path in all_paths if selection.wants_path(path)]
        tell = progress or _silent
        for done, path in enumerate(paths):
            tell(done, len(paths), path, report)
            run.path(path)
        tell(len(paths), len(paths), "", report)
        if "rated" in kinds:
            _rated(settings, store, report)
        report.store = store.counts()
    report.llm_calls, report.tokens_generated = generator.calls, generator.tokens
    report.tokens_estimated = generator.tokens_estimated
    report.judge_rejected = run.judge.rejected
    report.facts_kept, report.facts_dropped = run.sieve.kept, run.sieve.dropped
    report.seconds = time.monotonic() - started
    return report


def _without_unfit(
    kinds: tuple[str, ...], settings: Settings, report: DistillReport
) -> tuple[str, ...]:
    """The sources without `fact` when the model is the embedded tiny one: it cannot write
    the two-language JSON the source asks for (measured: 0 pairs from 7 notes in 50 min)."""
    from overlay.core.model_files import BUNDLED

    embedded = settings.llm.backend == "transformers" and settings.llm.model in BUNDLED
    if "fact" not in kinds or not embedded:
        return kinds
    report.sources_skipped.append(
        f"fact: {settings.llm.model} is too small to write fact questions; the template "
        "sources (property, section, relation) ask the notes' facts instead. Configure a "
        "capable model (llm.backend openai, e.g. Qwen3 behind vLLM) for its paraphrases."
    )
    return tuple(kind for kind in kinds if kind != "fact")


_FACT_FINDERS = {
    "property": property_facts,
    "section": section_facts,
    "relation": relation_facts,
}


def _silent(done: int, total: int, path: str, report: DistillReport) -> None:
    """The progress hook of a run nobody watches: it hears and says nothing."""


def _rated(settings: Settings, store: PairStore, report: DistillReport) -> None:
    """The answers rated good in the conversation log, as pending pairs."""
    from distill.ratings import sync_rated

    added, staled = sync_rated(settings, store)
    for pair in added:
        report.added_by_source[pair.source] += 1
        report.added_by_language[pair.language] += 1
        report.added_by_status[pair.status] += 1
    report.pairs_staled += staled


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
    all_paths: list[str] = field(default_factory=list)  # every note of the vault
    _kept: NearDuplicates | None = None
    _resolver: LinkResolver | None = None
    _texts: NoteTexts | None = None

    def __post_init__(self) -> None:
        distill = self.settings.distill
        judge = self.generator if distill.llm_judge else None
        self.judge = Judge(distill.min_lexical, distill.min_judge, judge)
        self.sieve = FactSieve()

    @property
    def kept(self) -> NearDuplicates:
        """Every live pair's signature, built when the first note needs it: a run that
        finds nothing changed never pays for hashing the store."""
        if self._kept is None:
            self._kept = NearDuplicates()
            for pair in self.store.list(PairFilter(status=LIVE)):
                self._kept.add_pair(pair)
        return self._kept

    @property
    def resolver(self) -> LinkResolver:
        """Obsidian's link resolution over the vault, aliases included."""
        if self._resolver is None:
            self._read_vault()
        assert self._resolver is not None
        return self._resolver

    @property
    def texts(self) -> NoteTexts:
        """The vault's non-private texts, where abstention questions are checked."""
        if self._texts is None:
            self._read_vault()
        assert self._texts is not None
        return self._texts

    def _read_vault(self) -> None:
        """Read every note once, when a link or abstention question first needs the
        vault: its aliases for the resolver, its text unless it is private."""
        parse, aliases, texts = self.settings.parse, {}, []
        for path in self.all_paths:
            try:
                note = read_note(self.vault, path, max_bytes=parse.max_file_bytes)
            except SkippedFile:
                continue
            aliases[path] = note.aliases
            if not is_private(note, parse.private_tags):
                texts.append((path, clean_markup(note.body)))
        self._resolver = LinkResolver(self.all_paths, aliases)
        self._texts = NoteTexts(texts)

    def path(self, path: str) -> None:
        """Read one note and, when it is selected, new or changed, store its pairs."""
        try:
            note = read_note(self.vault, path, max_bytes=self.settings.parse.max_file_bytes)
        except SkippedFile as skipped:
            self.report.skipped.append((path, skipped.warning.message))
            return
        if is_private(note, self.settings.parse.private_tags):
            self.report.notes_private += 1
            if self.store.distilled_hashes(path):  # it became private: stop using it
                self.report.pairs_staled += self.store.forget_note(path)
            return
        if not self.selection.wants_note(note, self.settings.parse):
            return
        self.report.notes_read += 1
        due = self.due(note)
        if not due:
            self.report.notes_unchanged += 1
            return
        self.note(note, self.make(note, due), due)

    def due(self, note: Note) -> tuple[str, ...]:
        """The run's sources that have not distilled the note as it is now (all of
        them with `--all`): a run of one source never counts for another."""
        if self.selection.everything:
            return self.sources
        done = self.store.distilled_hashes(note.path)
        return tuple(source for source in self.sources if done.get(source) != note.content_hash)

    def make(self, note: Note, sources: tuple[str, ...]) -> list[tuple[Pair, str | None]]:
        """The note's pairs from `sources`, each with the text the judge checks it
        against (None: taken as written, or an abstention, which has no answer to check)."""
        parse = self.settings.parse
        written = dialogue_pairs(note, parse) if "dialogue" in sources else []
        made: list[tuple[Pair, str | None]] = [(pair, None) for pair in written]
        if sources == ("dialogue",):
            return made
        date = note_date(
            note, user_callouts=parse.user_callouts, assistant_callouts=parse.assistant_callouts
        )
        if "scene" in sources:
            scenes, broken = scene_pairs(note, date)
            made += [(pair, None) for pair in scenes]
            self.report.generation_failures.extend(broken)
        made += [(pair, None) for pair in self._templated(note, sources, date)]
        for source in sources:
            generated = self._generate(source, note, date)
            self.report.generation_failures.extend(generated.failures)
            self.report.quality_rejections.extend(generated.rejections)
            judged = source != "abstention"
            made += [(pair, text if judged else None) for pair, text in generated.pairs]
        return made

    def _templated(self, note: Note, sources: tuple[str, ...], date: datetime) -> list[Pair]:
        """The pairs of the note's facts that pass the sieve, asked from templates: the
        note's own words, nothing for the judge to check. None of an instruction note."""
        view = fact_view(note)
        if view is None:
            return []
        held, pairs = self.settings.distill.held_out_per_fact, []
        for source in (kind for kind in TEMPLATED if kind in sources):
            facts = self.sieve.keep(note, _FACT_FINDERS[source](view))
            pairs += templated_pairs(note, facts, source, held, date)
        if pairs and NEAR_MISS_SOURCE in sources and about_person(note):
            pairs += near_miss_pairs(note, lambda q: bool(self.texts.answering(q, note)), date)
        return pairs

    def _generate(self, source: str, note: Note, date: datetime) -> Generated:
        if source == "fact":
            return fact_pairs(note, self.generator, self.settings.distill, date)
        if source == "link":
            return link_pairs(note, self._linked(note), self.generator, date)
        if source == "abstention":
            return abstention_pairs(note, self.generator, date, self.texts)
        return Generated()

    def _linked(self, note: Note) -> list[Note]:
        """The readable, non-private notes this note links to (by path or by alias),
        in link order."""
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

    def note(
        self, note: Note, made: list[tuple[Pair, str | None]], sources: tuple[str, ...]
    ) -> None:
        """Keep the note's new pairs that repeat nothing kept, judge the generated ones
        (after dedupe: a dropped pair costs no verdict), then write them in one go as
        the note's pairs of `sources`."""
        known = {p.id for p in self.store.list(PairFilter(note=note.path, source=sources))}
        for old in known:  # the note's old text must not count as a duplicate of its new text
            self.kept.remove(old)
        fresh = []
        for pair, text in made:
            # a scene is never dropped: the person wrote each one on purpose
            checked = pair.source != "scene" and pair.id not in known
            if checked and self.kept.pair_duplicate_of(pair) is not None:
                self.report.duplicates_dropped += 1
                continue
            fresh.append(pair if text is None else self.judge(pair, text))
            self.kept.add_pair(pair)
        update = self.store.replace_note(note.path, note.content_hash, fresh, sources)
        self._count(fresh, update)

    def _count(self, stored: list[Pair], update: NoteUpdate) -> None:
        report, added = self.report, set(update.added)
        for pair in stored:
            if pair.id in added:
                report.added_by_source[pair.source] += 1
                report.added_by_language[pair.language] += 1
                report.added_by_status[pair.status] += 1
        report.pairs_known += len(stored) - len(added) - len(update.revived)
        report.pairs_revived += len(update.revived)
        report.pairs_staled += update.staled
        report.notes_distilled += 1
