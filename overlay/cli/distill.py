"""`overlay distill` and `overlay pairs …`: make training pairs from the vault, review them."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import click
import typer
from rich.console import Console

from distill.pair_records import Status
from distill.pairs import PairFilter, PairStore
from overlay.cli.app import JsonOption, app, console, print_json, state
from overlay.errors import ConfigError

if TYPE_CHECKING:
    from distill.pipeline import ProgressHook
    from distill.reports import DistillReport

pairs_app = typer.Typer(help="Review, edit and export the training pairs.", no_args_is_help=True)
app.add_typer(pairs_app, name="pairs")

IdsArgument = Annotated[
    list[str] | None, typer.Argument(help="Pair ids (unique prefixes will do).", show_default=False)
]
StatusOption = Annotated[
    list[str] | None,
    typer.Option("--status", help="pending, approved, rejected, edited or stale; repeatable."),
]
NoteOption = Annotated[str | None, typer.Option("--note", help="A note path or a folder.")]
SourceOption = Annotated[
    list[str] | None, typer.Option("--source", help="dialogue, fact, link, …; repeatable.")
]
LanguageOption = Annotated[
    list[str] | None, typer.Option("--language", help="ru, en or mixed; repeatable.")
]
FactOption = Annotated[
    str | None, typer.Option("--fact", help="One fact's id: all of its pairs (restatements).")
]
MinScoreOption = Annotated[
    float | None, typer.Option("--min-score", help="Only pairs whose lowest judge score is this.")
]


@app.command("distill")
def distill_cmd(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option(help="Notes dated from: 2025-07 or 2025-07-15.")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Notes dated up to (inclusive).")] = None,
    folder: Annotated[
        list[str] | None, typer.Option(help="Only notes in this folder; repeatable.")
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option(help="Only notes with this tag (nested count); repeatable.")
    ] = None,
    note: Annotated[
        list[str] | None, typer.Option(help="A note path or title; repeatable.")
    ] = None,
    everything: Annotated[
        bool, typer.Option("--all", help="Distill unchanged notes again too.")
    ] = False,
    source: Annotated[
        list[str] | None,
        typer.Option(
            "--source",
            help="dialogue, scene, property, section, relation, rated, fact, link or "
            "abstention; repeatable; default: distill.sources (all but the last three). fact, "
            "link and abstention ask the LLM (fact is skipped with the embedded SmolLM2).",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Turn the selected notes into training pairs in the pair store (none are deleted).

    Incremental: only notes whose content changed since their last distillation are
    read again; pairs of text that changed become `stale`. Private notes are never
    used. Generated pairs not grounded in their source are stored as `rejected`;
    scenes (hand-written examples, see `overlay scenes check`) as `approved`. The
    property, section and relation sources ask each fact the note states from question
    templates, in English and Russian, one restatement per language held out.
    Shows a progress bar while it runs (on a terminal) and closes with a summary:
    notes read, pairs by source, language and status, near duplicates dropped,
    judge and quality-check rejections, tokens generated, time.
    JSON: the run's report (`notes_read`, `added_by_source`, `added_by_language`,
    `duplicates_dropped`, `judge_rejected`, `quality_rejections`, `pairs_staled`,
    `tokens_generated`, `sources_skipped`, `store`, `seconds`, …).
    """
    from distill.pipeline import distill
    from distill.selection import Selection

    selection = Selection.from_options(
        since, until, folder or (), tag or (), note or (), everything=everything
    )
    settings = state(ctx).settings()
    shown = not (quiet or json_output) and sys.stderr.isatty()
    with progress_bar(Console(stderr=True) if shown else None) as progress:
        report = distill(
            settings, selection, sources=source or settings.distill.sources, progress=progress
        )
    if json_output:
        print_json(report.to_dict())
        return
    console.print(report.summary(), highlight=False, markup=False, soft_wrap=True)
    for path, reason in report.skipped[:20]:
        console.print(f"  skipped {path}: {reason}", highlight=False, markup=False)
    for reason in report.generation_failures[:20]:
        console.print(f"  no pairs from {reason}", highlight=False, markup=False)
    for rejection in report.quality_rejections[:20]:
        console.print(f"  rejected {rejection.detail}", highlight=False, markup=False)


