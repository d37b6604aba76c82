"""The notes a text names: `[[Title]]`, or a title or alias written in it.

Names are compared as stem sequences, whole words, as unlinked mentions are
(`indexer.mentions`): «мужа Анны Петровой» names the note «Анна Петрова». The words of
the text are looked up in the mentions' `NameMatcher`, so finding names costs the length
of the text, not the number of notes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from indexer.mentions import NameMatcher, name_key
from indexer.records import NoteName
from vault_schema.words import stems

_WIKI_NAME = re.compile(r"\[\[([^\]|#]+)")


class NoteNames:
    """Titles and aliases of the indexed notes; `changed` returns an updated copy."""

    def __init__(self, names: Iterable[NoteName] = ()) -> None:
        self.titles: dict[str, str] = {}  # note path -> title
        self._written: dict[str, tuple[str, ...]] = {}  # note path -> its names, casefolded
        self._by_link: dict[str, frozenset[str]] = {}  # casefolded name -> note paths
        self._keys: dict[str, tuple[str, ...]] = {}  # note path -> its name keys
        added = self._add(names)
        self._matcher = NameMatcher(added)

    def _add(self, names: Iterable[NoteName]) -> list[tuple[str, str]]:
        """Take in `names` (of notes not held); returns their (key, path) pairs."""
        pairs: list[tuple[str, str]] = []
        for name in names:
            written = tuple({text.casefold() for text in (name.title, *name.aliases)})
            keys = tuple({k for text in (name.title, *name.aliases) if (k := name_key(text))})
            self.titles[name.path], self._written[name.path] = name.title, written
            self._keys[name.path] = keys
            for text in written:
                self._by_link[text] = self._by_link.get(text, frozenset()) | {name.path}
            pairs += [(key, name.path) for key in keys]
        return pairs

    def changed(self, removed: Iterable[str], added: Iterable[NoteName]) -> NoteNames:
        """These names with the notes `removed` gone and `added` (new or rewritten) taken in."""
        fresh = NoteNames()
        fresh.titles, fresh._written = dict(self.titles), dict(self._written)
        fresh._by_link, fresh._keys = dict(self._by_link), dict(self._keys)
        added = list(added)
        gone: list[tuple[str, str]] = []
        for path in {*removed, *(name.path for name in added)}:
            if path not in fresh.titles:
                continue
            gone += [(key, path) for key in fresh._keys.pop(path)]
            del fresh.titles[path]
            for text in fresh._written.pop(path):
                if paths := fresh._by_link[text] - {path}:
                    fresh._by_link[text] = paths
                else:
                    del fresh._by_link[text]
        fresh._matcher = self._matcher.changed(gone, fresh._add(added))
        return fresh

    def named_in(self, text: str) -> set[str]:
        """The notes `text` names by a wiki-link or by a title or alias written in it."""
        found: set[str] = set()
        for written in _WIKI_NAME.findall(text):
            found |= self._by_link.get(written.strip().casefold(), frozenset())
        return found | self._matcher.named(stems(text))
