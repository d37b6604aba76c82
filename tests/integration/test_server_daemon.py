"""`overlay serve` as a person runs it: a process that prints where it listens and its
token, indexes and watches the vault, refuses a second writer, and shuts down cleanly
on SIGTERM and SIGINT. The hash embedder (the package's fake) keeps it quick; no
chat happens here, so no model loads.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from overlay_server import tiny_vault

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@dataclass
class Served:
    process: subprocess.Popen[str]
    data_dir: Path
    vault: Path
    url: str
    token: str

    def get(self, path: str, **params: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.get(self.url + path, params=params, headers=headers, trust_env=False)


def overlay(*args: str, data_dir: Path) -> list[str]:
    return [
        sys.executable,
        "-c",
        "from overlay.cli import main; main()",
        "--data-dir",
        str(data_dir),
        *args,
    ]


def environment(models: Path) -> dict[str, str]:
    return {
        **os.environ,
        "OVERLAY_INDEX__EMBEDDER": "hash",
        "OVERLAY_MODELS_DIR": str(models),
        "OVERLAY_INDEX__DEBOUNCE_MS": "100",
        "PYTHONUNBUFFERED": "1",
    }


def wait_for(condition: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    vault, data_dir = tiny_vault(tmp_path / "vault"), tmp_path / "data"
    process = subprocess.Popen(
        overlay("serve", str(vault), "--port", "0", data_dir=data_dir),
        env=environment(tmp_path / "models"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    daemon_json = data_dir / "daemon.json"
    try:
        wait_for(lambda: daemon_json.exists() or process.poll() is not None)
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        info = json.loads(daemon_json.read_text())
        token = (data_dir / "token").read_text().strip()
        yield Served(process, data_dir, vault, info["url"], token)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def stop(served: Served, sig: signal.Signals) -> str:
    served.process.send_signal(sig)
    output, _ = served.process.communicate(timeout=60)
    return output


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_url_and_token_and_stops_cleanly(served: Served, sig: signal.Signals) -> None:
    assert served.get("/api/v1/health").json()["status"] == "ok"
    wait_for(lambda: served.get("/api/v1/status").json()["state"] == "idle")
    assert served.get("/api/v1/status").json()["index"]["notes"] == 5
    output = stop(served, sig)
    assert served.process.returncode == 0, output
    assert f"plugin URL:      {served.url}" in output
    assert f"OpenAI base URL: {served.url}/v1" in output
    assert re.search(rf"token:\s+{re.escape(served.token)}", output)
    assert "sync of the whole vault finished" in output and output.rstrip().endswith("stopped")
    assert "Traceback" not in output
    assert not (served.data_dir / "daemon.json").exists()


def test_a_second_writer_is_refused_while_serving(served: Served, tmp_path: Path) -> None:
    second = subprocess.run(
        overlay("serve", str(served.vault), "--port", "0", data_dir=served.data_dir),
        env=environment(tmp_path / "models"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 3
    assert f"pid {served.process.pid}: overlay serve" in second.stderr
    assert (served.data_dir / "daemon.json").exists()  # the first daemon's file stays
    stop(served, signal.SIGTERM)


def test_overlay_forget_while_serving_asks_the_daemon(served: Served, tmp_path: Path) -> None:
    wait_for(lambda: served.get("/api/v1/status").json()["state"] == "idle")
    note = "Projects/The boat.md"

    def found() -> bool:
        hits = served.get("/api/v1/search", q="Folkboat Kittiwake").json()["hits"]
        return note in {hit["note_path"] for hit in hits}

    assert found()
    for extra, shown, present in ((), "forgotten", False), (("--undo",), "indexed again", True):
        forgot = subprocess.run(  # the daemon holds the index: a second writer would be refused
            overlay("--vault", str(served.vault), "forget", note, *extra, data_dir=served.data_dir),
            env=environment(tmp_path / "models"),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert forgot.returncode == 0, forgot.stderr
        assert f"1 note(s) {shown}: {note}" in forgot.stdout
        assert found() is present  # answered after the daemon's sync: no waiting needed
    stop(served, signal.SIGTERM)


def test_a_note_saved_while_serving_is_found_without_asking(served: Served) -> None:
    wait_for(lambda: served.get("/api/v1/status").json()["state"] == "idle")
    note = served.vault / "Notes" / "Heron.md"
    note.parent.mkdir(exist_ok=True)
    note.write_text("# Heron\n\nThe heron on the pier is called Zyzzyva.\n", encoding="utf-8")

    def found() -> bool:
        hits = served.get("/api/v1/search", q="Zyzzyva").json()["hits"]
        return bool(hits) and hits[0]["note_path"] == "Notes/Heron.md"

    wait_for(found, timeout=60)
    assert "changed: Notes" in stop(served, signal.SIGTERM)
