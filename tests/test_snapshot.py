"""Retrieval state by index generation (DESIGN decision 12): the person's rhythm is edit,
sync, search, and the search after a sync must not rebuild what retrieval holds."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from vaults import MakeSettings, MakeVault

from indexer.embedders import HashEmbedder, Vectors
from overlay.core.lexical import LexicalIndex
from overlay.core.memory import Memory

# the hash embedder: these tests count work, they do not judge search quality
NOTES = {
    f"Topics/Topic {i}.md": f"Topic {i} is about subject{i} and [[Topic {(i + 1) % 12}]].\n"
    for i in range(12)
} | {
    "Boats.md": "---\naliases: [Sailing]\n---\nThe boat sleeps at berth 14 in Kaliningrad.\n",
    "Log.md": "We went sailing on Sunday.\n",
}


@pytest.fixture
def memory(make_vault: MakeVault, make_settings: MakeSettings) -> Memory:
    memory = Memory(make_settings(make_vault(NOTES)), embedder=HashEmbedder())
    memory.sync()
    memory.search("boat")
    return memory


def test_a_sync_that_changes_nothing_keeps_the_snapshot(memory: Memory) -> None:
    state = memory.retriever.state
    before, generation = state.current(), memory.store.generation()
    memory.sync()
    memory.sync()
    memory.search("boat")
    assert memory.store.generation() == generation
    assert state.current() is before
    assert (state.builds, state.updates) == (1, 0)


def test_a_one_note_sync_updates_the_snapshot_from_that_note_alone(memory: Memory) -> None:
    state = memory.retriever.state
    note = memory.vault / "Topics/Topic 3.md"
    note.write_text("Topic 3 now tells of the lighthouse keeper. See [[Boats]].\n")
    memory.sync()
    hits = memory.search("lighthouse keeper")
    assert hits[0].note_path == "Topics/Topic 3.md"
    assert (state.builds, state.updates) == (1, 1)
    snapshot = state.current()
    assert snapshot.chunks_read == 1  # the edited note's one chunk, not the vault's
    assert snapshot.lexical.documents_read == 2  # its old text out, its new text in
    assert "Boats.md" in snapshot.graph.neighbours("Topics/Topic 3.md")
    assert "Topics/Topic 4.md" not in snapshot.graph.neighbours("Topics/Topic 3.md")
    assert memory.retriever.lexical.score("subject3") == []  # its old words are gone


def test_names_follow_a_rename_and_a_deletion_without_a_rebuild(memory: Memory) -> None:
    state = memory.retriever.state
    (memory.vault / "Boats.md").rename(memory.vault / "Yachts.md")
    (memory.vault / "Topics/Topic 5.md").unlink()
    memory.sync()
    names = state.current().names
    assert names.named_in("where is the yachts berth, after sailing?") == {"Yachts.md"}
    assert names.named_in("what was topic 5?") == set()
    assert memory.retriever.lexical.score("subject5") == []
    assert state.builds == 1


def test_bm25_after_changes_scores_as_an_index_built_from_scratch() -> None:
    texts = {str(i): f"word{i % 5} common text {'rare' if i % 7 == 0 else ''}" for i in range(40)}
    index = LexicalIndex(texts.items())
    removed = {int(i): texts.pop(i) for i in ("0", "7", "8")}
    added = [("40", "rare rare words arrive"), ("41", "common word1")]
    changed = index.changed(removed, added)
    texts.update(added)
    rebuilt = LexicalIndex(texts.items())
    for query in ("rare", "common word1", "word3 text"):
        assert dict(changed.search(query, 50)) == pytest.approx(dict(rebuilt.search(query, 50)))
    assert index.search("arrive", 5) == []  # the index it came from is left as it was


class QueryCountingEmbedder(HashEmbedder):
    """The hash fake, counting the queries it embeds."""

    queries = 0

    def embed_batch(self, texts: Sequence[str], *, query: bool = False) -> Vectors:
        self.queries += len(texts) if query else 0
        return super().embed_batch(texts, query=query)


def test_related_notes_come_from_stored_vectors_without_embedding_again(
    make_vault: MakeVault, make_settings: MakeSettings
) -> None:
    embedder = QueryCountingEmbedder()
    notes = {
        "Boats.md": "# Moorings\nThe boat sleeps at berth 14.\n\n# Paint\nBlue hull paint.\n",
        "Harbour.md": "The harbour has berth 14 and berth 15 for the boat.\n",
        "Recipes.md": "Pancakes need eggs and flour.\n",
    }
    memory = Memory(make_settings(make_vault(notes)), embedder=embedder)
    memory.sync()
    related = memory.related("Boats.md", 2)
    assert embedder.queries == 0
    assert related[0].note_path == "Harbour.md"
    assert "similar: the note" in related[0].reasons
