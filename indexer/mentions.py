"""Unlinked mentions: a note's title or alias written in another note without brackets.

They are the half of the vault's graph the person did not link (Obsidian lists them
under "Unlinked mentions"); retrieval walks them as edges weaker than links. Names and
text are compared as stem sequences (`vault_schema.words.stems`), whole words only, so
«Бинарный поиск» is mentioned by «бинарного поиска» and "Binary Search" by "binary
searches". Words inside a wiki-link do not count: that mention is a link already.

Kept incrementally, in the commit's transaction (`update`), without reading unchanged
notes: each note's stem sequence and its distinct stems (an inverted index) are stored,
so a written note is scanned for every name, and a new or renamed note's names are
looked up in the inverted index and confirmed in the few notes holding their words.
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from vault_schema.words import STOPWORDS, stems

MIN_NAME_CHARS = 4  # shorter names ('AI', 'Me') would match ordinary words everywhere
_WIKI_LINK = re.compile(r"!?\[\[[^\]]*\]\]")


@dataclass(frozen=True, slots=True)
class Mention:
    """`source` writes a name of `target` `count` times, unlinked."""

    source: str
    target: str
    count: int


def name_key(name: str) -> str | None:
    """The stems of a name joined by spaces; None for a name too short or all stop words."""
    words = stems(name)
    if sum(map(len, words)) < MIN_NAME_CHARS or all(w in STOPWORDS for w in words):
        return None
    return " ".join(words)


class NameMatcher:
    """Name keys (`name_key`) and the notes they name, found in a stem sequence by looking
    up each word as a name's first stem: the work grows with the text, not with the number
    of names. Unlinked mentions and the notes a question names (retrieval) both use it.

    `without` and `with_names` return a new matcher and leave this one as it is, so a
    reader holding it never sees it change."""

    def __init__(self, names: Iterable[tuple[str, str]] = ()) -> None:
        self._by_first: dict[str, list[tuple[tuple[str, ...], str]]] = defaultdict(list)
        for key, path in names:
            words = tuple(key.split())
            self._by_first[words[0]].append((words, path))
        for entries in self._by_first.values():
            entries.sort(key=lambda entry: (-len(entry[0]), entry[1]))  # longest names first

    def changed(
        self, removed: Iterable[tuple[str, str]], added: Iterable[tuple[str, str]]
    ) -> NameMatcher:
        """A matcher without the (key, note) names `removed`, with those `added`."""
        fresh = NameMatcher(added)
        gone: dict[str, set[tuple[tuple[str, ...], str]]] = defaultdict(set)
        for key, path in removed:
            words = tuple(key.split())
            gone[words[0]].add((words, path))
        merged = NameMatcher()
        merged._by_first = defaultdict(list, self._by_first)
        for first in {*fresh._by_first, *gone}:
            kept = [e for e in self._by_first.get(first, ()) if e not in gone[first]]
            entries = kept + fresh._by_first.get(first, [])
            entries.sort(key=lambda entry: (-len(entry[0]), entry[1]))
            merged._by_first[first] = entries
        return merged

    def count(self, sequence: Sequence[str]) -> Counter[str]:
        """How often each note is named in `sequence`; the longest name at a place wins."""
        found: Counter[str] = Counter()
        i = 0
        while i < len(sequence):
            step = 1
            for words, target in self._by_first.get(sequence[i], ()):
                if tuple(sequence[i : i + len(words)]) == words:
                    found[target] += 1
                    step = len(words)
                    break
            i += step
        return found

    def named(self, sequence: Sequence[str]) -> set[str]:
        """Every note one of whose names is written in `sequence`, overlapping ones too."""
        found: set[str] = set()
        for i, stem in enumerate(sequence):
            for words, target in self._by_first.get(stem, ()):
                if tuple(sequence[i : i + len(words)]) == words:
                    found.add(target)
        return found


class NamedText(Protocol):
    """What mentions need of a note (a `vault_schema.notes.Note` has it)."""

    @property
    def path(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def aliases(self) -> tuple[str, ...]: ...
    @property
    def body(self) -> str: ...


@dataclass(frozen=True, slots=True)
class StoredText:
    """A note as the index holds it: its chunks' text stands in for its body."""

    path: str
    title: str
    aliases: tuple[str, ...]
    body: str


def note_keys(note: NamedText) -> set[str]:
    return {key for name in (note.title, *note.aliases) if (key := name_key(name)) is not None}


def text_stems(note: NamedText) -> list[str]:
    return stems(_WIKI_LINK.sub(" ", note.body))


def edges(db: sqlite3.Connection, touching: str | None = None) -> list[Mention]:
    """Every mention, or those from or to a note listed in the table `touching`."""
    where = (
        f"WHERE source IN (SELECT key FROM {touching}) OR target IN (SELECT key FROM {touching})"
    )
    sql = f"SELECT source, target, count FROM mentions {where if touching else ''}"
    return [Mention(*row) for row in db.execute(sql + " ORDER BY source, target")]


def mentioning(db: sqlite3.Connection, target: str) -> list[Mention]:
    """The mentions of `target` in other notes."""
    rows = db.execute(
        "SELECT source, target, count FROM mentions WHERE target = ? ORDER BY source", (target,)
    )
    return [Mention(*row) for row in rows]


