"""Chat transcripts kept as callouts: `>[!nexus_user] **User** - 26.07.2025 at 9:43`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from vault_schema.notes import Note
from vault_schema.timestamps import find_datetime


class Role(StrEnum):
    USER = "user"
    ASSISTANT = "assistant"


@dataclass(frozen=True, slots=True)
class Turn:
    role: Role
    text: str  # callout body with the '> ' prefixes removed, markup kept
    timestamp: datetime | None
    line: int  # 1-based line of the callout header
    uid: str | None = None  # from the closing '<!-- UID: ... -->' comment


@dataclass(frozen=True, slots=True)
class Dialogue:
    note_path: str
    turns: tuple[Turn, ...]

    @property
    def started(self) -> datetime | None:
        stamps = [t.timestamp for t in self.turns if t.timestamp]
        return min(stamps) if stamps else None


_UID_COMMENT = re.compile(r"\s*<!--\s*UID:\s*(.*?)\s*-->\s*")


def extract_dialogue(
    note: Note,
    user_callouts: Sequence[str] = ("nexus_user",),
    assistant_callouts: Sequence[str] = ("nexus_agent",),
) -> Dialogue | None:
    """The transcript kept in the note's callouts, or None when it holds no turn.

    A callout whose type is one of `user_callouts` is a user turn, one of
    `assistant_callouts` an assistant turn (types compare case-insensitively).
    The timestamp is the date (and time) in the callout title
    (`**User** - 26.07.2025 at 9:43`), the uid comes from a `<!-- UID: … -->`
    comment on the first non-blank line after the callout. Text between
    callouts (commentary) belongs to no turn.
    """
    roles = {name.strip().lower(): Role.USER for name in user_callouts}
    roles.update({name.strip().lower(): Role.ASSISTANT for name in assistant_callouts})
    lines = note.body.split("\n")
    turns = tuple(
        Turn(
            roles[callout.type],
            callout.body,
            find_datetime(callout.title),
            callout.line,
            _uid_after(lines, callout.end_line - note.body_line_offset),
        )
        for callout in note.callouts
        if callout.type in roles
    )
    return Dialogue(note.path, turns) if turns else None


def _uid_after(lines: list[str], index: int) -> str | None:
    """The UID comment on the first non-blank line at or after body line `index` (0-based)."""
    for after in range(max(index, 0), len(lines)):
        line = lines[after]
        if not line.strip():
            continue
        match = _UID_COMMENT.fullmatch(line)
        return match.group(1) or None if match else None
    return None
