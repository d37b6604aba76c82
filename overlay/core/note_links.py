"""Where a hit or a citation opens in Obsidian: the one rule every surface uses (the
CLI, the plugin's API, the OpenAI footnotes, MCP).

A section opens at its innermost heading (`note#heading`); a PDF page at its page
(`#page=N`, the heading Overlay gives a page); a canvas opens whole, since Obsidian
opens no place inside one (its group headings are Overlay's, not Obsidian's).
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote


def target(note_path: str, heading_path: Sequence[str]) -> str:
    """`path#heading` (the path as stored, extension included): what the hit opens."""
    if not heading_path or note_path.lower().endswith(".canvas"):
        return note_path
    return f"{note_path}#{heading_path[-1]}"


def wiki_link(note_path: str, heading_path: Sequence[str]) -> str:
    """`[[note#heading]]` as a person writes it: a Markdown note without `.md`, other
    kinds (`Board.canvas`, `tides.pdf#page=2`) with their extension."""
    opened = target(note_path, heading_path)
    note, hash_, heading = opened.partition("#")
    return f"[[{note.removesuffix('.md')}{hash_}{heading}]]"


def obsidian_url(vault_name: str, note_path: str) -> str:
    """An `obsidian://open` URL for the note (Obsidian takes Markdown notes without `.md`)."""
    file = quote(note_path.removesuffix(".md"), safe="")
    return f"obsidian://open?vault={quote(vault_name, safe='')}&file={file}"
