"""A training pair as a record: its messages, provenance and review status, and its id,
which derives from the text it was made from (note, source kind, messages)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

from overlay.errors import ConfigError

Status = Literal["pending", "approved", "rejected", "edited", "stale", "forgotten"]
STATUSES: tuple[Status, ...] = get_args(Status)
GONE = ("stale", "forgotten")  # made of text that changed, or of a note forgotten since
ROLES = ("system", "user", "assistant")
Message = dict[str, str]  # {"role": ..., "content": ...}


def validate_messages(messages: Sequence[Message]) -> list[Message]:
    """Messages in TRL's conversational form, or a ConfigError saying what is wrong."""
    if not messages:
        raise ConfigError("a pair needs at least one message")
    clean = []
    for message in messages:
        role, content = message.get("role"), message.get("content")
        if role not in ROLES or not isinstance(content, str):
            raise ConfigError(f"not a message (role in {ROLES}, content text): {message!r}")
        clean.append({"role": role, "content": content})
    if clean[-1]["role"] != "assistant":
        raise ConfigError("a pair must end with the assistant's message")
    return clean


def pair_id(note_path: str, source: str, messages: Sequence[Message]) -> str:
    """The id of the pair `source` makes of `messages` from `note_path`."""
    text = json.dumps([note_path, source, list(messages)], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Pair:
    """A training example with where it came from and what review said of it."""

    id: str
    messages: list[Message]
    note_path: str
    heading: str
    content_hash: str
    source: str
    generator: str
    prompt_version: str
    language: str
    status: str = "pending"
    held_out: bool = False
    fact: str = ""  # the fact asked about (facts source), shared by its paraphrases; else ''
    scores: dict[str, float] = field(default_factory=dict)
    note_date: datetime | None = None
    created: float = 0.0
    updated: float = 0.0
    log_entry: int | None = None  # the conversation-log answer it was made of (corrections)

    @classmethod
    def make(cls, messages: Sequence[Message], *, note_path: str, source: str, **rest: Any) -> Pair:
        """A new pair (pending unless `status` is given) whose id derives from its note,
        source and messages."""
        clean = validate_messages(messages)
        return cls(pair_id(note_path, source, clean), clean, note_path, source=source, **rest)

    def text(self) -> str:
        """All message contents, for deduplication and search."""
        return "\n".join(message["content"] for message in self.messages)

    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["note_date"] = self.note_date.isoformat() if self.note_date else None
        return data
