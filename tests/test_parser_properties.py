"""Property tests: arbitrary text and file names never make parsing raise."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from vault_schema import (
    LinkResolver,
    chunk_note,
    count_tokens,
    extract_dialogue,
    note_date,
    parse_note,
    resolve_links,
)

# Markdown's own characters, so that generated text hits the parser's paths often.
SYNTAX = st.sampled_from(
    [
        "---\n",
        "\n",
        "[[",
        "]]",
        "|",
        "#",
        "^",
        "![[",
        "](",
        ")",
        "[",
        "]",
        "> ",
        ">[!nexus_user] ",
        ">[!nexus_agent] 26.07.2025 at 9:43",
        "```",
        "~~~",
        "`",
        "%%",
        "<!--",
        "-->",
        "$$",
        "[^1]: ",
        "tags: ",
        "aliases: ",
        "created: ",
        "- ",
        ": ",
        "{",
        "}",
        "\t",
        "\r\n",
        "\ufeff",
        "%20",
        "<!-- UID: x -->",
        "| a |",
        "\x00",
        "é",
        "й",
        "🌱",
    ]
)
TEXT = st.lists(st.one_of(SYNTAX, st.text(max_size=12)), max_size=60).map("".join)
PATHS = st.text(min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(path=PATHS, text=TEXT, limit=st.integers(min_value=-3, max_value=64))
def test_parse_chunk_and_extract_never_raise(path: str, text: str, limit: int) -> None:
    note = parse_note(path, text, mtime=1.0)
    assert not [w for w in note.warnings if w.code == "parser"], note.warnings  # no parser bug
    chunks = chunk_note(note, max_tokens=limit)
    bound = max(1, limit)
    total_lines = text.count("\n") + text.count("\r") + 1
    for chunk in chunks:
        assert chunk.text.strip()
        assert 0 < count_tokens(chunk.text) <= bound
        assert 1 <= chunk.start_line <= chunk.end_line <= total_lines
    extract_dialogue(note)
    note_date(note)
    resolve_links(note, LinkResolver([path, "a.md"], {path: note.aliases}))


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=300))
def test_any_unicode_text_parses(text: str) -> None:
    note = parse_note("n.md", text)
    assert not [w for w in note.warnings if w.code == "parser"], note.warnings
    chunk_note(note, max_tokens=16)
