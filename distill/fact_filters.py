"""What is not a fact of the person's, dropped before anything is stored.

The template sources (`distill/sources/properties.py`, `sections.py`,
`relations.py`) read a note's structure; what they find passes through here
first. A note that holds a scene is an instruction note: its scenes are the
`scene` source's, and it gives no facts. Of any other note the sources read a
view (`fact_view`) without comments, fenced blocks, quoted callouts (a
transcript's turns are the `dialogue` source's) and bookkeeping properties. A
fact is then dropped, with its reason counted (`FactSieve.dropped`), when its
answer is markup without words (`markup`), it is a property about the file
(`bookkeeping`), its answer's words are all in what it is asked by (`echo`), or
it states what the run already has a fact for (`duplicate`: the same answer in
the same note, or a long answer anywhere).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from distill.language import content_words, echoes
from distill.restatements import Fact
from vault_schema import Note, read_scenes

REASONS = ("markup", "bookkeeping", "echo", "duplicate")
BOOKKEEPING = frozenset(
    {
        "aliases", "alias", "tags", "tag", "cssclasses", "cssclass", "publish", "overlay",
        "created", "updated", "modified", "date", "date created", "date modified", "uid",
        "id", "uuid", "kind", "type", "language", "lang", "template", "layout", "permalink",
        "slug", "cover", "banner", "icon", "draft", "share", "title", "lastmod", "source",
        "created at", "updated at", "last modified", "obsidianuimode", "document type",
        "note type",
    }
)  # fmt: skip
LONG_ANSWER_WORDS = 6  # a duplicate this long is one anywhere in the run, not only in a note
_COMMENT = re.compile(r"<!--.*?-->|%%.*?%%", re.DOTALL)
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
MIN_LETTERS = 3  # an answer with fewer letters and no digit says nothing
_DIGIT = re.compile(r"\d")
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)
_MARKUP = ("<!--", "-->", "``", "%%", "$$", "[[", "]]")  # `` : inline code emptied


def is_bookkeeping(key: str) -> bool:
    """Whether a property key is about the file rather than a fact of the person's."""
    name = re.sub(r"[-_\s]+", " ", key.strip().lower())
    return name in BOOKKEEPING or name.startswith("dg ") or "uid" in name.split()


def fact_view(note: Note) -> Note | None:
    """The note as the template sources read it, or None for an instruction note (one
    that holds a scene): comments, fenced blocks and quoted lines blanked (line numbers
    stay), bookkeeping and nested properties and file dates left out."""
    if read_scenes(note)[0]:
        return None
    body = _COMMENT.sub(lambda found: "\n" * found[0].count("\n"), note.body)
    lines, fenced = [], ""
    for line in body.split("\n"):
        fence = _FENCE.match(line)
        if fence and (not fenced or fence[1].startswith(fenced)):
            fenced = "" if fenced else fence[1][:3]
            lines.append("")
        else:
            lines.append("" if fenced or line.lstrip().startswith(">") else line)
    return replace(note, body="\n".join(lines), frontmatter=_stated_properties(note))


def _stated_properties(note: Note) -> dict[str, object]:
    """The note's properties without bookkeeping ones, nested ones and those that only
    repeat a file date (`last: 2023-09-12` where `created: 2023-09-12`)."""
    kept, file_dates = {}, set()
    for key, value in note.frontmatter.items():
        if is_bookkeeping(str(key)):
            file_dates.add(str(value))
        elif not isinstance(value, dict):
            kept[str(key)] = value
    return {key: value for key, value in kept.items() if str(value) not in file_dates}


@dataclass
class FactSieve:
    """The facts of one run kept so far, and how many were dropped for each reason."""

    dropped: Counter[str] = field(default_factory=Counter)
    kept: int = 0
    _seen: set[tuple[str, str]] = field(default_factory=set)

    def keep(self, note: Note, facts: Iterable[Fact]) -> list[Fact]:
        """The facts of `note` that are the person's statements and new to the run."""
        kept = []
        for fact in facts:
            reason = self._reason(note, fact)
            if reason:
                self.dropped[reason] += 1
            else:
                kept.append(fact)
        self.kept += len(kept)
        return kept

    def _reason(self, note: Note, fact: Fact) -> str | None:
        answer = " ".join(fact.answer.lower().split())
        if not content_words(answer) or any(mark in answer for mark in _MARKUP):
            return "markup"
        if sum(char.isalpha() for char in answer) < MIN_LETTERS and not _DIGIT.search(answer):
            return "markup"  # "см", cut off at an abbreviation: too short to state anything
        if _UUID.search(answer) or is_bookkeeping(fact.fields.get("key", "")):
            return "bookkeeping"
        if echoes(" ".join(fact.fields.values()), answer):
            return "echo"
        where = "" if len(answer.split()) >= LONG_ANSWER_WORDS else note.path
        if (where, answer) in self._seen:
            return "duplicate"
        self._seen.add((where, answer))
        return None
