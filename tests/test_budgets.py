"""The content budget: a file holding more than its parser takes on is skipped with its
reason, like a FIFO, and the sync goes on with the other files.

Each case was found by a probe of issue 30: a 200 KB canvas of nested brackets raised
RecursionError and stopped every sync; a 382-byte YAML "billion laughs" hung indexing
while memory grew to gigabytes. The syncs use `HashEmbedder`, a deterministic fake:
what is tested is which files reach the store, not what their vectors mean.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from vaults import MakeSettings, MakeVault, pdf_bytes

from indexer.embedders import HashEmbedder
from indexer.store import Store
from indexer.sync import Indexer, SyncReport
from vault_schema import ContentBudget, SkippedFile, chunk_note, parse_note, read_note

GOOD = {
    "Sailing.md": "# Sailing\nWe sailed to the island at dawn.\n",
    "Bread.md": "# Bread\nThe sourdough wants a warm kitchen.\n",
}
NESTED_CANVAS = "[" * 100_000 + "]" * 100_000  # 200 KB, as filed
BILLION_LAUGHS = [  # each list holds the one before it nine times: 9^9 strings in all
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    *(
        f"{name}: &{name} [{','.join([f'*{before}'] * 9)}]"
        for before, name in zip("abcdefgh", "bcdefghi", strict=True)
    ),
]
ALIAS_BOMB = "---\n" + "\n".join(BILLION_LAUGHS) + "\n---\nThe body of the bomb.\n"  # 372 bytes


def sync(vault: Path, make_settings: MakeSettings) -> tuple[SyncReport, set[str]]:
    settings = make_settings(vault)
    with Store.from_settings(settings) as store:
        report = Indexer(settings, store, HashEmbedder()).sync()
        return report, {note.path for note in store.notes()}


def skip_reason(report: SyncReport, path: str) -> str:
    return dict(report.skipped)[path]


def test_a_deeply_nested_canvas_is_skipped_and_every_other_note_indexed(
    make_vault: MakeVault, make_settings: MakeSettings
) -> None:
    vault = make_vault({**GOOD, "Boards/nested.canvas": NESTED_CANVAS})

    report, indexed = sync(vault, make_settings)  # was: RecursionError, every time

    assert indexed == set(GOOD)
    assert skip_reason(report, "Boards/nested.canvas").startswith("over-budget: JSON nested")


def test_a_canvas_of_too_many_nested_groups_is_skipped(
    make_vault: MakeVault, make_settings: MakeSettings
) -> None:
    groups = [
        {"id": f"g{n}", "type": "group", "x": n, "y": n, "width": 9e6 - 2 * n, "height": 9e6}
        for n in range(3000)
    ]
    vault = make_vault({**GOOD, "Boards/groups.canvas": json.dumps({"nodes": groups})})

    report, indexed = sync(vault, make_settings)

    assert indexed == set(GOOD)
    assert "3000 groups, over the 200-group budget" in skip_reason(report, "Boards/groups.canvas")


def test_a_yaml_alias_bomb_is_skipped_before_it_expands(make_vault: MakeVault) -> None:
    vault = make_vault({"Bomb.md": ALIAS_BOMB})

    with pytest.raises(SkippedFile) as skipped:
        read_note(vault, "Bomb.md")

    assert skipped.value.warning.code == "over-budget"
    assert "aliases are expanded" in skipped.value.warning.message
    assert parse_note("Bomb.md", ALIAS_BOMB).frontmatter == {}  # nothing left to expand


@pytest.mark.timeout(120)  # was: no end in 120 s, memory growing 18 MB/s
def test_a_sync_with_a_yaml_alias_bomb_ends_and_indexes_the_rest(
    make_vault: MakeVault, make_settings: MakeSettings
) -> None:
    vault = make_vault({**GOOD, "Bomb.md": ALIAS_BOMB})

    report, indexed = sync(vault, make_settings)

    assert indexed == set(GOOD)
    assert skip_reason(report, "Bomb.md").startswith(
        "over-budget: frontmatter past the 20000-value"
    )


def test_a_frontmatter_list_that_holds_itself_does_not_stop_a_sync(
    make_vault: MakeVault, make_settings: MakeSettings
) -> None:
    looped = "---\nloop: &loop [a, *loop]\n---\nA note whose property holds itself.\n"
    assert chunk_note(parse_note("Loop.md", looped))  # was: RecursionError in chunk_note
    vault = make_vault({**GOOD, "Loop.md": looped})

    report, indexed = sync(vault, make_settings)

    assert indexed == set(GOOD)
    assert skip_reason(report, "Loop.md").startswith("over-budget: frontmatter")


def test_a_markdown_line_over_budget_skips_the_note(make_vault: MakeVault) -> None:
    vault = make_vault({"Long.md": "# Long\n" + "x" * 2_000 + "\nshort line\n"})

    with pytest.raises(SkippedFile) as skipped:
        read_note(vault, "Long.md", budget=ContentBudget(line_chars=1_000))

    assert skipped.value.warning.code == "over-budget"
    assert (
        "a line of 2000 characters, over the 1000-character budget" in skipped.value.warning.message
    )
    assert read_note(vault, "Long.md").body.endswith("short line\n")  # the default takes it


@pytest.mark.parametrize(
    ("budget", "reason"),
    [
        (ContentBudget(pdf_pages=2), "3 pages, over the 2-page budget"),
        (ContentBudget(pdf_chars=40), "past the 40-character budget by page 2"),
    ],
)
def test_a_pdf_over_budget_is_skipped_with_its_reason(
    make_vault: MakeVault, budget: ContentBudget, reason: str
) -> None:
    pages = ["Tides turn twice a day.", "The moon pulls the sea.", "Spring tides are high."]
    vault = make_vault({"tides.pdf": pdf_bytes(pages)})

    with pytest.raises(SkippedFile) as skipped:
        read_note(vault, "tides.pdf", budget=budget)

    assert skipped.value.warning.code == "over-budget"
    assert reason in skipped.value.warning.message
    assert read_note(vault, "tides.pdf").headings[-1].text == "page=3"
