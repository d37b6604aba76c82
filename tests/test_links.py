"""Obsidian's link resolution (`links.LinkResolver`, `links.resolve_links`)."""

from __future__ import annotations

import unicodedata

import pytest

from vault_schema import LinkResolver, parse_note, resolve_links

FILES = [
    "Home.md",
    "Ideas/Idea.md",
    "Archive/Idea.md",
    "Archive/Old/Deep.md",
    "Projects/Plan.md",
    "Projects/Sub/Plan.md",
    "Reading/v1.2 release.md",
    "Reading/Some Note.md",
    "Заметки/Идея дня.md",
    "🌱 Seeds/🌱 Planting Seeds.md",
    "attachments/image.png",
    "Games.base",
]


@pytest.fixture
def resolver() -> LinkResolver:
    return LinkResolver(FILES, {"Home.md": ["Start", "Главная"], "Ideas/Idea.md": ["Start"]})


@pytest.mark.parametrize(
    ("target", "source", "expected"),
    [
        ("home", None, "Home.md"),  # case-insensitive
        ("Home.md", None, "Home.md"),  # '.md' optional
        ("Deep", None, "Archive/Old/Deep.md"),  # unique name anywhere
        ("Old/Deep", None, "Archive/Old/Deep.md"),  # a path suffix
        ("Archive/Idea", None, "Archive/Idea.md"),  # a vault path
        ("Idea", "Archive/Other.md", "Archive/Idea.md"),  # same folder wins
        ("Idea", "Home.md", "Ideas/Idea.md"),  # else the shortest path, then alphabetical
        ("Plan", "Home.md", "Projects/Plan.md"),  # fewer folders wins
        ("Plan", "Projects/Sub/Other.md", "Projects/Sub/Plan.md"),
        ("../Plan.md", "Projects/Sub/Other.md", "Projects/Plan.md"),  # relative
        ("Sub/Plan.md", "Projects/Other.md", "Projects/Sub/Plan.md"),  # relative to the folder
        ("v1.2 release", None, "Reading/v1.2 release.md"),  # a dot in the name
        ("image.png", None, "attachments/image.png"),  # attachments
        ("games.base", None, "Games.base"),
        ("идея ДНЯ", None, "Заметки/Идея дня.md"),  # Cyrillic, case-insensitive
        ("🌱 Planting Seeds", None, "🌱 Seeds/🌱 Planting Seeds.md"),
        ("главная", None, "Home.md"),  # an alias
        ("", "Ideas/Idea.md", "Ideas/Idea.md"),  # [[#heading]] is the note itself
        ("Missing", None, None),
        ("Seeds/Deep", None, None),  # a path must match as written
        ("../../../etc/passwd", "Home.md", None),
        ("image", None, None),  # no extension means a note
    ],
)
def test_resolution_rules(
    resolver: LinkResolver, target: str, source: str | None, expected: str | None
) -> None:
    assert resolver.resolve(target, source) == expected


def test_a_file_name_beats_an_alias_and_ambiguous_aliases_pick_the_closest(
    resolver: LinkResolver,
) -> None:
    both = LinkResolver([*FILES, "Start.md"], {"Home.md": ["Start"]})
    assert both.resolve("start") == "Start.md"
    assert resolver.resolve("Start", "Ideas/Other.md") == "Ideas/Idea.md"
    assert resolver.resolve("Start", "Elsewhere/x.md") == "Home.md"


def test_decomposed_file_names_match_composed_links() -> None:
    decomposed = unicodedata.normalize("NFD", "Literature/Sönke Ahrens.md")
    resolver = LinkResolver([decomposed])
    assert resolver.resolve("Sönke Ahrens") == decomposed  # the path as it is on disk


def test_resolve_links_fills_every_link_and_keeps_unresolved(resolver: LinkResolver) -> None:
    note = parse_note(
        "Projects/Plan.md",
        "[[Idea]] [[Missing note]] ![[image.png]] [x](../Reading/Some%20Note.md) [[#Goals]]",
    )
    resolved = resolve_links(note, resolver)
    assert [link.resolved for link in resolved.links] == [
        "Ideas/Idea.md",
        None,
        "attachments/image.png",
        "Reading/Some Note.md",
        "Projects/Plan.md",
    ]
    assert [link.target for link in resolved.links] == [link.target for link in note.links]
