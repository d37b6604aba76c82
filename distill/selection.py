"""Which notes a distillation reads: dates, folders, tags, names; private ones never.

Dates are the notes' own (`vault_schema.note_date`: frontmatter, then the
transcript's first timestamp, then the file name, then mtime). `--since 2025-07`
means from 1 July 2025 on; `--until 2025-07` up to the end of July.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from overlay.config import ParseSettings
from overlay.errors import ConfigError
from vault_schema import Note, is_private, note_date

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
