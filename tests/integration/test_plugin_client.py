"""The Obsidian plugin's HTTP client (examples/obsidian-plugin/src/client.ts) against a real
server: this starts the daemon on a tiny vault and runs the plugin's `npm test` with
OVERLAY_URL and OVERLAY_TOKEN set, so none of its server tests may skip. One of them
corrects an answer; this test then checks that `overlay train` would train on it.

Needs node and the plugin's node_modules (`npm ci` in examples/obsidian-plugin, which
`make plugin` runs); skipped with the reason when either is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from overlay_server import models_dir, running_daemon, server_settings, tiny_vault

from distill.pairs import PairStore
from distill.training import training_pairs

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PLUGIN = Path(__file__).resolve().parents[2] / "examples" / "obsidian-plugin"
PLUGIN_CORRECTION = "My boat is called Kittiwake (corrected by the plugin test)."  # client.test.ts


def test_plugin_client_passes_its_tests_against_the_server(tmp_path: Path) -> None:
    npm = shutil.which("npm")
    if shutil.which("node") is None or npm is None:
        pytest.skip("node/npm are not installed")
    if not (PLUGIN / "node_modules" / ".bin" / "tsx").exists():
        pytest.skip(
            "the plugin's node_modules are missing: run `npm ci` in examples/obsidian-plugin"
        )
    settings = server_settings(
        tiny_vault(tmp_path / "vault"), tmp_path / "data", models_dir(tmp_path / "models")
    )
    with running_daemon(settings) as server:
        server.wait_idle()
        env = {**os.environ, "OVERLAY_URL": server.url, "OVERLAY_TOKEN": server.token}
        env.pop("HTTP_PROXY", None)
        env.pop("http_proxy", None)
        done = subprocess.run(
            [npm, "test"], cwd=PLUGIN, env=env, capture_output=True, text=True, timeout=600
        )
    report = done.stdout + done.stderr
    assert done.returncode == 0, report[-4000:]
    counts = dict(re.findall(r"^# (pass|fail|skipped) (\d+)$", report, flags=re.MULTILINE))
    assert counts.get("fail") == "0" and counts.get("skipped") == "0", report[-4000:]
    assert int(counts["pass"]) >= 15
    # the plugin's correction is an approved pair, and the next `overlay train` trains on it
    with PairStore.from_settings(settings) as store:
        trained = [p for p in training_pairs(store) if p.source == "correction"]
    assert [p.messages[-1]["content"] for p in trained] == [PLUGIN_CORRECTION]
    assert trained[0].status == "approved" and trained[0].log_entry is not None
