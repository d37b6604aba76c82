"""The MCP tools' logic on a small vault with the hash embedder (the package's fake):
paging of note resources, scoping of search, errors as results. Both transports and
the real embedder are tested end to end in tests/integration/test_mcp_transports.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from mcp.shared.exceptions import MCPError

from overlay.core.memory import Memory
from server.mcp import call_tool_now, note_resources, note_uri, read_note_resource

NOTES = {
    "Projects/Boat.md": "---\ntags: [sailing/boat]\n---\n# Boat\n\nThe mast is varnished.\n",
    "Projects/House.md": "# House\n\nThe roof leaks near the mast of the antenna.\n",
    "People/Anna.md": "# Anna\n\nAnna sails with me. [[Boat]]\n",
    "Journal/Day.md": "# Day\n\nSanded the mast today.\n",
    "Private/PIN.md": "---\noverlay: private\n---\n# PIN\n\nmast 1234\n",
}


@pytest.fixture
def memory(make_vault: Any, make_settings: Any) -> Iterator[Memory]:
    settings = make_settings(make_vault(NOTES), index__embedder="hash")
    opened = Memory(settings)
    opened.sync()
    yield opened
    opened.close()


def test_resources_page_through_every_public_note_once(memory: Memory) -> None:
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = note_resources(memory, cursor, page_size=2)
        assert len(page.resources) <= 2
        seen += [resource.name for resource in page.resources]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(seen) == sorted(path for path in NOTES if not path.startswith("Private/"))


def test_a_note_resource_reads_as_markdown_and_a_private_one_is_refused(memory: Memory) -> None:
    text = read_note_resource(memory, note_uri("People/Anna.md")).contents[0]
    assert "Anna sails with me" in getattr(text, "text", "")
    with pytest.raises(MCPError, match="NoteNotFound"):
        read_note_resource(memory, note_uri("Private/PIN.md"))


def structured(memory: Memory, tool: str, **arguments: Any) -> Any:
    result = call_tool_now(memory, tool, arguments)
    assert not result.is_error, result.content
    return result.structured_content


def test_search_keeps_to_a_folder_and_to_tags(memory: Memory) -> None:
    everywhere = structured(memory, "search", query="mast")["hits"]
    assert {hit["note_path"] for hit in everywhere} >= {"Projects/Boat.md", "Journal/Day.md"}
    in_projects = structured(memory, "search", query="mast", folder="Projects/")["hits"]
    assert in_projects and all(h["note_path"].startswith("Projects/") for h in in_projects)
    tagged = structured(memory, "search", query="mast", tags=["#sailing"])["hits"]
    assert [hit["note_path"] for hit in tagged] == ["Projects/Boat.md"]
    assert all("PIN" not in hit["note_path"] for hit in everywhere)


def test_bad_calls_are_error_results_naming_the_problem(memory: Memory) -> None:
    def error(tool: str, **arguments: Any) -> str:
        result = call_tool_now(memory, tool, arguments)
        assert result.is_error
        return "".join(getattr(block, "text", "") for block in result.content)

    assert error("read", path="../outside.md").startswith("PathOutsideVault:")
    assert error("read", path="/etc/passwd").startswith("PathOutsideVault:")
    assert error("read", path="Private/PIN.md").startswith("NoteNotFound:")
    assert error("read", path="People/Anna.md", heading="Nope").startswith("NoteNotFound:")
    assert error("related", path="../../etc/passwd").startswith("PathOutsideVault:")
    assert error("search", query="").startswith("InvalidArguments: query")
    assert error("delete", path="x").startswith("UnknownTool:")


def test_read_gives_the_note_with_its_properties(memory: Memory) -> None:
    result = call_tool_now(memory, "read", {"path": "Projects/Boat.md"})
    assert result.structured_content is not None
    assert result.structured_content["properties"] == {"tags": ["sailing/boat"]}
    text = "".join(getattr(block, "text", "") for block in result.content)
    assert text.startswith("---\ntags:\n- sailing/boat\n---\n") and "varnished" in text
