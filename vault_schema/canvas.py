"""A canvas (`.canvas`, the open JSON Canvas format) read as a `Note`.

The canvas is rendered to Markdown and parsed like a note, so its text nodes
carry wiki-links and tags exactly as notes do:
- groups give headings (a group inside a group is one level deeper); a node
  belongs to the smallest group whose box holds its box;
- text nodes become paragraphs under their group's heading, in reading order
  (top to bottom, then left to right); each node is a `Block` named by its
  node id, and `chunk_note` never puts two nodes in one chunk;
- `link` nodes keep their URL as a paragraph of their own;
- file nodes become links to the file they show (kind EMBED), and an edge
  touching a file node becomes a link to that file whose `display` is the
  edge's label (so the label travels with the link graph).
Line numbers are lines of the rendered text, not of the JSON file.
A file that is not a JSON Canvas keeps nothing and carries a
ParseWarning(code='canvas'); one over the content budget (nested too deep, too
many nodes or groups; see `budgets.py`) keeps nothing and carries a
ParseWarning(code='over-budget').
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from vault_schema.budgets import CONTENT_BUDGET, OVER_BUDGET, ContentBudget, deep_json
from vault_schema.notes import Block, Link, LinkKind, Note, ParseWarning
from vault_schema.parser import bare_note, parse_note


@dataclass(frozen=True, slots=True)
class _Node:
    id: str
    type: str
    x: float
    y: float
    width: float
    height: float
    data: dict[str, Any]

    def inside(self, group: _Node) -> bool:
        return (
            group.id != self.id
            and group.x <= self.x
            and group.y <= self.y
            and self.x + self.width <= group.x + group.width
            and self.y + self.height <= group.y + group.height
        )

    @property
    def area(self) -> float:
        return self.width * self.height


def parse_canvas(
    path: str,
    text: str,
    *,
    mtime: float = 0.0,
    content_hash: str = "",
    budget: ContentBudget = CONTENT_BUDGET,
) -> Note:
    """Parse one canvas; never raises (a file that is not a canvas, or one over the
    budget, gives an empty note)."""
    try:
        nodes, edges = _load(text, budget)
    except _OverBudget as over:
        warning = ParseWarning(path, OVER_BUDGET, f"{over}; skipped")
        return bare_note(path, _title(path), warning, mtime, content_hash)
    except (ValueError, AttributeError, TypeError, RecursionError) as error:
        warning = ParseWarning(path, "canvas", f"not a JSON Canvas ({error}); nothing read")
        return bare_note(path, _title(path), warning, mtime, content_hash)
    parts: list[str] = []
    blocks: list[Block] = []
    line = 1
    for node_id, text in _render(nodes):
        if node_id is not None:
            blocks.append(Block(node_id, line, text.split("\n", 1)[0]))
        parts.append(text)
        line += text.count("\n") + 2  # its lines and the blank line after it
    text = "\n\n".join(parts)
    note = parse_note(path, text, mtime=mtime, content_hash=content_hash, budget=budget)
    return replace(
        note,
        title=_title(path),
        frontmatter={},
        aliases=(),
        blocks=tuple(blocks),
        links=(*note.links, *_file_links(nodes, edges)),
        frontmatter_text="",
        body_line_offset=0,
    )


class _OverBudget(Exception):
    """The canvas holds more than its budget; the message says what."""


def _load(text: str, budget: ContentBudget) -> tuple[list[_Node], list[dict[str, Any]]]:
    """The canvas's nodes and edges; raises _OverBudget, or ValueError and kin for text
    that is not a JSON Canvas."""
    if (reason := deep_json(text, budget)) is not None:
        raise _OverBudget(reason)
    data = json.loads(text) if text.strip() else {}
    nodes = [_node(item) for item in data.get("nodes", []) if isinstance(item, dict)]
    edges = [item for item in data.get("edges", []) if isinstance(item, dict)]
    groups = sum(node.type == "group" for node in nodes)
    if len(nodes) > budget.canvas_nodes:
        raise _OverBudget(f"{len(nodes)} nodes, over the {budget.canvas_nodes}-node budget")
    if groups > budget.canvas_groups:
        raise _OverBudget(f"{groups} groups, over the {budget.canvas_groups}-group budget")
    return nodes, edges


def _title(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _node(item: dict[str, Any]) -> _Node:
    def number(key: str) -> float:
        value = item.get(key, 0)
        return float(value) if isinstance(value, int | float) else 0.0

    return _Node(
        str(item.get("id", "")),
        str(item.get("type", "")),
        number("x"),
        number("y"),
        number("width"),
        number("height"),
        item,
    )


def _render(nodes: list[_Node]) -> Iterator[tuple[str | None, str]]:
    """(node id, its text) of each text and link node, (None, heading) of each group."""
    groups = [node for node in nodes if node.type == "group"]
    parent = {node.id: _parent(node, groups) for node in nodes}
    yield from _section(None, nodes, parent, depth=0)


def _parent(node: _Node, groups: list[_Node]) -> str | None:
    holders = [group for group in groups if node.inside(group)]
    return min(holders, key=lambda group: group.area).id if holders else None


def _section(
    group: str | None, nodes: list[_Node], parent: dict[str, str | None], depth: int
) -> Iterator[tuple[str | None, str]]:
    children = sorted(
        (node for node in nodes if parent[node.id] == group), key=lambda n: (n.y, n.x)
    )
    for node in children:
        if node.type == "text":
            text = str(node.data.get("text", "")).strip()
            if text:
                yield node.id, text
        elif node.type == "link":
            url = str(node.data.get("url", "")).strip()
            if url:
                yield node.id, f"<{url}>"
    for node in children:
        if node.type == "group":
            label = str(node.data.get("label", "")).strip() or "Group"
            yield None, "#" * min(depth + 1, 6) + " " + label.replace("\n", " ")
            yield from _section(node.id, nodes, parent, depth + 1)


def _file_links(nodes: list[_Node], edges: list[dict[str, Any]]) -> Iterator[Link]:
    files = {
        node.id: str(node.data.get("file", "")).strip()
        for node in nodes
        if node.type == "file" and str(node.data.get("file", "")).strip()
    }
    for node in nodes:
        if node.id in files:
            subpath = str(node.data.get("subpath", "")).lstrip("#").strip() or None
            yield Link(files[node.id], LinkKind.EMBED, None, subpath, None, 0)
    for edge in edges:
        label = str(edge.get("label", "")).strip() or None
        for end in ("fromNode", "toNode"):
            file = files.get(str(edge.get(end, "")))
            if file is not None:
                yield Link(file, LinkKind.WIKI, label, None, None, 0)
