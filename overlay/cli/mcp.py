"""`overlay mcp`: the vault's memory over MCP on stdin/stdout, for clients that launch a command.

When a daemon serves the vault, `overlay mcp` relays to its `/mcp` endpoint (one index,
one set of models in memory); when none does, it opens the index itself and serves it
as it is, without syncing. Only protocol messages go to stdout; logs go to stderr.
`--print-config` prints the snippet to paste into a client's MCP settings instead.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from overlay.cli.app import app, state
from overlay.config import Settings
from overlay.errors import StoreError

if TYPE_CHECKING:
    from overlay.core.memory import Memory


class Client(StrEnum):
    """The MCP clients whose settings format `--print-config` knows."""

    claude = "claude"
    cursor = "cursor"
    vscode = "vscode"


log = logging.getLogger("overlay.mcp")


@app.command("mcp")
def mcp_command(
    ctx: typer.Context,
    print_config: Annotated[
        Client | None,
        typer.Option(
            "--print-config",
            help="Print the JSON to paste into this client's MCP settings, and exit.",
        ),
    ] = None,
    http: Annotated[
        bool,
        typer.Option(
            "--http", help="With --print-config: the daemon's /mcp URL and token, not stdio."
        ),
    ] = False,
) -> None:
    """Serve the vault to MCP clients (Claude Desktop, Cursor, VS Code) over stdio.

    Tools: search, read, related, ask, recent; every indexed note is a resource
    `overlay://note/<path>`. Relays to the running daemon when there is one.
    """
    cli = state(ctx)
    settings = cli.settings()
    if print_config is not None:
        config = client_config(settings, print_config, http=http, config_file=cli.config_file)
        typer.echo(json.dumps(config, indent=2, ensure_ascii=False))
        return
    settings.require_vault()
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    import anyio

    anyio.run(serve_stdio, settings)


async def serve_stdio(settings: Settings) -> None:
    from mcp.server.stdio import stdio_server

    from overlay.cli.client import DaemonClient
    from server import mcp as mcp_server

    daemon = DaemonClient.discover(settings)
    if daemon is not None:
        daemon.close()
        log.info("relaying MCP to the daemon at %s", daemon.url)
        async with stdio_server() as (read, write):
            await _relay(settings, daemon.url, read, write)
        return
    memory = _indexed_memory(settings)
    log.info("no daemon serves %s: serving its index from this process", settings.vault)
    try:
        async with stdio_server() as (read, write):
            server = mcp_server.vault_server(memory)
            await server.run(read, write, server.create_initialization_options())
    finally:
        memory.close()


def _indexed_memory(settings: Settings) -> Memory:
    """The vault's index as the last sync left it; an empty one is an error with the fix."""
    from overlay.core.memory import Memory

    memory = Memory(settings)
    if memory.store.stats().notes == 0:
        memory.close()
        raise StoreError("the index is empty: run `overlay index` first (or `overlay serve`)")
    return memory


async def _relay(settings: Settings, url: str, read: Any, write: Any) -> None:
    import httpx2
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    from overlay.cli.client import read_token
    from server.mcp import relay_server

    headers = {"Authorization": f"Bearer {read_token(settings)}"}
    timeout = httpx2.Timeout(30.0, read=600.0)  # `ask` may think for minutes on a CPU
    async with (
        httpx2.AsyncClient(headers=headers, timeout=timeout, trust_env=False) as http,
        streamable_http_client(url + "/mcp", http_client=http) as (up_read, up_write),
        ClientSession(up_read, up_write) as upstream,
    ):
        await upstream.initialize()
        server = relay_server(upstream)
        await server.run(read, write, server.create_initialization_options())


def client_config(
    settings: Settings, client: Client, *, http: bool, config_file: Path | None = None
) -> dict[str, Any]:
    """What `client` reads from its MCP settings file to reach this vault."""
    entry = _http_entry(settings, client) if http else _stdio_entry(settings, client, config_file)
    key = "servers" if client is Client.vscode else "mcpServers"
    return {key: {"overlay": entry}}


def _stdio_entry(settings: Settings, client: Client, config_file: Path | None) -> dict[str, Any]:
    command, *args = _overlay_command()
    if config_file is not None:
        args += ["--config", str(config_file.resolve())]
    args += ["--vault", str(settings.require_vault())]
    if settings.data_dir is not None:
        args += ["--data-dir", str(Path(settings.data_dir).resolve())]
    entry: dict[str, Any] = {"command": command, "args": [*args, "mcp"]}
    return {"type": "stdio", **entry} if client is Client.vscode else entry


def _http_entry(settings: Settings, client: Client) -> dict[str, Any]:
    from overlay.cli.client import read_daemon_file
    from server.auth import load_token

    info = read_daemon_file(settings)
    host, port = settings.server.host, settings.server.port
    url = (info["url"] if info else f"http://{host}:{port}") + "/mcp"
    entry: dict[str, Any] = {
        "url": url,
        "headers": {"Authorization": f"Bearer {load_token(settings)}"},
    }
    return {"type": "http", **entry} if client is Client.vscode else entry


def _overlay_command() -> list[str]:
    """The absolute command that runs this Overlay (clients start it without a shell PATH)."""
    beside = Path(sys.executable).parent / "overlay"
    found = str(beside) if beside.exists() else shutil.which("overlay")
    if found:
        return [str(Path(found).resolve())]
    return [sys.executable, "-c", "from overlay.cli import main; main()"]