def missing(db: sqlite3.Connection) -> list[str]:
    """Indexed notes the mention index lacks (an index built before it existed)."""
    rows = db.execute(
        "SELECT path FROM notes WHERE path NOT IN (SELECT note_path FROM mention_texts)"
    )
    return [row[0] for row in rows]


def update(db: sqlite3.Connection, written: Sequence[NamedText], deleted: Iterable[str]) -> None:
    """Bring the mentions up to date with these notes written and these deleted; call it
    inside the transaction that writes them."""
    written_paths = {note.path for note in written}
    old_keys = {path: _forget(db, path) for path in [*written_paths, *deleted]}
    for path in deleted:
        db.execute("DELETE FROM mentions WHERE target = ?", (path,))
    sequences = {note.path: text_stems(note) for note in written}
    for note in written:
        _remember(db, note.path, note_keys(note), sequences[note.path])
    names = _names(db, {stem for sequence in sequences.values() for stem in sequence})
    for note in written:
        _insert(db, note.path, _scan(sequences[note.path], names, note.path))
    for note in written:
        keys = note_keys(note)
        if keys != old_keys.get(note.path, set()):
            _relook(db, note.path, keys, written_paths)


def _forget(db: sqlite3.Connection, path: str) -> set[str]:
    """Drop what is stored of `path` as a source; returns the name keys it had."""
    row = db.execute("SELECT stems FROM mention_texts WHERE note_path = ?", (path,)).fetchone()
    if row is not None:
        db.executemany(
            "DELETE FROM mention_terms WHERE stem = ? AND note_path = ?",
            [(stem, path) for stem in set(row[0].split())],
        )
    db.execute("DELETE FROM mention_texts WHERE note_path = ?", (path,))
    db.execute("DELETE FROM mentions WHERE source = ?", (path,))
    keys = {r[0] for r in db.execute("SELECT key FROM mention_names WHERE note_path = ?", (path,))}
    db.execute("DELETE FROM mention_names WHERE note_path = ?", (path,))
    return keys


def _remember(db: sqlite3.Connection, path: str, keys: set[str], sequence: list[str]) -> None:
    db.executemany(
        "INSERT INTO mention_names VALUES (?, ?, ?)", [(path, k, k.split()[0]) for k in keys]
    )
    # spaces at both ends so that instr(stems, ' key ') matches whole words only
    db.execute("INSERT INTO mention_texts VALUES (?, ?)", (path, f" {' '.join(sequence)} "))
    db.executemany(
        "INSERT INTO mention_terms VALUES (?, ?)", [(stem, path) for stem in set(sequence)]
    )


def _names(db: sqlite3.Connection, firsts: set[str]) -> NameMatcher:
    """The names that start with one of `firsts` (the words of the notes to scan)."""
    db.execute("CREATE TEMP TABLE IF NOT EXISTS mention_firsts (stem TEXT PRIMARY KEY)")
    db.execute("DELETE FROM mention_firsts")
    db.executemany("INSERT INTO mention_firsts VALUES (?)", [(stem,) for stem in firsts])
    rows = db.execute(
        "SELECT key, note_path FROM mention_names WHERE first IN (SELECT stem FROM mention_firsts)"
    ).fetchall()
    db.execute("DELETE FROM mention_firsts")
    return NameMatcher(rows)


def _scan(sequence: list[str], names: NameMatcher, own: str) -> Counter[str]:
    """How often each note other than `own` is named in `sequence`."""
    found = names.count(sequence)
    found.pop(own, None)
    return found


def _relook(db: sqlite3.Connection, target: str, keys: set[str], skip: set[str]) -> None:
    """Find the unchanged notes that mention `target` by one of `keys` (its names now)."""
    stale = [r[0] for r in db.execute("SELECT source FROM mentions WHERE target = ?", (target,))]
    db.executemany(
        "DELETE FROM mentions WHERE source = ? AND target = ?",
        [(source, target) for source in stale if source not in skip],
    )
    found: Counter[str] = Counter()
    for key in keys:
        rows = db.execute(
            "SELECT x.note_path, x.stems FROM mention_terms t JOIN mention_texts x "
            "ON x.note_path = t.note_path WHERE t.stem = ? AND instr(x.stems, ?) > 0",
            (_rarest(db, key.split()), f" {key} "),
        )
        for source, text in rows:
            if source != target and source not in skip:
                found[source] = max(found[source], text.count(f" {key} "))
    db.executemany(
        "INSERT INTO mentions VALUES (?, ?, ?) ON CONFLICT (source, target) DO UPDATE "
        "SET count = excluded.count",
        [(source, target, count) for source, count in found.items()],
    )


def _rarest(db: sqlite3.Connection, words: list[str]) -> str:
    """The word of a name fewest notes hold: 'the' in 'The Who' would match them all."""
    if len(words) == 1:
        return words[0]
    counts = {
        word: db.execute("SELECT COUNT(*) FROM mention_terms WHERE stem = ?", (word,)).fetchone()[0]
        for word in set(words)
    }
    return min(sorted(counts), key=counts.__getitem__)


def _insert(db: sqlite3.Connection, source: str, found: Counter[str]) -> None:
    db.executemany(
        "INSERT INTO mentions VALUES (?, ?, ?) ON CONFLICT (source, target) DO UPDATE "
        "SET count = excluded.count",
        [(source, target, count) for target, count in found.items()],
    )
