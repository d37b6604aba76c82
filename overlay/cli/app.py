"""The `overlay` Typer app, its global options, and the one way to print results."""

from __future__ import annotations

import atexit
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from overlay.config import Settings
from overlay.config_loading import LoadedSettings, load_settings

app = typer.Typer(
    name="overlay",
    help="A local memory service for an Obsidian vault.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Markdown joins a docstring's wrapped lines, so help reads at any width
    rich_markup_mode="markdown",
)
console = Console()


# `overlay --help` lists commands in the order a person meets them, under these headings
COMMAND_GROUPS = {
    "Index, search and ask": ("index", "watch", "status", "parse", "search", "related", "ask", "chat"),
    "Serve": ("serve", "token", "mcp", "plugin"),
    "Memory: distill, review, train": (
        "distill", "pairs", "review", "scenes", "train", "eval", "runs", "adapters",
    ),
    "Privacy and admin": ("forget", "privacy", "log", "doctor", "config"),
}  # fmt: skip


def group_commands() -> None:
    """Put every registered command and command group under its heading, in that order;
    called once all command modules have registered theirs."""
    order = [name for names in COMMAND_GROUPS.values() for name in names]
    panel = {name: group for group, names in COMMAND_GROUPS.items() for name in names}

    def name_of(info: Any) -> str:
        callback = getattr(info, "callback", None)
        return str(info.name or (callback.__name__.replace("_", "-") if callback else ""))

    for infos in (app.registered_commands, app.registered_groups):
        infos.sort(key=lambda info: order.index(name_of(info)))
        for info in infos:
            info.rich_help_panel = panel[name_of(info)]


class Process:
    """The process a command runs in."""

    # set by `overlay.cli.main` (the console script): the process ends with the command,
    # which a test's CliRunner never does
    ends_with_command = False

    @classmethod
    def end_now(cls) -> None:
        """After a long-running command (serve, watch) has closed everything: end the
        process without the interpreter's teardown, when the process ends anyway.
        Freeing a daemon's heap module by module (Chroma, LlamaIndex, numpy) took ~4 s on
        a busy 2-core machine, which a SIGTERM must not wait for; exit handlers still run."""
        if not cls.ends_with_command:
            return
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


@dataclass
class CliState:
    """What the global options said; settings are loaded on first use."""

    config_file: Path | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    _loaded: LoadedSettings | None = None

    def loaded(self, **more_overrides: Any) -> LoadedSettings:
        """Settings with this command's own flags (dotted keys) on top."""
        if more_overrides or self._loaded is None:
            extra = {k: v for k, v in more_overrides.items() if v is not None}
            self._loaded = load_settings(self.config_file, {**self.overrides, **extra})
        return self._loaded

    def settings(self, **more_overrides: Any) -> Settings:
        return self.loaded(**more_overrides).settings


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option("--config", help="Read settings from this overlay.toml.")
    ] = None,
    vault: Annotated[
        Path | None, typer.Option("--vault", help="The Obsidian vault (a folder).")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Where Overlay keeps its index.")
    ] = None,
) -> None:
    """Overlay watches your vault, answers from it with citations, and distills it into a LoRA."""
    ctx.obj = CliState(config, {"vault": vault, "data_dir": data_dir})


def state(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    if not isinstance(obj, CliState):  # a command invoked without the callback (tests)
        obj = ctx.find_root().obj = CliState()
    return obj


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON with stable keys.")]


def print_json(data: Any) -> None:
    """The single place where `--json` output is written: UTF-8, sorted, no ASCII escapes."""
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
