"""A real Overlay daemon (memory, sync worker, uvicorn) on a free loopback port, for tests.

`running_daemon(settings)` runs `overlay.daemon.daemon.Daemon` in a thread (port 0: the
OS picks a free one), waits until uvicorn listens and yields an `OverlayServer`
with the URL and token; leaving the block stops it the way SIGTERM would.
`tiny_vault(dest)` copies a handful of examples/vault notes (one of them private)
and `server_settings` builds settings for it with the data dir in tmp and the
bundled SmolLM2 answering briefly.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from overlay.config import Settings
from overlay.daemon.daemon import Daemon
from server.auth import load_token

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_VAULT = REPO / "examples" / "vault"
TINY_NOTES = [
    "Projects/The boat.md",
    "Места/Andrejosta.md",
    "People/Anna Petrova.md",
    "People/Дмитрий Петров.md",
    "Journal/2025-03-22.md",
    "Private/PIN и коды.md",
]
START_TIMEOUT_S = 180.0


@dataclass
class OverlayServer:
    url: str
    token: str
    settings: Settings
    daemon: Daemon

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def client(self, **kwargs: Any) -> httpx.Client:
        """An httpx client with the token; `headers={}` for one without it."""
        options: dict[str, Any] = {"headers": self.headers, "timeout": 300.0, **kwargs}
        return httpx.Client(base_url=self.url, trust_env=False, **options)

    def wait_idle(self, timeout: float = 300.0) -> dict[str, Any]:
        """The status once no sync runs or waits (the first sync included)."""
        deadline = time.monotonic() + timeout
        with self.client() as http:
            while True:
                status: dict[str, Any] = http.get("/api/v1/status").json()
                if status["state"] == "idle" or time.monotonic() > deadline:
                    return status
                time.sleep(0.2)


def tiny_vault(dest: Path) -> Path:
    """A private copy of a few examples/vault notes (never the original)."""
    for relative in TINY_NOTES:
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(EXAMPLE_VAULT / relative, target)
    (dest / ".obsidian").mkdir(exist_ok=True)
    return dest


def models_dir(fallback: Path) -> Path:
    """Where SmolLM2 is converted: $OVERLAY_MODELS_DIR when set (shared, converted once)."""
    return Path(os.environ.get("OVERLAY_MODELS_DIR") or fallback)


def server_settings(vault: Path, data_dir: Path, models: Path, **sections: Any) -> Settings:
    tree: dict[str, Any] = {
        "vault": str(vault),
        "data_dir": str(data_dir),
        "server": {"port": 0},
        "llm": {"models_dir": str(models), "max_new_tokens": 16},
        "retrieval": {"top_k": 4},  # a short prompt: the CPU model reads it faster
    }
    for name, values in sections.items():
        tree.setdefault(name, {}).update(values)
    return Settings.model_validate(tree)


@contextmanager
def running_daemon(settings: Settings, *, watch: bool = False) -> Iterator[OverlayServer]:
    daemon = Daemon(settings, watch=watch)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            daemon.run()
        except BaseException as error:
            failure.append(error)

    thread = threading.Thread(target=run, name="overlay-daemon", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while daemon.url is None:
        if failure:
            raise failure[0]
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the Overlay daemon did not start")
        time.sleep(0.02)
    try:
        yield OverlayServer(daemon.url, load_token(settings), settings, daemon)
    finally:
        daemon.stop()
        thread.join(120)
