"""Obsidian's link resolution: which file a written link points at.

`LinkResolver.resolve(target, source)` tries, in order, and compares paths
case-insensitively and in Unicode NFC (macOS writes file names decomposed,
people type them composed):
1. `./x` and `../x`: relative to the source note's folder;
2. the target as a vault path (`Notes/Idea` is `Notes/Idea.md`);
3. the target relative to the source note's folder (Markdown links
   written by Obsidian's "relative path" setting);
4. every file whose path ends with the target (`[[Idea]]`, `[[Notes/Idea]]`):
   one in the source's own folder wins, else the shortest path (fewest
   folders, then the shorter string, then alphabetical), which is Obsidian's
   "shortest path when possible";
5. a note's alias (frontmatter `aliases`), for a target without folders.
`.md` is optional: a target is tried as written (`image.png`, `Games.base`)
and then with `.md` appended (so `[[v1.2]]` finds `v1.2.md`). An empty
target (`[[#Heading]]`) is the source note itself. Unresolved links give None
and are kept by the caller: they are notes not written yet.
"""

from __future__ import annotations

import posixpath
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import replace

from vault_schema.notes import Note


def path_key(path: str) -> str:
    """How two spellings of one path compare: NFC, lower case, '/' separators."""
    return unicodedata.normalize("NFC", path.replace("\\", "/")).lower()


class LinkResolver:
    """Resolves link targets against a fixed set of vault files (notes and attachments)."""

    def __init__(
        self, paths: Iterable[str], aliases: Mapping[str, Iterable[str]] | None = None
    ) -> None:
        self._by_key: dict[str, str] = {}
        self._by_name: dict[str, list[tuple[str, str]]] = defaultdict(list)  # name -> (key, path)
        for path in paths:
            key = path_key(path)
            self._by_key.setdefault(key, path)
            self._by_name[key.rsplit("/", 1)[-1]].append((key, path))
        self._by_alias: dict[str, list[str]] = defaultdict(list)
        for path, names in (aliases or {}).items():
            for name in names:
                self._by_alias[path_key(name.strip())].append(path)

    def __contains__(self, path: str) -> bool:
        return path_key(path) in self._by_key

    def resolve(self, target: str, source: str | None = None) -> str | None:
        """The vault path `target` points to, seen from the note `source`; None if none."""
        wanted = path_key(target.strip()).lstrip("/")
        if not wanted:
            return source
        folder = posixpath.dirname(path_key(source)) if source else ""
        for candidate in _spellings(wanted):
            found = self._by_path(candidate, folder) or self._by_suffix(candidate, folder)
            if found is not None:
                return found
        return self._by_alias_name(wanted, folder)

    def _by_path(self, wanted: str, folder: str) -> str | None:
        if wanted.startswith(("./", "../")):
            return self._by_key.get(_join(folder, wanted))
        found = self._by_key.get(wanted)
        if found is None and folder:
            found = self._by_key.get(_join(folder, wanted))
        return found

    def _by_suffix(self, wanted: str, folder: str) -> str | None:
        name = wanted.rsplit("/", 1)[-1]
        ending = "/" + wanted
        matches = [
            path
            for key, path in self._by_name.get(name, ())
            if key == wanted or key.endswith(ending)
        ]
        return _closest(matches, folder)

    def _by_alias_name(self, wanted: str, folder: str) -> str | None:
        if "/" in wanted:
            return None
        return _closest(self._by_alias.get(wanted, []), folder)


def resolve_links(note: Note, resolver: LinkResolver) -> Note:
    """The note with every `Link.resolved` filled (None where nothing matches)."""
    links = tuple(
        replace(link, resolved=resolver.resolve(link.target, note.path)) for link in note.links
    )
    return replace(note, links=links)


def _spellings(wanted: str) -> tuple[str, ...]:
    return (wanted,) if wanted.endswith(".md") else (wanted, wanted + ".md")


def _join(folder: str, relative: str) -> str:
    joined = posixpath.normpath(posixpath.join(folder, relative))
    return "" if joined == "." or joined == ".." or joined.startswith("../") else joined


def _closest(paths: list[str], folder: str) -> str | None:
    if not paths:
        return None
    if len(paths) == 1:
        return paths[0]
    for path in paths:
        if posixpath.dirname(path_key(path)) == folder:
            return path
    return min(paths, key=lambda path: (path.count("/"), len(path), path))
