"""What MCP costs: `search` over the daemon's `/mcp` against the same searches on `/api/v1/search`.

    .venv/bin/python -m benchmarks.mcp_search [--calls 200] [--work /tmp/overlay-mcp-bench]

Builds the hotpotqa-100 vault (994 notes; benchmarks/vaults.py), indexes it with the
default embedder, starts a real daemon on loopback (uvicorn, as `overlay serve` runs it)
and sends --calls queries (the 100 HotpotQA questions, then passage titles) both ways,
alternating per query so both see the same machine: one MCP session over the official
client's streamable HTTP transport, one keep-alive HTTP client for the plugin API.
Each figure is a round trip as a client sees it (top_k=8). The overhead is MCP over
HTTP as a ratio of medians and of 95th percentiles, and as the median extra time of a
query over MCP, steadier on a busy machine (the load average is saved with the figures).
Writes benchmarks/results/mcp_search.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from benchmarks.record import write_results
from benchmarks.vaults import HOTPOT_CORPUS, SHARED_DATA, build_hotpotqa_vault
from overlay.config import Settings
from overlay.core.memory import Memory
from overlay.daemon.daemon import Daemon
from server.auth import load_token

TOP_K = 8


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(1000 * statistics.median(ordered), 2),
        "p95_ms": round(1000 * ordered[int(0.95 * (len(ordered) - 1))], 2),
    }


def queries(count: int) -> list[str]:
    asked = [
        q["question"]
        for q in json.loads((SHARED_DATA / "hotpotqa-100" / "questions.json").read_text())
    ]
    titles = list(json.loads(HOTPOT_CORPUS.read_text(encoding="utf-8")))
    return (asked + titles)[:count]


def start_daemon(settings: Settings) -> Daemon:
    daemon = Daemon(settings, watch=False)
    threading.Thread(target=daemon.run, name="overlay-daemon", daemon=True).start()
    while daemon.url is None:
        time.sleep(0.05)
    return daemon


def wait_idle(url: str, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    while (
        httpx.get(url + "/api/v1/status", headers=headers, trust_env=False).json()["state"]
        != "idle"
    ):
        time.sleep(0.2)


async def measure(url: str, token: str, asked: list[str]) -> dict[str, list[float]]:
    headers = {"Authorization": f"Bearer {token}"}
    times: dict[str, list[float]] = {"mcp": [], "http": []}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=120.0, trust_env=False) as mcp_http,
        streamable_http_client(url + "/mcp", http_client=mcp_http) as (read, write),
        ClientSession(read, write) as session,
        httpx2.AsyncClient(base_url=url, headers=headers, timeout=120.0, trust_env=False) as api,
    ):
        await session.initialize()
        for query in asked[:3]:  # BM25 and the graph are built on first use, as in a warm daemon
            await session.call_tool("search", {"query": query, "top_k": TOP_K})
        for query in asked:
            started = time.perf_counter()
            result = await session.call_tool("search", {"query": query, "top_k": TOP_K})
            times["mcp"].append(time.perf_counter() - started)
            assert not result.is_error, result.content
            started = time.perf_counter()
            response = await api.get("/api/v1/search", params={"q": query, "top_k": TOP_K})
            times["http"].append(time.perf_counter() - started)
            response.raise_for_status()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--work", type=Path, default=Path("/tmp/overlay-mcp-bench"))
    args = parser.parse_args()
    vault = args.work / "vault"
    shutil.rmtree(vault, ignore_errors=True)
    build_hotpotqa_vault(vault)
    settings = Settings.model_validate(
        {"vault": vault, "data_dir": args.work / "data", "server": {"port": 0}}
    )
    memory = Memory(settings)
    memory.sync()  # indexed before the daemon starts, so its first sync finds nothing to do
    notes, embedder = memory.store.stats().notes, memory.embedder.name
    memory.close()
    daemon = start_daemon(settings)
    assert daemon.url is not None
    try:
        token = load_token(settings)
        wait_idle(daemon.url, token)
        times = anyio.run(measure, daemon.url, token, queries(args.calls))
    finally:
        daemon.stop()
    mcp, http = percentiles(times["mcp"]), percentiles(times["http"])
    extra = [m - h for m, h in zip(times["mcp"], times["http"], strict=True)]
    results: dict[str, Any] = {
        "notes": notes,
        "embedder": embedder,
        "calls": len(times["mcp"]),
        "top_k": TOP_K,
        "mcp_search": mcp,
        "http_search": http,
        "overhead_ratio_p50": round(mcp["p50_ms"] / http["p50_ms"], 3),
        "overhead_ratio_p95": round(mcp["p95_ms"] / http["p95_ms"], 3),
        # each query's MCP time minus its HTTP time: steadier than the ratios when other
        # work shares the machine, since both calls of a pair see the same load
        "paired_extra_ms_p50": round(1000 * statistics.median(extra), 2),
    }
    write_results(results, args)  # with the load average: a shared machine skews the ms
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
