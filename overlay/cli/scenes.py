"""`overlay scenes check`: the hand-written training examples of a vault, validated."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from overlay.cli.app import JsonOption, app, console, print_json, state
from overlay.config import ParseSettings
from overlay.errors import VaultNotFound
from vault_schema import (
    Scene,
    SceneError,
    SkippedFile,
    is_private,
    iter_note_paths,
    read_note,
    read_scenes,
)

scenes_app = typer.Typer(
    help="Hand-written training examples (```yaml blocks of `kind: scene`).",
    no_args_is_help=True,
)
app.add_typer(scenes_app, name="scenes")


@dataclass
class SceneReport:
    """Every scene of a vault's readable, non-private notes, and what is wrong with them."""

    root: Path
    scenes: list[Scene] = field(default_factory=list)
    errors: list[SceneError] = field(default_factory=list)
    private: int = 0  # notes never read for scenes

    @property
    def broken(self) -> int:
        """Broken scenes: blocks, or examples of a list, with at least one error."""
        return len({(error.path, error.scene_line) for error in self.errors})

    def totals(self) -> dict[str, int]:
        return {
            "scenes": len(self.scenes),
            "notes": len({scene.path for scene in self.scenes}),
            "errors": len(self.errors),
            "private_notes": self.private,
        }


def check_vault(root: Path, settings: ParseSettings) -> SceneReport:
    """Read every scene of the vault at `root`; private notes are left unread."""
    report = SceneReport(root)
    for path in iter_note_paths(root, settings.exclude):
        try:
            note = read_note(root, path, max_bytes=settings.max_file_bytes)
        except SkippedFile:
            continue  # not a note Overlay reads at all: no scene of it is ever used
        if is_private(note, settings.private_tags):
            report.private += 1
            continue
        scenes, errors = read_scenes(note)
        report.scenes += scenes
        report.errors += errors
    return report


@scenes_app.command("check")
def check_command(
    ctx: typer.Context,
    vault: Annotated[
        Path | None,
        typer.Argument(help="The vault folder; default: the configured vault.", show_default=False),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Validate every scene in the vault: one `path:line: message` line per error.

    Exits with 1 when any scene is broken, 0 when all are fine. Private notes are
    not read. JSON keys: `root`; `scenes` [{`path`, `line`, `language` (null: to be
    detected), `tags`, `system` (bool), `turns` (count), `heading`}]; `errors`
    [{`path`, `line`, `message`}]; `totals` {`scenes` (valid ones), `notes` (holding
    them), `broken` (scenes with errors), `errors`, `private_notes`}.
    """
    settings = state(ctx).settings()
    root = vault.expanduser().resolve() if vault is not None else settings.require_vault()
    if not root.is_dir():
        raise VaultNotFound(f"the vault {root} is not a folder")
    report = check_vault(root, settings.parse)
    if json_output:
        print_json(_report_json(report))
    else:
        _print(report)
    if report.errors:
        raise typer.Exit(1)


def _print(report: SceneReport) -> None:
    for error in report.errors:
        console.print(str(error), highlight=False, markup=False, soft_wrap=True)
    totals = report.totals()
    summary = (
        f"{_count(totals['scenes'], 'scene')} ok in {_count(totals['notes'], 'note')}; "
        f"{report.broken} broken ({_count(totals['errors'], 'error')})"
    )
    if report.private:
        summary += f"; {_count(report.private, 'private note')} not read"
    console.print(summary, highlight=False, markup=False)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _report_json(report: SceneReport) -> dict[str, Any]:
    return {
        "root": str(report.root),
        "scenes": [
            {
                "path": scene.path,
                "line": scene.line,
                "language": scene.language,
                "tags": list(scene.tags),
                "system": scene.system is not None,
                "turns": len(scene.turns),
                "heading": scene.heading,
            }
            for scene in report.scenes
        ],
        "errors": [
            {"path": error.path, "line": error.line, "message": error.message}
            for error in report.errors
        ],
        "totals": {**report.totals(), "broken": report.broken},
    }
