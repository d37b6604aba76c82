"""`overlay parse PATH`: what Overlay understood of a note or a whole vault."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from overlay.cli.app import JsonOption, app, console, print_json, state
from overlay.config import ParseSettings
from overlay.errors import NoteNotFound
from vault_schema import (
    Dialogue,
    Note,
    ParseWarning,
    SkippedFile,
    Vault,
    extract_dialogue,
    load_vault,
    note_date,
    read_note,
    resolve_links,
)
from vault_schema.files import file_kind

ExcludeOption = Annotated[
    list[str] | None,
    typer.Option("--exclude", help="Skip vault paths matching this glob (repeatable)."),
]


@dataclass
class ParseReport:
    """Notes (links resolved) and skipped files, with the settings they were read by."""

    root: Path
    notes: list[Note]
    skipped: list[ParseWarning]
    settings: ParseSettings

    def __post_init__(self) -> None:
        self.dialogues: dict[str, Dialogue | None] = {
            note.path: extract_dialogue(
                note, self.settings.user_callouts, self.settings.assistant_callouts
            )
            for note in self.notes
        }

    def dialogue(self, note: Note) -> Dialogue | None:
        return self.dialogues.get(note.path)

    def totals(self) -> dict[str, int]:
        links = [link for note in self.notes for link in note.links]
        resolved = sum(1 for link in links if link.resolved)
        dialogues = [d for d in self.dialogues.values() if d is not None]
        kinds = Counter(file_kind(note.path) for note in self.notes)
        return {
            "notes": kinds["md"],
            "canvases": kinds["canvas"],
            "pdfs": kinds["pdf"],
            "links": len(links),
            "resolved": resolved,
            "unresolved": len(links) - resolved,
            "dialogues": len(dialogues),
            "turns": sum(len(d.turns) for d in dialogues),
            "warnings": sum(len(note.warnings) for note in self.notes),
            "skipped": len(self.skipped),
        }

    def date(self, note: Note) -> str:
        return note_date(
            note,
            user_callouts=self.settings.user_callouts,
            assistant_callouts=self.settings.assistant_callouts,
        ).isoformat()


@app.command("parse")
def parse_command(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A note (.md) or a vault folder.")],
    exclude: ExcludeOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show what Overlay reads in a note or a vault: notes, canvases, PDFs, links,
    dialogues, warnings, and the files it skipped and why.

    A single note's links resolve against its vault (the nearest folder above it
    with `.obsidian/`), else against the note's own folder. `--exclude` adds to
    the `parse.exclude` setting.

    JSON keys: `root` (the folder links resolve against); `notes`: a list of
    {`path`, `title`, `date` (ISO, by `vault_schema.dates` precedence), `aliases`,
    `tags`, `headings` [{`level`, `text`, `line`}], `links` [{`kind`, `target`,
    `heading`, `block`, `display`, `line`, `resolved` (vault path or null)}],
    `dialogue` (null or {`turns`: [{`role`, `timestamp` (ISO or null), `line`,
    `uid`, `chars`}]}), `warnings` [{`code`, `message`}]}; `skipped`: files not
    read, [{`path`, `code`, `message`}]; `totals`: {`notes` (Markdown), `canvases`,
    `pdfs`, `links`, `resolved`,
    `unresolved`, `dialogues`, `turns`, `warnings`, `skipped`}.
    """
    settings = state(ctx).settings().parse
    globs = [*settings.exclude, *(exclude or [])]
    report = build_report(path.expanduser(), globs, settings)
    if json_output:
        print_json(report_json(report))
    elif path.is_dir():
        _print_vault(report)
    else:
        _print_note(report)


def build_report(path: Path, exclude: Sequence[str], settings: ParseSettings) -> ParseReport:
    """Parse `path` (a folder: the whole vault; a file: that note, in its vault)."""
    if path.is_dir():
        vault = _load(path, exclude, settings)
        return ParseReport(path.resolve(), list(vault.notes.values()), vault.skipped, settings)
    if not path.is_file():
        raise NoteNotFound(f"no note or folder at {path}")
    full = path.resolve()
    root = _vault_root(full.parent)
    vault = _load(root, exclude, settings)
    relative = full.relative_to(root).as_posix()
    try:
        note = read_note(root, relative, max_bytes=settings.max_file_bytes)
    except SkippedFile as skip:
        return ParseReport(root, [], [skip.warning], settings)
    return ParseReport(root, [resolve_links(note, vault.resolver)], [], settings)


