"""`overlay search` and `overlay related`: what the vault holds on a question or a note."""

from __future__ import annotations

import json
from pathlib import Path
from textwrap import wrap
from typing import Annotated, Any

import typer
from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

from overlay.cli.access import local_memory, search_hits
from overlay.cli.app import JsonOption, app, console, print_json


@app.command()
def search(
    ctx: typer.Context,
    query: Annotated[str | None, typer.Argument(help="What to look for.")] = None,
    top_k: Annotated[int | None, typer.Option("--top-k", "-k", help="Results to show.")] = None,
    batch: Annotated[
        Path | None,
        typer.Option("--batch", help="Read one query per line; write one JSON line per query."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Search the vault by meaning, words and links.

    JSON: a list of hits, each with `note_path`, `heading_path`, `chunk_id`, `snippet`,
    `score` and its parts `dense` (cosine similarity), `lexical` (BM25) and `graph`
    (PageRank over links, 1 = best note); null where that search did not find it.
    With --batch, each output line is `{"query": ..., "hits": [...]}`.
    """
    if batch is not None:
        for line in batch.read_text(encoding="utf-8").splitlines():
            if line.strip():
                found = search_hits(ctx, line.strip(), top_k)
                typer.echo(json.dumps({"query": line.strip(), "hits": found}, ensure_ascii=False))
        return
    if query is None:
        raise typer.BadParameter("give a query, or --batch FILE")
    hits = search_hits(ctx, query, top_k)
    if json_output:
        print_json(hits)
    else:
        console.print(_hits_lines(hits, console.width), end="", soft_wrap=True)


def _hits_lines(hits: list[dict[str, Any]], width: int) -> Text:
    """A few lines a hit, at any terminal width: where (the path shortened from the left,
    so the note's own name stays) and the score, the score's parts, and the snippet on
    up to two lines."""
    lines = Text()
    for n, hit in enumerate(hits, 1):
        where = " › ".join([hit["note_path"], *hit["heading_path"]])
        room = max(width - 11, 12)
        lines.append(f"{n:>2}  ")
        lines.append(from_the_left(where, room).ljust(room), style="bold")
        lines.append(f" {hit['score']:.2f}\n")
        parts = f"dense {_part(hit['dense'])} · words {_part(hit['lexical'])}"
        lines.append(f"    {parts} · links {_part(hit['graph'])}\n", style="dim")
        snippet = " ".join(hit["snippet"].split())
        for line in wrap(snippet, max(width - 4, 20), max_lines=2, placeholder=" …"):
            lines.append(f"    {line}\n")
    return lines


def from_the_left(text: str, cells: int) -> str:
    """`text` cut from the left to fit `cells` terminal cells, with a leading ellipsis."""
    if cell_len(text) <= cells:
        return text
    while text and cell_len(text) > cells - 1:
        text = text[1:]
    return "…" + text


def _part(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


@app.command()
def related(
    ctx: typer.Context,
    note: Annotated[str, typer.Argument(help="A note's vault-relative path.")],
    top_k: Annotated[int, typer.Option("--top-k", "-k", help="Notes to show.")] = 10,
    json_output: JsonOption = False,
) -> None:
    """Notes close to NOTE by meaning and by links, each with why.

    JSON: a list of `{note_path, title, score, reasons}`; reasons are 'links to it',
    'linked from it' and 'similar: <heading path>'.
    """
    memory = local_memory(ctx)
    notes = memory.related(memory.vault_path(note), top_k)
    if json_output:
        print_json([n.to_dict() for n in notes])
        return
    table = Table("note", "score", "why")
    for found in notes:
        table.add_row(found.note_path, f"{found.score:.2f}", "; ".join(found.reasons))
    console.print(table)
