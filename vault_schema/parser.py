"""Text of a Markdown file in, `Note` out: pure string work that never raises.

What is read, by Obsidian's rules:
- frontmatter: a first line `---` up to the next `---` line, YAML read by
  python-frontmatter; YAML that fails or is not a mapping keeps the body and
  adds a `ParseWarning(code="frontmatter")`;
- links: `[[n]]`, `[[n|alias]]`, `[[n#heading]]`, `[[n#^block]]`, `![[embed]]`,
  Markdown links and images to vault files (`[t](Some%20Note.md)`, URL-decoded;
  links with a scheme such as `https:` are not vault links), and wiki-links
  written in frontmatter values (kind PROPERTY; found in the raw YAML text, so
  they survive YAML that cannot be parsed);
- tags: frontmatter `tags`/`tag` and inline `#tag`, `#nested/tag`; an inline
  tag starts after whitespace or at a line start (so not inside URLs or
  `[[n#heading]]`), and `#123` (digits only) is not a tag;
- headings (ATX, outside quotes and callouts, which Obsidian leaves out of the
  outline), block ids (`^id`), footnote definitions, callouts.
Links, tags and headings inside fenced code, inline code, `%% %%` and HTML
comments are ignored (see `markdown.mask`). Every line number is a 1-based line
of the file, frontmatter included. Text over the content budget (a line too long,
frontmatter whose aliases expand too far; see `budgets.py`) is not read: the note
keeps nothing of it and carries a ParseWarning(code='over-budget').
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import frontmatter

from vault_schema.budgets import (
    CONTENT_BUDGET,
    OVER_BUDGET,
    ContentBudget,
    large_properties,
    long_line,
)
from vault_schema.markdown import is_blank, mask, quote_depth, unquoted
from vault_schema.notes import Block, Callout, Footnote, Heading, Link, LinkKind, Note, ParseWarning

WIKI_LINK = re.compile(r"(!?)\[\[([^\[\]\n]+?)\]\]")
MARKDOWN_LINK = re.compile(
    r"(!?)\[((?:[^\[\]\n]|\[[^\[\]\n]*\])*)\]"  # [text], one level of nested brackets
    r"\(\s*(<[^<>\n]+>|[^\s()<>]+(?:\([^\s()]*\)[^\s()<>]*)*)"  # destination
    r"(?:\s+(?:\"[^\"\n]*\"|'[^'\n]*'))?\s*\)"  # optional title
)
URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
INLINE_TAG = re.compile(r"(?<!\S)#([\w/-]+)")
HEADING = re.compile(r"[ \t]{0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*")
BLOCK_ID = re.compile(r"(?:^|[ \t])\^([A-Za-z0-9-]+)[ \t]*$")
FOOTNOTE = re.compile(r"[ \t]{0,3}\[\^([^\]\s]+)\]:[ \t]?(.*)")
CALLOUT = re.compile(r"[ \t]{0,3}>[ \t]*\[!([^\]\n]+)\][+-]?[ \t]*(.*)")
QUOTE_LEVEL = re.compile(r"[ \t]{0,3}>[ \t]?")
TAG_SEPARATORS = re.compile(r"[,\s]+")
_YAML = frontmatter.YAMLHandler()


def parse_note(
    path: str,
    text: str,
    *,
    mtime: float = 0.0,
    content_hash: str = "",
    budget: ContentBudget = CONTENT_BUDGET,
) -> Note:
    """Parse one note; never raises (an internal failure becomes a 'parser' warning)."""
    try:
        return _parse(path, text, mtime, content_hash, budget)
    except Exception as error:  # a parser bug must never stop a vault load: keep the text
        warning = ParseWarning(path, "parser", f"could not parse, kept as text: {error!r}")
        return bare_note(path, note_title(path), warning, mtime, content_hash, body=text)


def bare_note(
    path: str, title: str, warning: ParseWarning, mtime: float, content_hash: str, body: str = ""
) -> Note:
    """A note of which nothing but `body` was read, and the warning that says why."""
    return Note(
        path=path,
        title=title,
        body=body,
        content_hash=content_hash,
        mtime=mtime,
        warnings=(warning,),
    )


def note_title(path: str) -> str:
    """The file name without `.md`: what `[[links]]` name."""
    name = path.rsplit("/", 1)[-1]
    return name[:-3] if name.lower().endswith(".md") else name


@dataclass(frozen=True, slots=True)
class _Body:
    """The body split once and shared by every extractor."""

    text: str
    lines: list[str]
    masked: str
    masked_lines: list[str]
    offset: int  # file lines before the body
    line_starts: list[int]

    @classmethod
    def of(cls, body: str, offset: int) -> _Body:
        masked = mask(body)
        starts = [0] + [m.end() for m in re.finditer("\n", masked)]
        return cls(body, body.split("\n"), masked, masked.split("\n"), offset, starts)

    def line_at(self, char: int) -> int:
        return self.offset + bisect_right(self.line_starts, char)

    def file_line(self, index: int) -> int:
        return self.offset + index + 1


def _parse(path: str, text: str, mtime: float, content_hash: str, budget: ContentBudget) -> Note:
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if (reason := long_line(text, budget)) is not None:
        warning = ParseWarning(path, OVER_BUDGET, f"{reason}; skipped")
        return bare_note(path, note_title(path), warning, mtime, content_hash)
    raw_yaml, body, offset = split_frontmatter(text)
    properties, warnings = _load_yaml(path, raw_yaml, budget)
    parsed = _Body.of(body, offset)
    return Note(
        path=path,
        title=note_title(path),
        body=body,
        frontmatter=properties,
        aliases=_aliases(properties),
        tags=_unique(_frontmatter_tags(properties), _inline_tags(parsed.masked)),
        headings=tuple(_headings(parsed)),
        blocks=tuple(_blocks(parsed)),
        links=(*_property_links(raw_yaml), *_body_links(parsed)),
        footnotes=tuple(_footnotes(parsed)),
        callouts=tuple(_callouts(parsed)),
        content_hash=content_hash,
        mtime=mtime,
        body_line_offset=offset,
        frontmatter_text=raw_yaml or "",
        warnings=warnings,
    )


def split_frontmatter(text: str) -> tuple[str | None, str, int]:
    """(raw YAML or None, body, file lines before the body), by Obsidian's rule:
    the file's first line is `---` and a later line is `---`."""
    if not text.startswith("---"):
        return None, text, 0
    lines = text.split("\n")
    if lines[0].rstrip() != "---":
        return None, text, 0
    for index in range(1, len(lines)):
        if lines[index].rstrip() == "---":
            return "\n".join(lines[1:index]), "\n".join(lines[index + 1 :]), index + 1
    return None, text, 0