def _load(root: Path, exclude: Sequence[str], settings: ParseSettings) -> Vault:
    return load_vault(
        root,
        exclude=exclude,
        max_bytes=settings.max_file_bytes,
        kinds=settings.file_kinds,
        exclude_templates=settings.exclude_templates,
    )


def _vault_root(folder: Path) -> Path:
    for candidate in (folder, *folder.parents):
        if (candidate / ".obsidian").is_dir():
            return candidate
    return folder


def report_json(report: ParseReport) -> dict[str, Any]:
    """The stable `--json` document described in `parse_command`'s docstring."""
    return {
        "root": str(report.root),
        "notes": [_note_json(report, note) for note in report.notes],
        "skipped": [_warning_json(w, with_path=True) for w in report.skipped],
        "totals": report.totals(),
    }


def _note_json(report: ParseReport, note: Note) -> dict[str, Any]:
    dialogue = report.dialogue(note)
    return {
        "path": note.path,
        "title": note.title,
        "date": report.date(note),
        "aliases": list(note.aliases),
        "tags": list(note.tags),
        "headings": [{"level": h.level, "text": h.text, "line": h.line} for h in note.headings],
        "links": [
            {
                "kind": link.kind.value,
                "target": link.target,
                "heading": link.heading,
                "block": link.block,
                "display": link.display,
                "line": link.line,
                "resolved": link.resolved,
            }
            for link in note.links
        ],
        "dialogue": None
        if dialogue is None
        else {
            "turns": [
                {
                    "role": turn.role.value,
                    "line": turn.line,
                    "uid": turn.uid,
                    "chars": len(turn.text),
                    "timestamp": turn.timestamp.isoformat() if turn.timestamp else None,
                }
                for turn in dialogue.turns
            ]
        },
        "warnings": [_warning_json(w) for w in note.warnings],
    }


def _warning_json(warning: ParseWarning, *, with_path: bool = False) -> dict[str, str]:
    entry = {"code": warning.code, "message": warning.message}
    return {"path": warning.path, **entry} if with_path else entry


def _print_vault(report: ParseReport) -> None:
    table = _table(
        f"{len(report.notes)} notes in {report.root}",
        "note",
        "date",
        "links",
        "resolved",
        "unresolved",
        "turns",
        "warnings",
    )
    for note in report.notes:
        resolved = sum(1 for link in note.links if link.resolved)
        dialogue = report.dialogue(note)
        table.add_row(
            note.path,
            report.date(note)[:16],
            str(len(note.links)),
            str(resolved),
            str(len(note.links) - resolved),
            str(len(dialogue.turns) if dialogue else 0),
            str(len(note.warnings)),
        )
    console.print(table)
    _print_dialogues(report)
    _print_warnings(report)
    _print_totals(report)


def _print_note(report: ParseReport) -> None:
    for note in report.notes:
        console.print(f"[bold]{note.path}[/bold] in {report.root}")
        console.print(f"title: {note.title}   date: {report.date(note)}")
        console.print(
            f"tags: {', '.join(note.tags) or '-'}   aliases: {', '.join(note.aliases) or '-'}"
        )
        table = _table("links", "line", "kind", "link", "resolves to")
        for link in note.links:
            written = (
                link.target
                + (f"#{link.heading}" if link.heading else "")
                + (f"#^{link.block}" if link.block else "")
            )
            table.add_row(
                str(link.line),
                link.kind.value,
                written,
                link.resolved or "[yellow](unresolved)[/yellow]",
            )
        console.print(table)
    _print_dialogues(report)
    _print_warnings(report)
    _print_totals(report)


def _print_dialogues(report: ParseReport) -> None:
    table = _table("dialogues", "note", "turn", "role", "timestamp", "line", "chars")
    for note in report.notes:
        dialogue = report.dialogue(note)
        for number, turn in enumerate(dialogue.turns if dialogue else (), start=1):
            stamp = turn.timestamp.isoformat(" ", "minutes") if turn.timestamp else "-"
            table.add_row(
                note.path, str(number), turn.role.value, stamp, str(turn.line), str(len(turn.text))
            )
    if table.row_count:
        console.print(table)


def _print_warnings(report: ParseReport) -> None:
    warnings: Iterable[ParseWarning] = [
        *report.skipped,
        *(w for note in report.notes for w in note.warnings),
    ]
    table = _table("warnings", "file", "code", "message")
    for warning in warnings:
        table.add_row(warning.path, warning.code, warning.message)
    if table.row_count:
        console.print(table)


def _table(title: str, *columns: str) -> Table:
    """A table that folds long paths instead of cutting them."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _print_totals(report: ParseReport) -> None:
    totals = report.totals()
    console.print("  ".join(f"{key}: {value}" for key, value in totals.items()))
