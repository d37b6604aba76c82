"""`overlay review`: the running daemon's review page, opened in a browser signed in."""

from __future__ import annotations

import webbrowser
from typing import Annotated
from urllib.parse import quote

import typer

from overlay.cli.app import JsonOption, app, print_json, state
from overlay.cli.client import DaemonClient, read_token
from overlay.errors import ConfigError


@app.command("review")
def review_cmd(
    ctx: typer.Context,
    open_browser: Annotated[
        bool, typer.Option("--open/--no-open", help="Open the page in the default browser.")
    ] = True,
    json_output: JsonOption = False,
) -> None:
    """Review training pairs in the browser: the daemon's `/review` page, keyboard-driven.

    Prints the page's address with the token in its fragment (`/review#token=…`;
    a browser never sends the fragment to a server, and the page removes it from
    the address bar). Needs `overlay serve` running for this vault; without it,
    `overlay pairs …` does the same from the terminal. JSON keys: `url`.
    """
    settings = state(ctx).settings()
    client = DaemonClient.discover(settings)
    token = read_token(settings)
    if client is None or token is None:
        raise ConfigError(
            "no Overlay daemon serves this vault: start one with `overlay serve` "
            "(or review in the terminal with `overlay pairs …`)"
        )
    with client:
        url = f"{client.url}/review#token={quote(token, safe='')}"
    if json_output:
        print_json({"url": url})
        return
    typer.echo(url)
    if open_browser and not webbrowser.open(url):
        typer.echo("(no browser found here: open the address above in one)")
