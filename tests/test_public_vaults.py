"""The parser and the link resolver on real public vaults (../shared/data, SOURCE.md excluded).

The counts were computed by `load_vault` and then checked by reading notes: a
sample of each vault's notes was counted by hand (for example kepano's
"Evergreen notes turn ideas…" has 5 property links and 10 wiki-links, groepl's
"Books.md" 9 links of which 3 resolve, tanepiper's "📇 Glossary.md" 6 links of
which 3 resolve). They differ from the counts in the SOURCE.md files, which
count every `[[` in the raw text: sorobby's dashboards and templates keep most
of theirs inside ```dataviewjs blocks and inline code (not links to Obsidian),
and SOURCE.md does not count Markdown links or links in properties.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from pathlib import Path

import pytest

from vault_schema import LinkKind, Vault, load_vault, note_date

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data is not present")

COUNTS = {  # vault: (notes, links, resolved, unresolved)
    "kepano-obsidian": (103, 209, 146, 63),
    "sorobby-obsidian-starter-vault": (100, 147, 122, 25),
    # 52 notes and 6 canvases; the canvases' 8 links name images the vault does not ship
    "groepl-zettelkasten-starter-kit": (58, 258, 68, 190),
    "tanepiper-obsidian-garden": (49, 233, 106, 127),
    "lixelv-itmo-notes-ru": (81, 249, 204, 45),
}
_loaded: dict[str, Vault] = {}


def vault(name: str) -> Vault:
    if name not in _loaded:
        _loaded[name] = load_vault(DATA / name, exclude=["SOURCE.md"])
    return _loaded[name]


def links_of(name: str, path: str) -> list[tuple[int, str, str, str | None]]:
    note = vault(name).notes[path]
    return [(link.line, link.kind.value, link.target, link.resolved) for link in note.links]


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_counts(name: str) -> None:
    loaded = vault(name)
    links = [link for note in loaded.notes.values() for link in note.links]
    resolved = sum(1 for link in links if link.resolved)
    assert (len(loaded.notes), len(links), resolved, len(links) - resolved) == COUNTS[name]
    assert loaded.skipped == []
    assert "SOURCE.md" not in loaded.notes


def test_kepano_links_in_properties_and_case_insensitive_names() -> None:
    evergreen = "Notes/Evergreen notes turn ideas into objects that you can manipulate.md"
    assert links_of("kepano-obsidian", evergreen)[:6] == [
        (3, "property", "Posts", "Categories/Posts.md"),
        (4, "property", "Clippings", "Categories/Clippings.md"),
        (8, "property", "Steph Ango", "References/Steph Ango.md"),
        (11, "property", "Evergreen", "Categories/Evergreen.md"),
        (15, "property", "Published", None),  # no such note: kept, unresolved
        (17, "wiki", "evergreen", "Categories/Evergreen.md"),
    ]
    assert links_of("kepano-obsidian", "References/Blade Runner.md") == [
        (3, "property", "Movies", "Categories/Movies.md"),
        (6, "property", "Sci-fi", "References/Sci-fi.md"),
        (8, "property", "Ridley Scott", None),
        (10, "property", "Harrison Ford", None),
    ]


def test_kepano_heading_links_and_bases_embeds() -> None:
    jazz = vault("kepano-obsidian").notes["References/Jazz.md"].links[0]
    assert (jazz.kind, jazz.target, jazz.heading, jazz.resolved) == (
        LinkKind.EMBED,
        "Albums.base",
        "Genre",
        "Templates/Bases/Albums.base",
    )
    all_links = [link for n in vault("kepano-obsidian").notes.values() for link in n.links]
    assert sum(1 for link in all_links if link.heading) == 35  # as SOURCE.md counts them


def test_kepano_template_yaml_fails_but_its_property_links_survive() -> None:
    note = vault("kepano-obsidian").notes["Templates/Director Template.md"]  # `created: {{date}}`
    assert [w.code for w in note.warnings] == ["frontmatter"]
    assert [(link.target, link.resolved) for link in note.links] == [
        ("People", "Categories/People.md"),
        ("Directors", None),
        ("Movies.base", "Templates/Bases/Movies.base"),
    ]


def test_groepl_aliases() -> None:
    loaded = vault("groepl-zettelkasten-starter-kit")
    sonke = unicodedata.normalize("NFD", "Starter-Kit/2_Literature/Sönke Ahrens.md")  # as on disk
    assert {path: note.aliases for path, note in loaded.notes.items() if note.aliases} == {
        sonke: ("Ahrens, Sönke",),
        "Starter-Kit/5_Structure/ARCO View.md": ("ARCO",),
        "Starter-Kit/5_Structure/Inspect View.md": ("Analytics",),
    }
    assert loaded.resolver.resolve("arco") == "Starter-Kit/5_Structure/ARCO View.md"
    assert loaded.resolver.resolve("Analytics") == "Starter-Kit/5_Structure/Inspect View.md"
    assert loaded.resolver.resolve("Ahrens, Sönke") == sonke


def test_groepl_links_embeds_canvases_and_decoded_markdown_links() -> None:
    name = "groepl-zettelkasten-starter-kit"
    fleeting = links_of(name, "Starter-Kit/1_Fleeting/About - 1_Fleeting Notes.md")
    assert fleeting[:3] == [
        (11, "property", "image.jpg", None),  # `visual: "![[image.jpg]]"`, image not copied
        (
            20,
            "embed",
            "About - 1_Fleeting Notes.canvas",
            "Starter-Kit/5_Structure/Canvases/About - 1_Fleeting Notes.canvas",
        ),
        (
            21,
            "wiki",
            "About - 1_Fleeting Notes",
            "Starter-Kit/1_Fleeting/About - 1_Fleeting Notes.md",
        ),
    ]
    sonke = unicodedata.normalize("NFD", "Starter-Kit/2_Literature/Sönke Ahrens.md")
    book = next(path for path in vault(name).notes if "How to take Smart Notes" in path)
    found = [
        (line, kind, unicodedata.normalize("NFC", target), resolved)
        for line, kind, target, resolved in links_of(name, book)
        if line in (39, 48, 87)
    ]
    assert found == [
        (39, "wiki", "Sönke Ahrens", sonke),
        (48, "markdown", "5_Structures/Zettelkasten.md", None),  # the folder is 5_Structure
        (87, "markdown", "Sönke Ahrens.md", sonke),  # written `Sönke%20Ahrens.md`
    ]


def test_lixelv_cyrillic_paths() -> None:
    name = "lixelv-itmo-notes-ru"
    assert links_of(name, "Математика/Линейная алгебра/Кольцо.md") == [
        (2, "markdown", "Группа.md", "Математика/Линейная алгебра/Группа.md"),
        (45, "wiki", "Поле", "Математика/Линейная алгебра/Поле.md"),
    ]
    assert links_of(name, "Математика/Математический анализ/Показательные функции.md") == [
        (
            9,
            "markdown",
            "Логарифмические функции.md",
            "Математика/Математический анализ/Логарифмические функции.md",
        ),
        (13, "embed", "exp_function.gif", None),  # media not copied
        (29, "wiki", "Производная", None),  # a note not written yet
        (29, "markdown", "Интеграл.md", None),
    ]


def test_lixelv_c_preprocessor_lines_in_code_are_not_tags() -> None:
    assert all(note.tags == () for note in vault("lixelv-itmo-notes-ru").notes.values())


def test_tanepiper_emoji_paths_and_alias_links() -> None:
    name = "tanepiper-obsidian-garden"
    assert links_of(name, "📇 Glossary.md") == [
        (7, "wiki", "⏣ Templates/🔖 New Term", "⏣ Templates/🔖 New Term.md"),
        (9, "wiki", "📇 Terms/🪨 Obsidian/Link", None),  # the folder is now '💎 Obsidian'
        (9, "wiki", "📇 Terms/💡 Concepts/Connection", "📇 Terms/💡 Concepts/Connection.md"),
        (
            9,
            "wiki",
            "📇 Terms/🧠 Knowledge Systems/🗃 Knowledge Management",
            "📇 Terms/🧠 Knowledge Systems/🗃 Knowledge Management.md",
        ),
        (9, "wiki", "📇 Terms/🪨 Obsidian/🪨 Obsidian", None),
        (13, "wiki", "📇 Terms/🪨 Obsidian/Link", None),
    ]
    graph = links_of(name, "📇 Terms/🧠 Knowledge Systems/Knowledge Graph.md")
    assert (17, "wiki", "connections", "📇 Terms/💡 Concepts/Connection.md") in graph  # an alias
    seeds = "👩\u200d🌾 Gardening Tips/🌾 Sowing Your Garden/🌱 Planting Seeds.md"
    local = next(link for link in vault(name).notes[seeds].links if link.line == 17)
    assert (local.target, local.heading, local.resolved) == ("", "⏣ Seed Templates", seeds)
    assert vault(name).notes["📇 Glossary.md"].tags == ()  # `#term` only in code


def test_sorobby_path_links_and_dates() -> None:
    note = "Vault/Notes/Enceladus Ice Thickness.md"
    assert links_of("sorobby-obsidian-starter-vault", note)[:2] == [
        (7, "wiki", "Notes Dashboard", "Vault/Notes/Notes Dashboard.md"),
        (7, "wiki", "Notes/Enceladus Ice Thickness", note),
    ]
    assert note_date(vault("sorobby-obsidian-starter-vault").notes[note]) == datetime(2023, 7, 21)
