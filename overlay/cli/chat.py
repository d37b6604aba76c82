"""`overlay ask` and `overlay chat`: answers from the vault, streamed, with sources."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import typer

from overlay.cli.access import Event, answer_events
from overlay.cli.app import JsonOption, app, console, print_json
from overlay.core.chat import ChatTurn

NoRag = Annotated[bool, typer.Option("--no-rag", help="Ask the bare model, without your notes.")]
Think = Annotated[
    bool | None,
    typer.Option(
        "--think/--no-think",
        help="Let the model reason first (Qwen3-style models); the reasoning is shown dimmed, "
        "before and apart from the answer. Default: the llm.thinking setting (off).",
        show_default=False,
    ),
]

Adapter = Annotated[
    str | None,
    typer.Option(
        "--adapter",
        help="Answer with this adapter (a name `overlay adapters list` shows). "
        "Default: the one in service, else the base model.",
        show_default=False,
    ),
]


KIND_NOTES = {
    "extractive": "quoted from your notes (no model wrote this answer)",
    "none": "your notes hold nothing on this",
}


def finished(events: Iterator[Event], *, echo: bool) -> dict[str, Any]:
    """The finished answer (`Answer.to_dict()`); with `echo`, a spinner until the sources
    come, the sources, reasoning (dimmed), then the answer as it streams."""
    answer: dict[str, Any] = {}
    reasoned = False
    for kind, data in _with_spinner(events, echo=echo):
        if not echo:
            answer = data if kind == "done" else answer
        elif kind == "sources":
            _print_sources(data["citations"])
        elif kind == "reasoning":
            console.print(data["text"], style="dim", end="", markup=False, highlight=False)
            reasoned = True
        elif kind in ("token", "replace"):
            if reasoned or kind == "replace":  # the answer starts on its own line
                typer.echo("\n")
                reasoned = False
            typer.echo(data["text"], nl=False)
        elif kind == "done":
            answer = data
    if echo:
        _print_footer(answer)
    return answer


def _with_spinner(events: Iterator[Event], *, echo: bool) -> Iterator[Event]:
    """`events`, with a spinner shown until the first arrives (loading a model, searching)."""
    if not echo:
        yield from events
        return
    with console.status("searching your notes…"):
        first = next(events, None)
    if first is not None:
        yield first
        yield from events


def _print_sources(citations: list[dict[str, Any]]) -> None:
    for citation in citations:
        console.print(f"[dim][{citation['n']}] {citation['target']}[/dim]", highlight=False)


def _print_footer(answer: dict[str, Any]) -> None:
    typer.echo("")
    # Every [n] of the text with where it points: a quote may come from a passage the
    # sources above did not list.
    for citation in answer.get("citations", []):
        if citation["cited"]:
            console.print(f"[dim]* [{citation['n']}] {citation['target']}[/dim]", highlight=False)
    kind = answer.get("answer_kind", "generated")
    if kind in KIND_NOTES:
        console.print(f"[dim]({KIND_NOTES[kind]})[/dim]", highlight=False)
    for note in (answer.get("note"), answer.get("warning")):
        if note:
            console.print(f"[yellow]{note}[/yellow]", highlight=False)
    if answer.get("log_id"):
        rate = f"overlay log rate {answer['log_id']} good|bad [--correct TEXT]"
        console.print(f"[dim]logged as {answer['log_id']}: {rate}[/dim]", highlight=False)


@app.command()
def ask(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="A question about your notes.")],
    no_rag: NoRag = False,
    think: Think = None,
    adapter: Adapter = None,
    json_output: JsonOption = False,
) -> None:
    """Answer one question from your notes, with numbered sources; after the answer, the
    ones it cites, marked *.

    JSON: `{text, reasoning, citations: [{n, note_path, heading_path, snippet, cited,
    target}], model, question, abstained, answer_kind, note}`; `answer_kind` is
    'generated' (the model's own), 'extractive' (quoted from the notes) or 'none'.
    """
    if not question.strip():
        raise typer.BadParameter(
            "it is empty: ask something about your notes", param_hint="QUESTION"
        )
    turns = [ChatTurn("user", question)]
    events = answer_events(ctx, turns, not no_rag, think, adapter)
    answer = finished(events, echo=not json_output)
    if json_output:
        print_json(answer)


@app.command()
def chat(
    ctx: typer.Context, no_rag: NoRag = False, think: Think = None, adapter: Adapter = None
) -> None:
    """Talk with your notes: follow-up questions keep the conversation (Ctrl-D to leave)."""
    turns: list[ChatTurn] = []
    while True:
        try:
            question = console.input("[bold]you>[/bold] ").strip()
        except (EOFError, KeyboardInterrupt):
            typer.echo("")
            return
        if not question:
            continue
        turns.append(ChatTurn("user", question))
        answer = finished(answer_events(ctx, turns, not no_rag, think, adapter), echo=True)
        turns.append(ChatTurn("assistant", answer.get("text", "")))
