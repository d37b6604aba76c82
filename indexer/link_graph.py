"""The link graph as the index holds it: links as written, note-to-note edges, unlinked
mentions and tags. Reads only; a part of `Store` (indexer/store.py), kept apart for size.
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Iterable

from indexer import mentions as mention_index
from indexer.records import StoredLink
from overlay.sqlite import temp_keys


class LinkGraphReads(ABC):
    """The link-graph reads of `Store`, on its `db` connection."""

    @property
    @abstractmethod
    def db(self) -> sqlite3.Connection:
        """Store's: one connection a thread."""

    def links(self, *, source: str | None = None, resolved: str | None = None) -> list[StoredLink]:
        """Links as written, all or those from `source` or those resolving to `resolved`."""
        sql = "SELECT source, target, kind, resolved, display, heading, block, line FROM links"
        args: tuple[str, ...] = ()
        if source is not None:
            sql, args = sql + " WHERE source = ?", (source,)
        elif resolved is not None:
            sql, args = sql + " WHERE resolved = ?", (resolved,)
        rows = self.db.execute(sql + " ORDER BY source, ordinal", args)
        return [StoredLink(*row) for row in rows]

    def edges(self, *, touching: Iterable[str] | None = None) -> list[tuple[str, str, str]]:
        """The note-to-note link graph: (source, target, kind), one per link written; all,
        or those from or to one of the notes `touching`."""
        sql = "SELECT l.source, l.resolved, l.kind FROM links l JOIN notes n ON n.path = l.resolved"
        with temp_keys(self.db, "touching", touching) as table:
            if table is not None:
                sql += (
                    f" WHERE l.source IN (SELECT key FROM {table})"
                    f" OR l.resolved IN (SELECT key FROM {table})"
                )
            rows = self.db.execute(sql + " ORDER BY l.source, l.ordinal").fetchall()
        return [(s, t, k) for s, t, k in rows]

    def mentions(self, *, touching: Iterable[str] | None = None) -> list[mention_index.Mention]:
        """Unlinked mentions: a note's title or alias written in another (indexer/mentions.py);
        all, or those from or to one of the notes `touching`."""
        with temp_keys(self.db, "touching", touching) as table:
            return mention_index.edges(self.db, table)

    def mentioned_by(self, path: str) -> list[mention_index.Mention]:
        """The notes that write `path`'s title or an alias of it, unlinked."""
        return mention_index.mentioning(self.db, path)

    def outlinks(self, path: str) -> list[StoredLink]:
        return self.links(source=path)

    def backlinks(self, path: str) -> list[StoredLink]:
        """Links from other notes (and from itself) that resolve to `path`."""
        return self.links(resolved=path)

    def unresolved_links(self) -> list[StoredLink]:
        """Links to notes not written yet (or to files not in the vault)."""
        return [link for link in self.links() if link.resolved is None]

    def tags(self) -> dict[str, list[str]]:
        """Tag -> the paths of the notes carrying it (nested tags as written: 'a/b')."""
        result: dict[str, list[str]] = defaultdict(list)
        for tag, path in self.db.execute("SELECT tag, note_path FROM tags ORDER BY tag, note_path"):
            result[tag].append(path)
        return dict(result)

    def note_tags(self, path: str) -> list[str]:
        rows = self.db.execute("SELECT tag FROM tags WHERE note_path = ? ORDER BY tag", (path,))
        return [row[0] for row in rows]