def _load_yaml(
    path: str, raw: str | None, budget: ContentBudget
) -> tuple[dict[str, Any], tuple[ParseWarning, ...]]:
    if raw is None or not raw.strip():
        return {}, ()
    try:
        data = _YAML.load(raw)
    except Exception as error:  # YAMLError, or RecursionError on absurd nesting
        reason = str(error).split("\n", 1)[0]
        return {}, (
            ParseWarning(
                path, "frontmatter", f"YAML not readable ({reason}); properties ignored, body kept"
            ),
        )
    if data is None:
        return {}, ()
    if not isinstance(data, dict):
        return {}, (
            ParseWarning(
                path,
                "frontmatter",
                f"frontmatter is a {type(data).__name__}, "
                "not a mapping of properties; ignored, body kept",
            ),
        )
    if (too_large := large_properties(data, budget)) is not None:
        return {}, (ParseWarning(path, OVER_BUDGET, f"{too_large}; skipped"),)
    return {str(key): value for key, value in data.items()}, ()


def _property_links(raw_yaml: str | None) -> Iterator[Link]:
    if raw_yaml is None:
        return
    for index, line in enumerate(raw_yaml.split("\n")):
        if line.lstrip().startswith("#"):  # a YAML comment
            continue
        for match in WIKI_LINK.finditer(line):
            link = wiki_link(match.group(2), LinkKind.PROPERTY, index + 2)
            if link is not None:
                yield link


def _body_links(body: _Body) -> list[Link]:
    """Links found in the masked text (so none inside code), read from the original text."""
    found: list[tuple[int, Link]] = []
    for match in WIKI_LINK.finditer(body.masked):
        kind = LinkKind.EMBED if match.group(1) else LinkKind.WIKI
        inner = body.text[match.start(2) : match.end(2)]
        link = wiki_link(inner, kind, body.line_at(match.start()))
        if link is not None:
            found.append((match.start(), link))
    for match in MARKDOWN_LINK.finditer(body.masked) if "](" in body.masked else ():
        original = MARKDOWN_LINK.fullmatch(body.text, match.start(), match.end()) or match
        link = markdown_link(original, body.line_at(match.start()))
        if link is not None:
            found.append((match.start(), link))
    return [link for _, link in sorted(found, key=lambda pair: pair[0])]


