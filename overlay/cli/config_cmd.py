"""`overlay config show`: the effective settings and where each came from."""

from __future__ import annotations

import typer
from rich.table import Table

from overlay.cli.app import JsonOption, app, console, print_json, state
from overlay.config_loading import flatten

config_app = typer.Typer(help="Inspect Overlay's settings.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("show")
def show(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Print every effective setting with its source (default, file, env or cli).

    JSON keys: `config_file` (path or null), `data_dir` (path or null when no vault is known),
    `settings` (the nested tree), `sources` (dotted key -> source).
    """
    loaded = state(ctx).loaded()
    settings = loaded.settings
    data_dir = str(settings.resolved_data_dir()) if settings.vault or settings.data_dir else None
    tree = settings.model_dump(mode="json")
    if json_output:
        print_json(
            {
                "config_file": str(loaded.config_file) if loaded.config_file else None,
                "data_dir": data_dir,
                "settings": tree,
                "sources": loaded.sources,
            }
        )
        return
    table = Table("setting", "value", "source")
    for key, value in flatten(tree).items():
        table.add_row(key, "" if value is None else str(value), loaded.sources.get(key, "default"))
    table.add_row("(data dir)", data_dir or "(no vault)", "derived")
    console.print(table)
