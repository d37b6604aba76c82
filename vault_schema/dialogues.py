"""Chat transcripts kept as callouts: `>[!nexus_user] **User** - 26.07.2025 at 9:43`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


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
