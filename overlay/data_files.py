"""Where the files that processes share live in the data dir: the token, daemon.json.

The server writes the token and the daemon writes daemon.json; the CLI's client
reads both. Each names the path here, so none of them imports another.
"""

from __future__ import annotations

from pathlib import Path

from overlay.config import Settings

DAEMON_FILE = "daemon.json"
TOKEN_FILE = "token"


def daemon_file(settings: Settings) -> Path:
    return settings.resolved_data_dir() / DAEMON_FILE


def token_path(settings: Settings) -> Path:
    return settings.resolved_data_dir() / TOKEN_FILE
