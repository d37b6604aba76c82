"""`overlay doctor`: the health of the data dir, each finding with what to do about it;
which model answers, and how to connect a better one."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import typer

from overlay.cli.app import JsonOption, app, console, print_json, state
from overlay.config import Settings
from overlay.core.server_probe import (
    LocalServer,
    chat_model_finding,
    connect_settings,
    find_local_servers,
)


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    detail: str


def data_dir_health(settings: Settings) -> list[Finding]:
    """What is right and wrong with the index, vectors, other stores and daemon file of the
    data dir."""
    from indexer.integrity import REBUILD_HINT
    from indexer.store import DB_FILE
    from overlay.sqlite import sqlite_damage

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
    findings.append(_stores(data, DB_FILE))
    findings.append(_daemon_file(data))
    return findings


def _stores(data: Path, index_file: str) -> Finding:
    """The other databases (pairs, runs, log, forgetting journal): these hold what the
    person made, so damage is named, never rebuilt over."""
    from overlay.sqlite import REPAIR_HINT, sqlite_damage

    files = sorted(path for path in data.glob("*.sqlite3") if path.name != index_file)
    damaged = [problem for path in files if (problem := sqlite_damage(path, always=True))]
    if damaged:
        return Finding("stores", False, f"{'; '.join(damaged)}; {REPAIR_HINT}")
    return Finding("stores", True, f"quick_check ok: {', '.join(p.name for p in files)}")


def _vectors(settings: Settings) -> Finding:
    """Every passage has a vector, and the vectors read back whole (indexer/integrity.py)."""
    from indexer.integrity import vector_damage, vector_gap
    from indexer.store import Store
    from overlay.errors import StoreError

    try:
        with Store.from_settings(settings) as store:
            problem = vector_gap(store) or vector_damage(store)
            counted = f"{store.chunk_count()} passage(s), each with a vector that reads back"
    except StoreError as error:
        return Finding("vectors", False, error.message)
    return Finding("vectors", problem is None, problem or counted)


def _daemon_file(data: Path) -> Finding:
    from overlay.daemon.lifecycle import pid_alive
    from overlay.data_files import DAEMON_FILE

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
    """Check the data dir (the index file's SQLite quick_check, vectors vs passages, the
    daemon file), say which chat model answers, and find a local OpenAI-compatible server
    (vLLM on 8000, Ollama on 11434, LM Studio on 1234, llama.cpp on 8080) with the settings
    that connect it. Exit 1 when the data dir has a problem; each finding says what to do.

    JSON: `{health: [{check, ok, detail}], chat_model, servers: [{name, base_url, models,
    config}]}`.
    """
    settings = state(ctx).settings()
    findings = data_dir_health(settings)
    servers = find_local_servers()
    if json_output:
        print_json(
            {
                "health": [asdict(finding) for finding in findings],
                "chat_model": chat_model_finding(settings.llm),
                "servers": [_server_json(server) for server in servers],
            }
        )
    else:
        for finding in findings:
            mark = "ok     " if finding.ok else "PROBLEM"
            console.print(f"{mark} {finding.check}: {finding.detail}", highlight=False)
        _print_models(settings, servers)
    if not all(finding.ok for finding in findings):
        raise typer.Exit(1)


def _server_json(server: LocalServer) -> dict[str, object]:
    return {
        "name": server.name,
        "base_url": server.base_url,
        "models": list(server.models),
        "config": server.config_lines(),
    }


def _print_models(settings: Settings, servers: list[LocalServer]) -> None:
    console.print(chat_model_finding(settings.llm), highlight=False)
    for server in servers:
        console.print(
            f"\n{server.name} at {server.base_url} serves: {', '.join(server.models) or '?'}\n"
            "to answer with it, put this in your config file (`overlay config show` names it):",
            highlight=False,
        )
        console.print("\n".join(server.config_lines()), markup=False, highlight=False)
    running = {server.name for server in servers}
    idle = [(known, lines) for known, lines in connect_settings() if known.name not in running]
    if not idle:
        return
    tried = ", ".join(f"{known.name} {known.port}" for known, _ in idle)
    console.print(
        f"\nnot answering now: {tried}. To answer with one, start it and put its settings "
        "in your config file (`overlay config show` names it):",
        highlight=False,
    )
    for known, lines in idle:
        console.print(f"\n# {known.name}: {known.start}", markup=False, highlight=False)
        console.print("\n".join(lines), markup=False, highlight=False)
