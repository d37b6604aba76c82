"""CLI commands find a running daemon only when one really runs (DESIGN decision 8)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from overlay.cli.client import DaemonClient, read_daemon_file
from overlay.config import Settings


def settings_for(tmp_path: Path) -> Settings:
    return Settings.model_validate({"vault": str(tmp_path), "data_dir": str(tmp_path / "data")})


def announce(settings: Settings, pid: int, url: str = "http://127.0.0.1:9") -> None:
    data_dir = settings.resolved_data_dir()
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "daemon.json").write_text(json.dumps({"pid": pid, "url": url}))
    (data_dir / "token").write_text("t0ken\n")


def test_no_daemon_json_means_no_daemon(tmp_path: Path) -> None:
    assert DaemonClient.discover(settings_for(tmp_path)) is None


def test_a_file_left_by_a_dead_daemon_is_ignored(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    announce(settings, gone.pid)
    assert read_daemon_file(settings) is None
    assert DaemonClient.discover(settings) is None


def test_a_live_pid_that_does_not_answer_http_is_no_daemon(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    announce(settings, pid=1, url="http://127.0.0.1:9")  # pid 1 lives; port 9 is closed
    assert read_daemon_file(settings) is not None
    assert DaemonClient.discover(settings) is None
