"""Which notes a distillation reads, and which facts are worth remembering first.

Dates are the notes' own (`vault_schema.note_date`: frontmatter, then the
transcript's first timestamp, then the file name, then mtime). `--since 2025-07`
means from 1 July 2025 on; `--until 2025-07` up to the end of July; private
notes never.

`facts_by_worth` orders facts (a fact's pairs, folded; a pair without a fact
stands alone) by what they are worth (`Worth`): their note asked about in the
conversation log, linked from other notes, recent, and the fact long-lived in
the store. Review shows them in this order; a time budget can take the first.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from distill.pair_records import Pair
from overlay.config import ParseSettings, Settings
from overlay.core.conversations import ConversationLog, LogFilter
from overlay.errors import ConfigError
from vault_schema import Note, is_private, load_vault, note_date

_PERIOD = re.compile(r"(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?")


def parse_period(text: str) -> tuple[datetime, datetime]:
    """The start and the (exclusive) end of `2025`, `2025-07` or `2025-07-15`."""
    match = _PERIOD.fullmatch(text.strip())
    if match is None:
        raise ConfigError(f"not a date: {text!r}; write YYYY, YYYY-MM or YYYY-MM-DD")
    year, month, day = (int(part) if part else None for part in match.groups())
    assert year is not None  # the pattern requires it
    try:
        start = datetime(year, month or 1, day or 1)
    except ValueError as error:
        raise ConfigError(f"not a date: {text!r} ({error})") from error
    if day is not None:
        return start, start + timedelta(days=1)
    if month is not None:
        return start, datetime(year + month // 12, month % 12 + 1, 1)
    return start, datetime(year + 1, 1, 1)


@dataclass(frozen=True)
class Selection:
    """What `overlay distill` was asked for; empty fields select everything."""

    since: datetime | None = None
    until: datetime | None = None  # exclusive
    folders: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # paths or titles
    everything: bool = False  # distill unchanged notes again too

    @classmethod
    def from_options(
        cls,
        since: str | None = None,
        until: str | None = None,
        folders: Sequence[str] = (),
        tags: Sequence[str] = (),
        notes: Sequence[str] = (),
        everything: bool = False,
    ) -> Selection:
        """A selection from the command line's words (`--since 2025-07`, ...)."""
        return cls(
            parse_period(since)[0] if since else None,
            parse_period(until)[1] if until else None,
            tuple(folder.strip("/") for folder in folders),
            tuple(tag.lstrip("#").lower() for tag in tags),
            tuple(notes),
            everything,
        )

    def wants_path(self, path: str) -> bool:
        """Whether the folder and name filters let this vault-relative path through."""
        if self.folders and not any(path.startswith(f"{f}/") or not f for f in self.folders):
            return False
        if not self.notes:
            return True
        names = {path, path.removesuffix(".md"), path.rsplit("/", 1)[-1].removesuffix(".md")}
        return any(wanted.removesuffix(".md") in names or wanted in names for wanted in self.notes)

    def wants_note(self, note: Note, parse: ParseSettings) -> bool:
        """Whether the note is not private and its tags and date are as asked."""
        if is_private(note, parse.private_tags):
            return False
        if self.tags and not any(_has_tag(note, tag) for tag in self.tags):
            return False
        if self.since is None and self.until is None:
            return True
        date = note_date(
            note, user_callouts=parse.user_callouts, assistant_callouts=parse.assistant_callouts
        )
        return (self.since is None or date >= self.since) and (
            self.until is None or date < self.until
        )


def _has_tag(note: Note, wanted: str) -> bool:
    return any(tag.lower() == wanted or tag.lower().startswith(wanted + "/") for tag in note.tags)


YEAR = 365 * 24 * 3600.0


@dataclass(frozen=True)
class Worth:
    """What makes a note's facts worth remembering: how often answers in the
    conversation log cited the note (`asked`) and how many other notes link to it
    (`linked`), by note path; with `now`, how recent the note is and how long its
    facts have lived in the store."""

    asked: Mapping[str, int] = field(default_factory=dict)
    linked: Mapping[str, int] = field(default_factory=dict)
    now: float = field(default_factory=time.time)

    @classmethod
    def from_settings(cls, settings: Settings) -> Worth:
        """The log's citations and the vault's links, as they are now."""
        with ConversationLog.from_settings(settings) as log:
            entries = log.list(LogFilter(limit=None))
        asked = Counter(
            source["note_path"]
            for entry in entries
            for source in entry.sources
            if source.get("cited")
        )
        return cls(asked, _links_to(settings))

    def of(self, pairs: Sequence[Pair]) -> float:
        """One fact's worth (its pairs share a note): asked counts most, then links, a
        recent date (1 this year, falling off) and a long life (up to 1 at a year)."""
        note = pairs[0].note_path
        dated = pairs[0].note_date
        age = (self.now - dated.timestamp()) / YEAR if dated else 1.0
        created = min((pair.created for pair in pairs if pair.created), default=self.now)
        lived = min(1.0, max(0.0, self.now - created) / YEAR)
        asked, linked = self.asked.get(note, 0), self.linked.get(note, 0)
        return 2 * math.log1p(asked) + math.log1p(linked) + 1 / (1 + max(0.0, age)) + lived


def _links_to(settings: Settings) -> Counter[str]:
    """How many notes link to each note (private ones' links left out); none without a
    vault."""
    if settings.vault is None or not settings.vault.expanduser().is_dir():
        return Counter()
    parse = settings.parse
    vault = load_vault(settings.require_vault(), exclude=parse.exclude, kinds=("md",))
    linked: Counter[str] = Counter()
    for note in vault.notes.values():
        if not is_private(note, parse.private_tags):
            targets = {link.resolved for link in note.links if link.resolved}
            linked.update(targets - {note.path})
    return linked


def fact_groups(pairs: Iterable[Pair]) -> list[list[Pair]]:
    """The pairs folded by fact, in first-seen order; a pair without a fact alone."""
    groups: dict[str, list[Pair]] = {}
    for pair in pairs:
        groups.setdefault(pair.fact or f"pair:{pair.id}", []).append(pair)
    return list(groups.values())


def facts_by_worth(pairs: Iterable[Pair], worth: Worth) -> list[list[Pair]]:
    """The pairs folded by fact, the facts most worth remembering first (ties keep
    the store's order: by note)."""
    return sorted(fact_groups(pairs), key=worth.of, reverse=True)
