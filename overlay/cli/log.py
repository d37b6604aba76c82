"""`overlay log`: the answers Overlay gave; `show` one, `rate` one good or bad and
correct it (a correction becomes an approved training pair)."""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Annotated, Literal

import click
import typer
from rich.table import Table

from overlay.cli.app import JsonOption, app, console, print_json, state
from overlay.core.conversations import ConversationLog, LogEntry, LogFilter
from overlay.errors import ConfigError

log_app = typer.Typer(
    help="The conversation log: every answer with its sources, model and rating.",
    invoke_without_command=True,
)
app.add_typer(log_app, name="log")

EntryArgument = Annotated[int, typer.Argument(help="The answer's id (the first column).")]
_DATE = re.compile(r"\d{4}(-\d{1,2}){0,2}")


def _open(ctx: typer.Context) -> ConversationLog:
    return ConversationLog.from_settings(state(ctx).settings())


def since_time(text: str) -> float:
    """Epoch seconds of `--since`: a date (2026, 2026-11, 2026-11-23) or a time ago
    (30m, 6h, 7d, 2w)."""
    if _DATE.fullmatch(text.strip()):
        from distill.selection import parse_period

        return parse_period(text)[0].timestamp()
    from overlay.daemon.schedule import parse_duration

    try:
        return time.time() - parse_duration(text)
    except ConfigError as error:
        raise ConfigError(f"--since: {error.message}; or a date, e.g. 2026-11") from error


@log_app.callback()
def log_cmd(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option("--since", help="Newer only: a date (2026-11) or 6h, 7d.")
    ] = None,
    rating: Annotated[
        str | None, typer.Option("--rating", help="good, bad, unrated or corrected.")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", "--adapter", help="A part of the model's or adapter's name."),
    ] = None,
    search: Annotated[
        str | None, typer.Option("--search", help="A part of the question or the answer.")
    ] = None,
    interface: Annotated[
        str | None, typer.Option("--interface", help="cli, plugin, openai or mcp.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 20,
    json_output: JsonOption = False,
) -> None:
    """The answers Overlay gave, newest first (👍 good, 👎 bad, ✎ corrected).

    JSON: a list of `{id, asked, interface, question, searched, sources: [{n, note_path,
    heading_path, score, cited}], answer, reasoning, model, adapter, rag, abstained,
    latency, tokens, rating, correction, rated}`.
    """
    if ctx.invoked_subcommand is not None:
        return
    where = LogFilter(since_time(since) if since else None, rating, model, search, interface, limit)
    with _open(ctx) as log:
        entries = log.list(where)
    if json_output:
        print_json([entry.to_dict() for entry in entries])
        return
    if not entries:
        console.print("no answers logged (that match)", highlight=False)
        return
    console.print(_table(entries))


def _table(entries: list[LogEntry]) -> Table:
    table = Table(box=None, pad_edge=False)
    for column in ("id", "asked", "via", "model", "", "secs", "question"):
        table.add_column(column, overflow="ellipsis", no_wrap=column != "question")
    for entry in entries:
        table.add_row(
            str(entry.id),
            _when(entry.asked),
            entry.interface,
            entry.served_by,
            _mark(entry),
            f"{entry.latency:.1f}",
            entry.question,
        )
    return table


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M")


def _mark(entry: LogEntry) -> str:
    mark = {"good": "👍", "bad": "👎"}.get(entry.rating, "·")
    return mark + ("✎" if entry.correction else "")


@log_app.command("show")
def show_cmd(ctx: typer.Context, entry_id: EntryArgument, json_output: JsonOption = False) -> None:
    """One answer in full: question, sources with scores, reasoning, answer, rating."""
    with _open(ctx) as log:
        entry = log.get(entry_id)
    if json_output:
        print_json(entry.to_dict())
        return
    say = console.print
    say(f"[bold]#{entry.id}[/bold] {_when(entry.asked)} via {entry.interface}", highlight=False)
    say(f"[bold]question:[/bold] {entry.question}", highlight=False)
    if entry.searched and entry.searched != entry.question:
        say(f"[dim]searched: {entry.searched}[/dim]", highlight=False)
    for source in entry.sources:
        where = " › ".join([source["note_path"], *source["heading_path"]])
        mark = "*" if source["cited"] else " "
        say(f"[dim]{mark}[{source['n']}] {where} ({source['score']:.3f})[/dim]", highlight=False)
    if entry.reasoning:
        say(f"[dim italic]{entry.reasoning}[/dim italic]", highlight=False)
    say(f"[bold]answer:[/bold] {entry.answer}", highlight=False)
    say(
        f"[dim]{entry.model} adapter {entry.adapter or '(base)'}; {entry.latency:.2f} s; "
        f"{entry.tokens} tokens; rag {'on' if entry.rag else 'off'}[/dim]",
        highlight=False,
    )
    if entry.rating:
        say(f"rated {entry.rating} {_mark(entry)}", highlight=False)
    if entry.correction:
        say(f"[bold]correction:[/bold] {entry.correction}", highlight=False)


@log_app.command("rate")
def rate_cmd(
    ctx: typer.Context,
    entry_id: EntryArgument,
    rating: Annotated[Literal["good", "bad"], typer.Argument(help="good or bad.")],
    correct: Annotated[
        str | None, typer.Option("--correct", help="The answer that should have been given.")
    ] = None,
    edit: Annotated[
        bool, typer.Option("--edit", help="Write the corrected answer in $EDITOR.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Rate an answer; a correction becomes an approved training pair (source
    'correction') that the next `overlay train` uses, and replaces an older one.

    Answers rated good become pending pairs (source 'rated') at the next `overlay distill`.
    JSON: `{entry, pair, staled, plot}`.
    """
    from distill.ratings import rate_answer

    if correct is not None and edit:
        raise ConfigError("give --correct TEXT or --edit, not both")
    settings = state(ctx).settings()
    with ConversationLog.from_settings(settings) as log:
        if edit:
            correct = _edited(log.get(entry_id))
        done = rate_answer(settings, log, entry_id, rating, correct)
    if json_output:
        print_json(done.to_dict())
        return
    console.print(f"rated {entry_id} {rating}", highlight=False)
    if done.pair is not None:
        console.print(
            f"correction → pair {done.pair.id} (approved; the next `overlay train` uses it)",
            highlight=False,
        )
    if done.staled:
        console.print(f"{done.staled} older pair(s) of this answer made stale", highlight=False)
    if done.plot is not None:
        console.print(f"plot: {done.plot}", highlight=False)


def _edited(entry: LogEntry) -> str | None:
    """The corrected answer written in $EDITOR, starting from the answer (or the last
    correction); None when nothing was changed."""
    start = entry.correction or entry.answer
    text = click.edit(start + "\n", extension=".md", require_save=True)
    if text is None or text.strip() == start.strip():
        console.print("unchanged: no correction", highlight=False)
        return None
    return text.strip()
