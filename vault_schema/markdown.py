"""Line-level Markdown structure shared by the parser and the chunker.

Obsidian ignores links, tags and headings inside code, so both the parser and
the chunker need to know which lines are fenced code. `mask` blanks out every
span Obsidian does not read as note text (fenced and inline code, `%% %%` and
HTML comments, `$$` math) while keeping every character offset and newline, so
a match in the masked text has the same position in the original.

Not modelled, on purpose: indented code blocks (indistinguishable from nested
list content in real vaults) and setext headings (rare in vaults, and a `---`
under a line is far more often meant as a rule than as a heading).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

QUOTE_PREFIX = re.compile(r"[ \t]{0,3}(?:>[ \t]?)+")
FENCE_OPEN = re.compile(r"[ \t]{0,3}(`{3,}|~{3,})")
TABLE_ROW = re.compile(r"[ \t]{0,3}\|")
BLANK = re.compile(r"[\s>]*")
_SPAN_OPENER = re.compile(r"`+|%%|<!--|\$\$")
_CLOSERS = {"%%": "%%", "<!--": "-->", "$$": "$$"}  # comments and display math
_NOT_NEWLINE = re.compile(r"[^\n]+")


def quote_depth(line: str) -> int:
    """How many `>` open the line (0 for an unquoted line)."""
    match = QUOTE_PREFIX.match(line)
    return match.group().count(">") if match else 0


def unquoted(line: str) -> str:
    """The line without its blockquote/callout prefix."""
    match = QUOTE_PREFIX.match(line)
    return line[match.end() :] if match else line


def is_blank(line: str) -> bool:
    """Blank, or blank inside a quote (`>`): a paragraph boundary either way."""
    return BLANK.fullmatch(line) is not None


def is_table_row(line: str) -> bool:
    return TABLE_ROW.match(unquoted(line)) is not None


def fence_ranges(lines: list[str]) -> list[tuple[int, int]]:
    """Inclusive (first, last) line indexes of each fenced code block, fences included.

    A fence closes on a line with the same character repeated at least as often,
    at the end of the text, or when the quote that opened it ends (a fence
    opened inside a callout cannot outlive the callout).
    """
    ranges: list[tuple[int, int]] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        opened = ("```" in line or "~~~" in line) and FENCE_OPEN.match(unquoted(line))
        if not opened:
            index += 1
            continue
        end = _fence_end(lines, index, opened.group(1), quote_depth(line))
        ranges.append((index, end))
        index = end + 1
    return ranges


def _fence_end(lines: list[str], start: int, fence: str, depth: int) -> int:
    char, size = fence[0], len(fence)
    for index in range(start + 1, len(lines)):
        line = lines[index]
        if depth and quote_depth(line) < depth:
            return index - 1
        stripped = unquoted(line).strip()
        if stripped and stripped == char * len(stripped) and len(stripped) >= size:
            return index
    return len(lines) - 1


def mask(text: str) -> str:
    """`text` with code, comments and math replaced by spaces, offsets unchanged."""
    if "```" in text or "~~~" in text:
        lines = text.split("\n")
        for first, last in fence_ranges(lines):
            for index in range(first, last + 1):
                line = lines[index]
                prefix = QUOTE_PREFIX.match(line)
                keep = prefix.end() if prefix else 0
                lines[index] = line[:keep] + " " * (len(line) - keep)
        text = "\n".join(lines)
    spans = list(inline_spans(text))
    if not spans:
        return text
    parts: list[str] = []
    done = 0
    for start, end in spans:
        parts.append(text[done:start])
        parts.append(_NOT_NEWLINE.sub(lambda run: " " * len(run.group()), text[start:end]))
        done = end
    parts.append(text[done:])
    return "".join(parts)


def inline_spans(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of inline code, `%% %%` and HTML comments and `$$` math, leftmost first.

    Inline code closes on the same line with a backtick run of the same length;
    an opener that never closes is text. Written as a scan rather than one
    regex so that unclosed openers cost linear, not quadratic, time.
    """
    never_closes: dict[str, int] = {}  # opener -> position after which no closer exists
    cursor = 0
    while (opener := _SPAN_OPENER.search(text, cursor)) is not None:
        token, start = opener.group(), opener.start()
        end = _span_end(text, token, opener.end(), never_closes)
        if end is None:
            cursor = opener.end()
            continue
        yield start, end
        cursor = end


def _span_end(text: str, token: str, after: int, never_closes: dict[str, int]) -> int | None:
    if after < never_closes.get(token, -1):
        return None
    if token[0] == "`":
        line_end = text.find("\n", after)
        line_end = len(text) if line_end == -1 else line_end
        found = _backtick_run(len(token)).search(text, after, line_end)
        if found is None:
            never_closes[token] = line_end
        return found.end() if found else None
    found_at = text.find(_CLOSERS[token], after)
    if found_at == -1:
        never_closes[token] = len(text) + 1
        return None
    return found_at + len(_CLOSERS[token])


@lru_cache(maxsize=64)
def _backtick_run(size: int) -> re.Pattern[str]:
    return re.compile(rf"(?<!`)`{{{size}}}(?!`)")
