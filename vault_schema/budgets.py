"""How much of what a file holds a parser will take on: the content budget.

`max_file_bytes` bounds a file's size, but a small file can still hold more work
than its size says: 200 KB of `[` nests JSON 100,000 deep (a RecursionError), and
a 382-byte YAML "billion laughs" expands, through its aliases, into gigabytes once
its properties are rendered as text. So each parser of what a person (or an
attacker) wrote checks the shape of it against a `ContentBudget` first:

- Markdown: the longest line (`line_chars`);
- canvas JSON: nesting depth (`json_depth`), nodes (`canvas_nodes`) and groups
  (`canvas_groups`: a node's group is found by comparing boxes, and groups nest
  as deep as they are many);
- YAML frontmatter: the values its properties hold once aliases are expanded
  (`property_values`) and their characters (`property_chars`); a cycle made with
  an anchor is over any budget;
- PDF: pages (`pdf_pages`) and characters of text (`pdf_chars`).

A file over budget is skipped like a FIFO: `files.read_note` raises `SkippedFile`
with code 'over-budget' and a message naming the budget. The parsers themselves
never raise: `parse_note` and `parse_canvas` keep nothing of the part over budget
and say so in a ParseWarning(code='over-budget').

The defaults are far above what a person writes by hand (over the 86 notes of the
sample, example and dev-set vaults: the longest line 1,080 characters, the largest
frontmatter 25 values), and low enough that a file at the limits parses in seconds
(measured on the 2-core dev machine: a canvas of 10,000 nodes in 200 nested groups
about 2 s, a 1,000,000-character line of `[[` 2-5 s, 20,000 frontmatter values 0.4 s).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

OVER_BUDGET = "over-budget"  # the ParseWarning code of a file over its budget
EXPANDED = "once its aliases are expanded"
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKET = re.compile(r"[\[\]{}]")


@dataclass(frozen=True, slots=True)
class ContentBudget:
    """The most of each thing a file may hold and still be read."""

    line_chars: int = 1_000_000  # characters on one Markdown line
    json_depth: int = 64  # nesting of a canvas's arrays and objects
    canvas_nodes: int = 10_000
    canvas_groups: int = 200
    property_values: int = 20_000  # frontmatter values, aliases expanded
    property_chars: int = 1_000_000  # their characters, aliases expanded
    pdf_pages: int = 5_000
    pdf_chars: int = 20_000_000  # characters of text over all pages


CONTENT_BUDGET = ContentBudget()


def long_line(text: str, budget: ContentBudget) -> str | None:
    """Why the text's longest line is over budget, or None."""
    longest = max(map(len, text.split("\n")))
    if longest > budget.line_chars:
        return f"a line of {longest} characters, over the {budget.line_chars}-character budget"
    return None


def json_depth(text: str) -> int:
    """How deep the JSON text's arrays and objects nest (brackets inside strings aside);
    a linear scan, so text nested too deep for `json.loads` is measured, not parsed."""
    depth = deepest = 0
    for bracket in _JSON_BRACKET.findall(_JSON_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def deep_json(text: str, budget: ContentBudget) -> str | None:
    """Why the JSON text nests too deep, or None."""
    depth = json_depth(text)
    if depth > budget.json_depth:
        return f"JSON nested {depth} deep, over the {budget.json_depth}-level budget"
    return None


def large_properties(properties: Any, budget: ContentBudget) -> str | None:
    """Why the loaded frontmatter is too large once its aliases are expanded, or None.

    Walks the values as a renderer would, without recursion, and stops at the budget:
    the cost is bounded by the budget, not by what the aliases expand to."""
    values = chars = 0
    pending = [properties]
    while pending:
        value = pending.pop()
        values += 1
        if isinstance(value, dict):
            pending += value.keys()
            pending += value.values()
        elif isinstance(value, list | tuple | set):
            pending += value
        else:
            chars += len(str(value)) if isinstance(value, str | bytes) else 8
        if values > budget.property_values:
            return f"frontmatter past the {budget.property_values}-value budget {EXPANDED}"
        if chars > budget.property_chars:
            return f"frontmatter past the {budget.property_chars}-character budget {EXPANDED}"
    return None
