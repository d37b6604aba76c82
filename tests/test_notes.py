"""Parsing one note (`parser.parse_note`), reading files (`files`), loading a vault, privacy."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from vault_schema import (
    LinkKind,
    SkippedFile,
    is_private,
    iter_note_paths,
    iter_vault_files,
    load_vault,
    parse_note,
    read_note,
)


def test_frontmatter_is_metadata_and_lines_stay_file_lines() -> None:
    note = parse_note(
        "Trips/Kazan.md",
        "---\ncreated: 2025-08-14\naliases: [Казань, KZN]\ntags: [travel, trip/2025]\n---\n"
        "# Kazan\nWe walked to [[Kremlin]].\n",
    )
    assert note.title == "Kazan"
    assert note.frontmatter["created"] == dt.date(2025, 8, 14)
    assert note.aliases == ("Казань", "KZN")
    assert note.tags == ("travel", "trip/2025")
    assert note.body.startswith("# Kazan")
    assert note.body_line_offset == 5
    assert note.headings[0].line == 6
    assert [(link.target, link.line) for link in note.links] == [("Kremlin", 7)]


def test_every_wiki_link_form() -> None:
    note = parse_note(
        "a.md",
        "[[Plain]] [[Target|shown text]] [[Target#Some Heading]] [[Target#^block-1]]\n"
        "![[picture.png]] [[folder/Deep Note#Part|alias]] [[#Local heading]] [[n\\|in table]]\n",
    )
    links = [
        (link.target, link.kind, link.display, link.heading, link.block) for link in note.links
    ]
    assert links == [
        ("Plain", LinkKind.WIKI, None, None, None),
        ("Target", LinkKind.WIKI, "shown text", None, None),
        ("Target", LinkKind.WIKI, None, "Some Heading", None),
        ("Target", LinkKind.WIKI, None, None, "block-1"),
        ("picture.png", LinkKind.EMBED, None, None, None),
        ("folder/Deep Note", LinkKind.WIKI, "alias", "Part", None),
        ("", LinkKind.WIKI, None, "Local heading", None),
        ("n", LinkKind.WIKI, "in table", None, None),
    ]


def test_markdown_links_are_decoded_and_web_links_ignored() -> None:
    note = parse_note(
        "a.md",
        "[one](Some%20Note.md) [two](<Other Note.md#Intro>) ![img](pics/cat%201.png)\n"
        "[web](https://example.com/x.md) [mail](mailto:a@b.c) [anchor](#top)\n",
    )
    links = [(link.target, link.kind, link.display, link.heading) for link in note.links]
    assert links == [
        ("Some Note.md", LinkKind.MARKDOWN, "one", None),
        ("Other Note.md", LinkKind.MARKDOWN, "two", "Intro"),
        ("pics/cat 1.png", LinkKind.EMBED, "img", None),
    ]


def test_links_in_properties_are_property_links_with_their_line() -> None:
    note = parse_note(
        "a.md",
        '---\nrelated: "[[X]]"\nsee:\n  - "[[Y|why]]"\n  - "[[Z#Part]]"\n# a comment [[No]]\n---\n'
        "Body [[W]].\n",
    )
    assert [(link.target, link.kind, link.line) for link in note.links] == [
        ("X", LinkKind.PROPERTY, 2),
        ("Y", LinkKind.PROPERTY, 4),
        ("Z", LinkKind.PROPERTY, 5),
        ("W", LinkKind.WIKI, 8),
    ]


def test_nothing_inside_code_or_comments_counts() -> None:
    note = parse_note(
        "a.md",
        "```python\n# not a heading\nx = '[[NotALink]] #nottag'\n```\n"
        "Inline `[[NoLink]] #notag` and %% [[Hidden]] #hidden %% and <!-- [[Gone]] -->\n"
        "> ```\n> [[QuotedCode]]\n> ```\n"
        "# Real heading\n[[Real]] #real\n",
    )
    assert [link.target for link in note.links] == ["Real"]
    assert note.tags == ("real",)
    assert [h.text for h in note.headings] == ["Real heading"]


def test_tag_rules() -> None:
    note = parse_note(
        "a.md",
        '---\ntags: [project/alpha, "#Inbox"]\n---\n'
        "# Heading is not a tag\n#areas/health and #Inbox again, issue #123 is no tag,\n"
        "see https://example.com/#frag and [[Note#section]], C# or x#y, #год-2025 #y1984\n",
    )
    assert note.tags == ("project/alpha", "Inbox", "areas/health", "год-2025", "y1984")
    assert parse_note("a.md", "---\ntags: one, two/x three\n---\n").tags == (
        "one",
        "two/x",
        "three",
    )


def test_headings_blocks_footnotes_callouts() -> None:
    note = parse_note(
        "a.md",
        "# Top\n## Second ##\nA paragraph. ^para-1\n\n- item\n\n^list-id\n"
        "Claim.[^1]\n\n[^1]: The source,\n    continued.\n"
        "> [!Warning]- Careful here\n> first line\n> > nested\n\nafter\n"
        "> ## heading inside a callout is not an outline heading\n",
    )
    assert [(h.level, h.text, h.line) for h in note.headings] == [(1, "Top", 1), (2, "Second", 2)]
    assert [(b.id, b.line, b.text) for b in note.blocks] == [
        ("para-1", 3, "A paragraph."),
        ("list-id", 7, "- item"),
    ]
    assert [(f.label, f.text) for f in note.footnotes] == [("1", "The source, continued.")]
    callout = note.callouts[0]
    assert (callout.type, callout.title, callout.line, callout.end_line) == (
        "warning",
        "Careful here",
        12,
        14,
    )
    assert callout.body == "first line\n> nested"


def test_malformed_yaml_keeps_body_and_warns() -> None:
    note = parse_note("a.md", "---\ntitle: [unclosed\nrel: '[[Kept]]'\n---\nBody with [[Link]].\n")
    assert note.frontmatter == {}
    assert [w.code for w in note.warnings] == ["frontmatter"]
    assert note.body == "Body with [[Link]].\n"
    assert [link.target for link in note.links] == ["Kept", "Link"]


@pytest.mark.parametrize("yaml_text", ["- a\n- b", "just a string", "{{date}}: x"])
def test_frontmatter_that_is_not_a_mapping_is_a_warning(yaml_text: str) -> None:
    note = parse_note("a.md", f"---\n{yaml_text}\n---\ntext\n")
    assert note.frontmatter == {}
    assert [w.code for w in note.warnings] == ["frontmatter"]
    assert note.body == "text\n"


def test_unclosed_frontmatter_is_body() -> None:
    note = parse_note("a.md", "---\nnot closed\n[[Link]]\n")
    assert note.body_line_offset == 0
    assert note.links[0].line == 3


def test_crlf_and_bom_do_not_shift_lines() -> None:
    note = parse_note("a.md", "\ufeff---\r\nk: v\r\n---\r\n# H\r\n[[L]]\r\n")
    assert note.frontmatter == {"k": "v"}
    assert note.headings[0].line == 4
    assert note.links[0].line == 5


def write(root: Path, path: str, data: bytes | str) -> None:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data.encode() if isinstance(data, str) else data)


def test_read_note_hashes_bytes_and_reports_bad_encoding(tmp_path: Path) -> None:
    write(tmp_path, "latin.md", "Caf\xe9 [[Menu]]\n".encode("latin-1"))
    note = read_note(tmp_path, "latin.md")
    assert note.body == "Caf\ufffd [[Menu]]\n"
    assert [w.code for w in note.warnings] == ["encoding"]
    assert note.links[0].target == "Menu"
    assert len(note.content_hash) == 64 and note.mtime > 0


@pytest.mark.parametrize(
    ("data", "max_bytes", "code"),
    [(b"PNG\x00\x01\x02 [[x]]", 1000, "binary"), (b"a" * 2000, 1000, "too-large")],
)
def test_files_that_are_skipped(tmp_path: Path, data: bytes, max_bytes: int, code: str) -> None:
    write(tmp_path, "bad.md", data)
    with pytest.raises(SkippedFile) as raised:
        read_note(tmp_path, "bad.md", max_bytes=max_bytes)
    assert raised.value.warning.code == code
    assert raised.value.warning.path == "bad.md"


def test_file_deleted_between_listing_and_reading(tmp_path: Path) -> None:
    write(tmp_path, "gone.md", "bye")
    listed = list(iter_note_paths(tmp_path))
    (tmp_path / "gone.md").unlink()
    with pytest.raises(SkippedFile) as raised:
        read_note(tmp_path, listed[0])
    assert raised.value.warning.code == "vanished"


def test_unreadable_and_escaping_paths(tmp_path: Path) -> None:
    (tmp_path / "folder.md").mkdir()  # a folder named like a note: reading it fails
    with pytest.raises(SkippedFile) as raised:
        read_note(tmp_path, "folder.md")
    assert raised.value.warning.code == "unreadable"
    with pytest.raises(SkippedFile):
        read_note(tmp_path, "../outside.md")


def test_listing_skips_hidden_folders_and_excludes(tmp_path: Path) -> None:
    for path in [
        "b.md",
        "a/c.md",
        ".obsidian/app.md",
        ".trash/old.md",
        "Templates/t.md",
        "img/p.png",
        "SOURCE.md",
        "sub/SOURCE.md",
        ".hidden.md",
    ]:
        write(tmp_path, path, "x")
    assert list(iter_note_paths(tmp_path, ["Templates", "SOURCE.md"])) == [
        "a/c.md",
        "b.md",
        "sub/SOURCE.md",
    ]
    assert list(iter_vault_files(tmp_path, ["Templates/**", "**/SOURCE.md"])) == [
        "a/c.md",
        "b.md",
        "img/p.png",
    ]


def test_load_vault_collects_skips_and_resolves(tmp_path: Path) -> None:
    write(tmp_path, "Home.md", "[[Ideas/Idea]] ![[p.png]] [[Missing]]")
    write(tmp_path, "Ideas/Idea.md", "---\naliases: [Thought]\n---\nback to [[home]]")
    write(tmp_path, "p.png", b"\x89PNG\x00")
    write(tmp_path, "Broken.md", b"\x00\x00")
    write(tmp_path, "Bad yaml.md", "---\n: : :\n---\ntext")
    vault = load_vault(tmp_path)
    assert sorted(vault.notes) == ["Bad yaml.md", "Home.md", "Ideas/Idea.md"]
    assert [(w.path, w.code) for w in vault.skipped] == [("Broken.md", "binary")]
    assert [link.resolved for link in vault.notes["Home.md"].links] == [
        "Ideas/Idea.md",
        "p.png",
        None,
    ]
    assert vault.notes["Ideas/Idea.md"].links[0].resolved == "Home.md"
    assert vault.resolver.resolve("thought") == "Ideas/Idea.md"
    assert {w.code for w in vault.warnings} == {"binary", "frontmatter"}


def test_privacy_by_property_or_tag() -> None:
    assert is_private(parse_note("a.md", "---\noverlay: private\n---\nx"))
    assert is_private(parse_note("a.md", "text #Private/health"))
    assert is_private(parse_note("a.md", "---\ntags: [diary]\n---\n"), private_tags=["diary"])
    assert not is_private(parse_note("a.md", "text #privateer #public"))