def wiki_link(inner: str, kind: LinkKind, line: int) -> Link | None:
    """`target#heading|display` (the text between `[[` and `]]`) as a Link."""
    target_part, has_display, display = inner.partition("|")
    target, _, fragment = target_part.rstrip("\\").partition("#")  # '\|' escapes in tables
    heading, block = _fragment(fragment)
    target = target.strip()
    if not (target or heading or block):
        return None
    label = display.strip() if has_display else ""
    return Link(target, kind, label or None, heading, block, line)


def markdown_link(match: re.Match[str], line: int) -> Link | None:
    """`[text](dest)` as a Link when `dest` names a vault file, else None."""
    destination = match.group(3)
    if destination.startswith("<"):
        destination = destination[1:-1]
    if URL_SCHEME.match(destination) or destination.startswith(("#", "//")):
        return None
    target, _, fragment = destination.partition("#")
    heading, block = _fragment(unquote(fragment))
    kind = LinkKind.EMBED if match.group(1) else LinkKind.MARKDOWN
    return Link(unquote(target).strip(), kind, match.group(2).strip() or None, heading, block, line)


def _fragment(fragment: str) -> tuple[str | None, str | None]:
    fragment = fragment.strip()
    if fragment.startswith("^"):
        return None, fragment[1:].strip() or None
    return fragment or None, None


def _aliases(properties: dict[str, Any]) -> tuple[str, ...]:
    value = properties.get("aliases", properties.get("alias"))
    if isinstance(value, str):  # legacy form: one string, comma-separated
        items: Iterable[Any] = value.split(",")
    elif isinstance(value, list):
        items = value
    else:
        return ()
    return _unique(str(item).strip() for item in items if isinstance(item, str | int | float))


def _frontmatter_tags(properties: dict[str, Any]) -> Iterator[str]:
    value = properties.get("tags", properties.get("tag"))
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, str | int | float) and not isinstance(item, bool):
            for tag in TAG_SEPARATORS.split(str(item)):
                tag = tag.lstrip("#").strip("/")
                if tag and not tag.isdigit():
                    yield tag


def _inline_tags(masked: str) -> Iterator[str]:
    for match in INLINE_TAG.finditer(masked):
        tag = match.group(1).strip("/")
        if tag and not tag.replace("/", "").isdigit():
            yield tag


def _unique(*groups: Iterable[str]) -> tuple[str, ...]:
    """Values in first-seen order, compared case-insensitively as Obsidian does."""
    seen: dict[str, str] = {}
    for group in groups:
        for value in group:
            if value:
                seen.setdefault(value.lower(), value)
    return tuple(seen.values())


def _headings(body: _Body) -> Iterator[Heading]:
    for index, line in enumerate(body.masked_lines):
        if not line or "#" not in line[:4] or quote_depth(line):
            continue
        match = HEADING.fullmatch(line)
        if match and match.group(2).strip():
            text = body.lines[index][match.start(2) : match.end(2)].strip()
            yield Heading(len(match.group(1)), text, body.file_line(index))


def _blocks(body: _Body) -> Iterator[Block]:
    for index, line in enumerate(body.masked_lines):
        if "^" not in line:
            continue
        match = BLOCK_ID.search(line)
        if match is None:
            continue
        text = unquoted(body.lines[index][: match.start()]).strip()
        if not text:  # an id on its own line names the block above it
            text = _previous_text(body.lines, index)
        yield Block(match.group(1), body.file_line(index), text)


def _previous_text(lines: list[str], index: int) -> str:
    for before in range(index - 1, -1, -1):
        if not is_blank(lines[before]):
            return unquoted(lines[before]).strip()
    return ""


def _footnotes(body: _Body) -> Iterator[Footnote]:
    for index, line in enumerate(body.masked_lines):
        if "[^" not in line:
            continue
        match = FOOTNOTE.match(line)
        if match is None:
            continue
        text = [body.lines[index][match.start(2) :].strip()]
        for after in range(index + 1, len(body.lines)):
            following = body.lines[after]
            if not following[:1].isspace() or not following.strip():
                break
            text.append(following.strip())
        yield Footnote(match.group(1), " ".join(part for part in text if part))


def _callouts(body: _Body) -> Iterator[Callout]:
    index = 0
    while index < len(body.lines):
        header = CALLOUT.match(body.masked_lines[index])  # code is masked: no callout there
        if header is None:
            index += 1
            continue
        end = index
        while end + 1 < len(body.lines) and quote_depth(body.lines[end + 1]):
            end += 1
        inner = [QUOTE_LEVEL.sub("", line, count=1) for line in body.lines[index + 1 : end + 1]]
        title = body.lines[index][header.start(2) :].strip()
        yield Callout(
            header.group(1).strip().lower(),
            title,
            "\n".join(inner).strip(),
            body.file_line(index),
            body.file_line(end),
        )
        index = end + 1
