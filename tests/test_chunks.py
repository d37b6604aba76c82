"""Heading-aware chunking (`chunks.chunk_note`)."""

from __future__ import annotations

from vaults import SAMPLES, needs_samples

from vault_schema import chunk_note, count_tokens, parse_note


def test_count_tokens_counts_words_and_punctuation() -> None:
    assert count_tokens("Hello, world!") == 4
    assert count_tokens("Привет мир") == 2
    assert count_tokens("   ") == 0


def test_one_chunk_per_section_with_its_heading_path_and_file_lines() -> None:
    text = (
        "---\ntags: [trip]\n---\n"
        "Intro line.\n"
        "# Kazan\n\n## Day 1\nWe arrived.\n\n## Day 2\n\n### Evening\nDinner.\n"
        "# Empty\n\n# Notes\nLast.\n"
    )
    chunks = chunk_note(parse_note("trip.md", text))
    assert [(c.heading_path, c.text, c.start_line, c.end_line) for c in chunks] == [
        ((), "Intro line.", 4, 4),
        (("Kazan", "Day 1"), "We arrived.", 8, 8),
        (("Kazan", "Day 2", "Evening"), "Dinner.", 13, 13),
        (("Notes",), "Last.", 17, 17),
    ]
    assert [c.ordinal for c in chunks] == [0, 1, 2, 3]
    assert all("tags" not in c.text and "#" not in c.text for c in chunks)
    assert chunks[1].embedding_text == "Kazan > Day 1\n\nWe arrived."


def test_long_sections_split_at_paragraphs_within_the_bound() -> None:
    paragraphs = [" ".join(f"p{n}w{i}" for i in range(30)) for n in range(5)]
    note = parse_note("a.md", "# H\n" + "\n\n".join(paragraphs))
    chunks = chunk_note(note, max_tokens=70)
    assert [c.text for c in chunks] == [
        paragraphs[0] + "\n\n" + paragraphs[1],
        paragraphs[2] + "\n\n" + paragraphs[3],
        paragraphs[4],
    ]
    assert [(c.start_line, c.end_line) for c in chunks] == [(2, 4), (6, 8), (10, 10)]
    assert all(count_tokens(c.text) <= 70 for c in chunks)


def test_code_blocks_and_tables_are_never_split() -> None:
    code = "```python\n" + "\n\nx = 1\n" * 5 + "```"
    table = "| a | b |\n|---|---|\n" + "| 1 | 2 |\n" * 3
    note = parse_note("a.md", f"Before words here.\n\n{code}\n\n{table}\nAfter.")
    limit = max(count_tokens(code), count_tokens(table)) + 1
    texts = [c.text for c in chunk_note(note, max_tokens=limit)]
    assert sum(code in text for text in texts) == 1  # whole, in one chunk
    assert sum(table.strip() in text for text in texts) == 1
    assert all(count_tokens(text) <= limit for text in texts)


def test_a_block_over_the_bound_is_split_by_lines_and_a_line_by_tokens() -> None:
    code = "```\n" + "\n".join(f"line_{i} = {i}" for i in range(40)) + "\n```"
    chunks = chunk_note(parse_note("a.md", code), max_tokens=20)
    assert len(chunks) > 1
    assert all(count_tokens(c.text) <= 20 for c in chunks)
    assert "\n".join(c.text for c in chunks) == code
    long_line = " ".join(f"w{i}" for i in range(100))
    pieces = chunk_note(parse_note("a.md", long_line), max_tokens=30)
    assert [count_tokens(p.text) for p in pieces] == [30, 30, 30, 10]
    assert " ".join(p.text for p in pieces) == long_line
    assert {(p.start_line, p.end_line) for p in pieces} == {(1, 1)}


def test_chunk_ids_depend_on_text_and_headings_not_on_the_note() -> None:
    first = chunk_note(parse_note("a.md", "# H\nSame text."))[0]
    moved = chunk_note(parse_note("elsewhere/b.md", "---\nk: v\n---\n# H\nSame text."))[-1]
    other = chunk_note(parse_note("a.md", "# Other\nSame text."))[0]
    assert first.id == moved.id
    assert first.id != other.id


@needs_samples
def test_transcript_notes_chunk_within_the_bound_and_cover_the_text() -> None:
    path = SAMPLES / "05_я_видел_кмрилл_каждый.md"
    note = parse_note(path.name, path.read_text(encoding="utf-8"))
    chunks = chunk_note(note, max_tokens=256)
    assert all(0 < count_tokens(c.text) <= 256 for c in chunks)
    lines = path.read_text(encoding="utf-8").split("\n")
    for chunk in chunks:  # a chunk's file lines are where its text is
        span = "\n".join(lines[chunk.start_line - 1 : chunk.end_line])
        assert chunk.text in span
    words = sum(count_tokens(line) for line in lines if not line.startswith("#"))
    assert sum(count_tokens(c.text) for c in chunks) >= words * 0.95


def test_no_chunk_is_longer_than_the_character_cap() -> None:
    blob = "data:" + "QUJD" * 5000  # one 'token' of 20,005 characters, as base64 images are
    chunks = chunk_note(parse_note("a.md", f"# Image\n{blob}\n\nA caption."), max_chars=4000)
    assert max(len(c.text) for c in chunks) <= 4000
    assert "".join(c.text for c in chunks).replace("\n", "") == blob + "A caption."


def test_properties_are_one_chunk_of_key_value_lines() -> None:
    note = parse_note(
        "a.md",
        "---\nshrine: Fushimi Inari\nvisited: 2024-04-02\nwith: ['[[Anna]]', Dima]\n"
        "tags: [trip]\naliases: [Kyoto]\n---\nBody.",
    )
    first = chunk_note(note)[0]
    assert first.text == "shrine: Fushimi Inari\nvisited: 2024-04-02\nwith: Anna, Dima"
    assert (first.heading_path, first.start_line, first.end_line) == ((), 2, 6)


def test_properties_of_bookkeeping_alone_make_no_chunk() -> None:
    note = parse_note("a.md", "---\ncreated: 2025-04-02\nupdated: 2026-04-19\n---\nBody text.")
    assert [chunk.text for chunk in chunk_note(note)] == ["Body text."]