@contextmanager
def progress_bar(terminal: Console | None) -> Iterator[ProgressHook | None]:
    """A bar over the notes on `terminal` (None: no bar), gone when the run ends (the
    summary follows): notes done of all, pairs added so far, time, the note read."""
    from overlay.cli.progress import progress_bars
    from overlay.progress import Step

    with progress_bars(terminal) as tell:
        if tell is None:
            yield None
            return
        shown = tell

        def hook(done: int, total: int, path: str, report: DistillReport) -> None:
            shown(Step("distilling", done, total, f"{report.pairs_added} pairs added", path))

        yield hook


def _filter(
    ids: list[str] | None,
    status: list[str] | None,
    note: str | None,
    source: list[str] | None,
    language: list[str] | None,
    min_score: float | None,
    *,
    default_status: tuple[str, ...] = (),
    held_out: bool | None = None,
    fact: str | None = None,
) -> PairFilter:
    from distill.pipeline import PAIR_KINDS, source_names

    return PairFilter(
        ids=tuple(ids or ()),
        status=tuple(status or default_status),
        note=note,
        source=source_names(source or (), PAIR_KINDS),
        language=tuple(language or ()),
        min_score=min_score,
        held_out=held_out,
        fact=fact,
    )


def _open_store(ctx: typer.Context) -> PairStore:
    return PairStore.from_settings(state(ctx).settings())


