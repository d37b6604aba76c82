"""Which notes Overlay must never index, distill or serve."""

from __future__ import annotations

from collections.abc import Sequence

from vault_schema.notes import Note


def is_private(note: Note, private_tags: Sequence[str] = ("private",)) -> bool:
    """True for frontmatter `overlay: private` or a private tag (nested `private/x` counts).

    Tags compare case-insensitively, as in Obsidian.
    """
    if note.is_private:
        return True
    wanted = {tag.strip().lstrip("#").strip("/").lower() for tag in private_tags}
    wanted.discard("")
    for tag in note.tags:
        lowered = tag.lower()
        if lowered in wanted or any(lowered.startswith(w + "/") for w in wanted):
            return True
    return False
