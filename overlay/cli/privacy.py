"""`overlay forget PATH…`, `overlay privacy check`, `overlay adapters prune --tainted`:
forget notes on demand, audit what is left of forgotten notes, delete tainted weights."""

from __future__ import annotations

import shutil
from typing import Annotated

import typer

from overlay.cli.access import daemon
from overlay.cli.adapters import adapters_app
from overlay.cli.app import JsonOption, app, console, print_json, state
from overlay.cli.index import forget_dropped, open_indexer
from overlay.errors import ConfigError, StoreError

privacy_app = typer.Typer(help="Audit what Overlay keeps of forgotten notes.", no_args_is_help=True)
app.add_typer(privacy_app, name="privacy")


@app.command()
def forget(
    ctx: typer.Context,
    paths: Annotated[list[str], typer.Argument(help="Vault-relative notes to forget.")],
    undo: Annotated[
        bool, typer.Option("--undo", help="Index these notes again (pairs are made anew).")
    ] = False,
) -> None:
    """Forget notes everywhere, though they stay in the vault: the index, their pairs
    (text deleted), log entries citing them (scrubbed), and adapters trained on them
    (tainted, out of service). Notes stay forgotten until `overlay forget --undo`.
    """
    from distill.forgetting import forget_on_demand

    settings = state(ctx).settings()
    vault = settings.require_vault()
    if (client := daemon(ctx)) is not None:  # the daemon holds the index: it forgets
        with client:
            done = client.forget(paths, undo=undo)
        wanted = done["notes"]
        if done["error"]:
            raise StoreError(f"the daemon's sync failed: {done['error']}")
    else:
        with open_indexer(settings, "overlay forget", progress=False) as indexer:
            wanted = forget_on_demand(indexer.store, vault, paths, undo=undo)
            report = indexer.sync()
            forget_dropped(settings, report, indexer.store)
    verb = "indexed again" if undo else "forgotten"
    console.print(f"{len(wanted)} note(s) {verb}: {', '.join(wanted)}", highlight=False)


@privacy_app.command("check")
def check(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """List, for every forgotten note, every place that still holds any of it: index,
    pairs, conversation log, run data, the adapter in service. Exit code 1 if any.

    JSON: `{forgotten, leaks: [{note, place}], kept: [tainted adapter folders]}`.
    """
    from distill.privacy_audit import privacy_check

    report = privacy_check(state(ctx).settings())
    if json_output:
        print_json(report.to_dict())
    else:
        verdict = "nothing of them left" if not report.leaks else f"{len(report.leaks)} left"
        console.print(f"{report.forgotten} forgotten note(s): {verdict}", highlight=False)
        for note, place in report.leaks:
            console.print(f"  {note}  {place}", highlight=False)
        for folder in report.kept:
            console.print(
                f"  kept, tainted and out of service: {folder} "
                "(`overlay adapters prune --tainted` deletes it)",
                highlight=False,
            )
    if report.leaks:
        raise typer.Exit(1)


@adapters_app.command("prune")
def prune(
    ctx: typer.Context,
    tainted: Annotated[
        bool, typer.Option("--tainted", help="Delete the adapters trained on forgotten notes.")
    ] = False,
) -> None:
    """Delete adapter folders: with --tainted, those of runs trained on a note forgotten
    since (the one way to remove from disk what they learned; retraining replaces them)."""
    from distill.promotion import is_tainted
    from distill.runs import RunRegistry

    if not tainted:
        raise ConfigError("say what to prune: --tainted")
    with RunRegistry.from_settings(state(ctx).settings()) as registry:
        for run in registry.list():
            if is_tainted(run):
                shutil.rmtree(run.adapter)
                registry.log_event(run.id, "pruned", reason="tainted")
                console.print(f"deleted {run.adapter}", highlight=False)
