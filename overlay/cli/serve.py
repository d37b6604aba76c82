"""`overlay serve` (the daemon) and `overlay token` (what clients authenticate with)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from overlay.cli.app import JsonOption, Process, app, print_json, state


@app.command("serve")
def serve(
    ctx: typer.Context,
    vault: Annotated[
        Path | None, typer.Argument(help="The vault; default: --vault or the settings.")
    ] = None,
    host: Annotated[
        str | None, typer.Option("--host", help="Bind address (default 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", help="TCP port (default 8765).")] = None,
    watch: Annotated[
        bool, typer.Option("--watch/--no-watch", help="Sync changed notes as they are saved.")
    ] = True,
) -> None:
    """Index, watch and serve the vault over HTTP until Ctrl-C.

    The first sync runs in the background: /api/v1/health answers at once and
    /api/v1/status says "indexing" until it is done. Every route but health needs
    the bearer token that `overlay token` prints; a bind other than loopback is
    refused unless server.token is set.
    """
    settings = state(ctx).settings(**{"vault": vault, "server.host": host, "server.port": port})
    from overlay.daemon.daemon import Daemon  # uvicorn and FastAPI load only for this command
    from server.auth import check_bind, load_token

    settings.require_vault()
    check_bind(settings)  # before the token file or the index is touched
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    token = load_token(settings)

    def announce(url: str) -> None:
        typer.echo(f"Overlay serves {settings.require_vault()}")
        typer.echo(f"  plugin URL:      {url}")
        typer.echo(f"  OpenAI base URL: {url}/v1")
        typer.echo(f"  MCP URL:         {url}/mcp")
        typer.echo(f"  token:           {token}   (`overlay token` prints it again)")

    Daemon(settings, watch=watch, on_listening=announce).run()
    Process.end_now()


@app.command("token")
def token(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Print the bearer token clients send (made on first use; it is also the OpenAI API key).

    JSON keys: `token`, `file` (where it is kept, or null when server.token sets it).
    """
    from overlay.data_files import token_path
    from server.auth import load_token

    settings = state(ctx).settings()
    value = load_token(settings)
    source = None if settings.server.token else str(token_path(settings))
    if json_output:
        print_json({"token": value, "file": source})
    else:
        typer.echo(value)
