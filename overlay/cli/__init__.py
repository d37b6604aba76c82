"""The `overlay` command line: one module per command group, errors as one-line messages."""

from __future__ import annotations

import sys

from overlay.cli import (  # noqa: F401  (register their commands)
    adapters,
    chat,
    config_cmd,
    distill,
    doctor,
    index,
    log,
    mcp,
    parse,
    plugin,
    privacy,
    review,
    review_web,
    scenes,
    search,
    serve,
    train,
)
from overlay.cli.app import Process, app, group_commands
from overlay.errors import OverlayError

group_commands()


def main() -> None:
    Process.ends_with_command = True
    try:
        app()
    except OverlayError as error:
        print(f"error: {error.message}", file=sys.stderr)
        sys.exit(error.exit_code)