@pairs_app.command("list")
def list_cmd(
    ctx: typer.Context,
    status: StatusOption = None,
    note: NoteOption = None,
    source: SourceOption = None,
    language: LanguageOption = None,
    min_score: MinScoreOption = None,
    fact: FactOption = None,
    limit: Annotated[int, typer.Option(help="Show at most this many.")] = 50,
    json_output: JsonOption = False,
) -> None:
    """List pairs: id, status, source, language, date, note and the question's start.

    JSON: a list of pairs with every field (`id`, `messages`, `note_path`, `status`, …).
    """
    where = _filter(None, status, note, source, language, min_score, fact=fact)
    with _open_store(ctx) as store:
        pairs = store.list(where, limit=limit)
    if json_output:
        print_json([pair.to_dict() for pair in pairs])
        return
    for pair in pairs:
        date = pair.note_date.date().isoformat() if pair.note_date else "-"
        first = next((m for m in pair.messages if m["role"] == "user"), pair.messages[0])
        question = " ".join(first["content"].split())[:60]
        console.print(
            f"{pair.id[:10]}  {pair.status:8} {pair.source:10} {pair.language:5} {date}  "
            f"{pair.note_path}  {question}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    console.print(f"{len(pairs)} pairs", highlight=False)


@pairs_app.command("show")
def show_cmd(
    ctx: typer.Context,
    pair_id: Annotated[str, typer.Argument(help="A pair id or a unique prefix of it.")],
    json_output: JsonOption = False,
) -> None:
    """Show one pair's messages, provenance, scores and edit history."""
    with _open_store(ctx) as store:
        pair = store.get(pair_id)
        history = store.history(pair.id)
    if json_output:
        print_json({**pair.to_dict(), "history": [vars(edit) for edit in history]})
        return
    for key in ("id", "status", "note_path", "heading", "source", "language", "note_date"):
        console.print(f"{key}: {getattr(pair, key)}", highlight=False, markup=False)
    console.print(
        f"generator: {pair.generator} ({pair.prompt_version}); held out: {pair.held_out}; "
        f"scores: {pair.scores or '-'}; edits: {len(history)}",
        highlight=False,
        markup=False,
    )
    for message in pair.messages:
        console.print(f"\n[{message['role']}]\n{message['content']}", highlight=False, markup=False)


def _set_status(ctx: typer.Context, status: Status, where: PairFilter) -> None:
    from distill.review_actions import set_status_where

    with _open_store(ctx) as store:
        done = set_status_where(store, where, status)
    console.print(f"{status} {done.changed} pairs", highlight=False)


@pairs_app.command("approve")
def approve_cmd(
    ctx: typer.Context,
    ids: IdsArgument = None,
    status: StatusOption = None,
    note: NoteOption = None,
    source: SourceOption = None,
    language: LanguageOption = None,
    min_score: MinScoreOption = None,
    fact: FactOption = None,
) -> None:
    """Approve pairs for training, by id or by filter (e.g. `--source dialogue --language ru`;
    `--fact ID`: a fact, all of its pairs)."""
    where = _filter(ids, status, note, source, language, min_score, fact=fact)
    _set_status(ctx, "approved", where)


@pairs_app.command("reject")
def reject_cmd(
    ctx: typer.Context,
    ids: IdsArgument = None,
    status: StatusOption = None,
    note: NoteOption = None,
    source: SourceOption = None,
    language: LanguageOption = None,
    min_score: MinScoreOption = None,
    fact: FactOption = None,
) -> None:
    """Reject pairs, by id or by filter; they stay in the store, never exported."""
    where = _filter(ids, status, note, source, language, min_score, fact=fact)
    _set_status(ctx, "rejected", where)


_ROLE_LINE = re.compile(r"^<!-- role: (\w+) -->$", re.MULTILINE)
_EDIT_HELP = "<!-- Edit the messages below; keep the role lines. Save and close to apply. -->\n"


def render_messages(messages: list[dict[str, str]]) -> str:
    """Messages as Markdown for an editor: each after a `<!-- role: … -->` line."""
    parts = [f"<!-- role: {m['role']} -->\n{m['content']}\n" for m in messages]
    return _EDIT_HELP + "\n".join(parts)


def parse_messages(text: str) -> list[dict[str, str]]:
    """The messages of an edited `render_messages` text."""
    pieces = _ROLE_LINE.split(text)[1:]
    return [
        {"role": role, "content": content.strip()}
        for role, content in zip(pieces[::2], pieces[1::2], strict=True)
    ]


@pairs_app.command("edit")
def edit_cmd(
    ctx: typer.Context,
    pair_id: Annotated[str, typer.Argument(help="A pair id or a unique prefix of it.")],
) -> None:
    """Edit a pair's messages in $EDITOR; the old ones are kept in its history."""
    from distill.review_actions import edit_pair

    with _open_store(ctx) as store:
        pair = store.get(pair_id)
        edited = click.edit(render_messages(pair.messages), extension=".md", require_save=True)
        if edited is None or edit_pair(store, pair.id, parse_messages(edited)) is None:
            console.print("unchanged", highlight=False)
            return
    console.print(f"edited {pair.id}", highlight=False)


@pairs_app.command("export")
def export_cmd(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option("--out", help="Write JSONL here.")] = None,
    dataset: Annotated[
        Path | None, typer.Option("--dataset", help="Save a `datasets` dataset in this folder.")
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="'messages' or 'prompt-completion' (TRL formats).")
    ] = "messages",
    status: StatusOption = None,
    note: NoteOption = None,
    source: SourceOption = None,
    language: LanguageOption = None,
    min_score: MinScoreOption = None,
) -> None:
    """Export pairs for training: approved and edited ones by default, never held-out ones.

    'messages': one `{"messages": [...]}` per line; 'prompt-completion': `{"prompt":
    [...], "completion": [the last assistant message]}` (TRL's conversational forms).
    """
    from distill.export import export_pairs

    if out is None and dataset is None:
        raise ConfigError("say where to: --out FILE.jsonl and/or --dataset DIR")
    where = _filter(
        None,
        status,
        note,
        source,
        language,
        min_score,
        default_status=("approved", "edited"),
        held_out=False,
    )
    with _open_store(ctx) as store:
        count = export_pairs(store.list(where), fmt, out=out, dataset=dataset)
    targets = " and ".join(str(path) for path in (out, dataset) if path is not None)
    console.print(f"exported {count} pairs to {targets}", highlight=False, markup=False)
