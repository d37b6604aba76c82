"""`overlay doctor`: the health of the data dir, each finding with what to do about it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import typer

from overlay.cli.app import JsonOption, app, console, print_json, state
from overlay.config import Settings


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    detail: str


def data_dir_health(settings: Settings) -> list[Finding]:
    """What is right and wrong with the index, vectors and daemon files of the data dir."""
    from indexer.integrity import REBUILD_HINT, sqlite_damage
    from indexer.store import DB_FILE

    data = settings.resolved_data_dir()
    if not (data / DB_FILE).is_file():
        return [Finding("index", True, f"not indexed yet ({data}): run `overlay index`")]
    damage = sqlite_damage(data / DB_FILE, always=True)
    findings = [
        Finding(
            "index", damage is None, f"{damage}; {REBUILD_HINT}" if damage else "quick_check ok"
        )
    ]
    if damage is None:
        findings.append(_vectors(settings))
    findings.append(_daemon_file(data))
    return findings


def _vectors(settings: Settings) -> Finding:
    from indexer.integrity import vector_gap
    from indexer.store import Store
    from overlay.errors import StoreError

    try:
        with Store.from_settings(settings) as store:
            gap = vector_gap(store)
            counted = f"{store.chunk_count()} passage(s), each with a vector"
    except StoreError as error:
        return Finding("vectors", False, error.message)
    return Finding("vectors", gap is None, gap or counted)


def _daemon_file(data: Path) -> Finding:
    from overlay.data_files import DAEMON_FILE
    from overlay.lifecycle import pid_alive

    path = data / DAEMON_FILE
    try:
        pid = int(json.loads(path.read_text(encoding="utf-8"))["pid"])
    except FileNotFoundError:
        return Finding("daemon", True, "no daemon running")
    except (OSError, ValueError, KeyError, TypeError):
        return Finding(
            "daemon", False, f"{path.name} is unreadable; the next `overlay serve` removes it"
        )
    if pid_alive(pid):
        return Finding("daemon", True, f"running as pid {pid}")
    return Finding(
        "daemon",
        False,
        f"{path.name} names pid {pid}, which is not running; the next `overlay serve` removes it",
    )


@app.command()
def doctor(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Check the data dir: the index file (SQLite quick_check), vectors vs passages, the
    daemon file. Exit 1 when something is wrong; each finding says what to do.

    JSON: a list of `{check, ok, detail}`.
    """
    findings = data_dir_health(state(ctx).settings())
    if json_output:
        print_json([asdict(finding) for finding in findings])
    else:
        for finding in findings:
            mark = "ok     " if finding.ok else "PROBLEM"
            console.print(f"{mark} {finding.check}: {finding.detail}", highlight=False)
    if not all(finding.ok for finding in findings):
        raise typer.Exit(1)
