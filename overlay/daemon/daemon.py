"""`overlay serve`: one process that syncs, watches and serves HTTP (DESIGN decision 8).

    Daemon.run
    ├── Memory(settings)                    the store, embedder and model, built once
    ├── SyncWorker   (thread)               every sync, one at a time: the first full
    │                                       one, the watcher's paths, POST /api/v1/sync
    ├── Watcher      (watchdog thread)      changed paths → SyncWorker.request
    ├── ScheduleWorker (thread)             overlay.daemon.schedule: serve a promotion made
    │                                       elsewhere (every 5 s), distill every
    │                                       `distill.schedule`, train when `train.auto`
    └── uvicorn      (main thread)          server.create_app(settings, memory, worker)

The first sync runs in the worker, so /api/v1/health answers at once and status
says "indexing" until it is done. `daemon.json` in the data dir (pid, url) tells
CLI commands that a daemon serves this vault (`overlay.cli.client`); it is written
once uvicorn listens and removed on the way out.

Shutdown (SIGINT or SIGTERM): uvicorn stops taking requests and gives the ones in
flight 5 s; answers still being generated are stopped (`server.streams`); then the
watcher stops, the worker finishes the sync it is in (the store commits batch by
batch, so nothing is half-written even when a second signal cuts that wait short),
the memory is closed and daemon.json removed.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import uvicorn

from indexer.sync_worker import SyncWorker
from overlay.config import Settings
from overlay.daemon.lifecycle import clear_stale_daemon_file, ensure_port_free
from overlay.daemon.schedule import (
    MIN_PERIOD_S,
    Every,
    Scheduler,
    ScheduleWorker,
    When,
    parse_duration,
)
from overlay.data_files import daemon_file

if TYPE_CHECKING:
    from overlay.core.memory import Memory

log = logging.getLogger("overlay.daemon")

ADAPTER_CHECK_S = 5.0  # how soon a promotion made by another process is served
TRAIN_CHECK_S = 300.0  # how often train.auto counts the newly approved pairs

# ---- daemon.json --------------------------------------------------------------------


def write_daemon_file(settings: Settings, url: str) -> Path:
    """Announce this process as the vault's daemon (written whole, then renamed)."""
    path = daemon_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    info = {
        "pid": os.getpid(),
        "url": url,
        "vault": str(settings.require_vault()),
        "started": time.time(),
    }
    partial = path.with_suffix(".json.tmp")
    partial.write_text(json.dumps(info), encoding="utf-8")
    partial.replace(path)
    return path


def remove_daemon_file(settings: Settings) -> None:
    """Remove daemon.json if it is this process's (a newer daemon's file is left alone)."""
    path = daemon_file(settings)
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if info.get("pid") == os.getpid():
        path.unlink(missing_ok=True)


# ---- the daemon ---------------------------------------------------------------------


class Daemon:
    """Wires memory, sync worker, watcher and HTTP server for one vault.

    `run()` blocks until SIGINT/SIGTERM (or `stop()` from another thread); the
    writer lock is held throughout, so `overlay index` elsewhere is refused
    with a message naming this process.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        watch: bool = True,
        on_listening: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.watch = watch
        self.on_listening = on_listening
        self.url: str | None = None
        self._signals = 0
        self._server: ListeningServer | None = None
        self._stop_requested = threading.Event()

    def run(self) -> None:
        from distill.promotion import RunCatalog
        from indexer.lock import WriterLock
        from overlay.core.memory import Memory
        from server.auth import check_bind

        check_bind(self.settings)
        ensure_port_free(self.settings.server.host, self.settings.server.port)
        clear_stale_daemon_file(daemon_file(self.settings))
        schedule_jobs(self.settings, None)  # a bad schedule stops the start, before any work
        previous = self._catch_signals()
        try:
            with WriterLock(self.settings.resolved_data_dir(), "overlay serve"):
                log.info("opening the index of %s", self.settings.require_vault())
                memory = Memory(self.settings, adapter_catalog=RunCatalog(self.settings))
                try:
                    self._serve(memory)
                finally:
                    memory.close()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def stop(self) -> None:
        """Ask a running daemon to shut down, as SIGTERM would (from any thread)."""
        self._stop_requested.set()
        if self._server is not None:
            self._server.should_exit = True

    def _serve(self, memory: Memory) -> None:
        from distill.forgetting import ForgettingSync
        from server.app import create_app

        worker = SyncWorker(
            ForgettingSync(
                self.settings, memory, memory.store.purge_deleted, memory.refresh_adapters
            ),
            indexed=memory.store.last_sync() is not None,
        )
        worker.start()
        worker.request(None)  # the first full sync; the server answers meanwhile
        watcher = self._start_watcher(worker) if self.watch else None
        scheduler = Scheduler(
            schedule_jobs(self.settings, memory),
            state_file=self.settings.resolved_data_dir() / "schedule.json",
        )
        schedule = ScheduleWorker(scheduler, interval_s=ADAPTER_CHECK_S)
        schedule.start()
        try:
            app = create_app(self.settings, memory=memory, sync=worker)
            self._server = ListeningServer(self._uvicorn_config(app), self._listening)
            if not (self._signals or self._stop_requested.is_set()):
                self._server.run()
        finally:
            remove_daemon_file(self.settings)
            if watcher is not None:
                watcher.stop()
            if not schedule.stop(timeout=0.5):
                log.info("a scheduled job is still running; it stops with the process")
            memory.stop_sync()  # the sync ends before its next file or batch
            self._finish_sync(worker)
            log.info("stopped")

    def _finish_sync(self, worker: SyncWorker) -> None:
        if worker.state != "idle":
            log.info("waiting for the sync in progress to finish (Ctrl-C again: stop now)")
        signals = self._signals
        while not worker.stop(timeout=0.5):
            if self._signals > max(signals, 1):
                log.warning("stopping mid-sync; the store is consistent and the next start resumes")
                return

    def _start_watcher(self, worker: SyncWorker) -> Any:
        from indexer.watcher import Watcher

        def changed(paths: set[str]) -> None:
            shown = ", ".join(sorted(paths)[:5]) + (" …" if len(paths) > 5 else "")
            log.info("changed: %s", shown)
            worker.request(paths)

        watcher = Watcher(
            self.settings.require_vault(),
            changed,
            debounce_s=self.settings.index.debounce_ms / 1000,
        )
        watcher.start()
        log.info("watching %s for changes", self.settings.require_vault())
        return watcher

    def _uvicorn_config(self, app: Any) -> uvicorn.Config:
        server = self.settings.server
        return uvicorn.Config(
            app,
            host=server.host,
            port=server.port,
            log_level="info",
            log_config=None,  # uvicorn logs through the root logger, like the rest of Overlay
            timeout_graceful_shutdown=5,
        )

    def _listening(self, url: str) -> None:
        self.url = url
        write_daemon_file(self.settings, url)
        log.info("serving %s at %s", self.settings.require_vault(), url)
        if self.on_listening is not None:
            self.on_listening(url)

    def _catch_signals(self) -> dict[int, Any]:
        """Outside uvicorn's own handling, a signal asks to stop; a second one stops now."""
        if threading.current_thread() is not threading.main_thread():
            return {}
        sigs = (signal.SIGINT, signal.SIGTERM)
        return {sig: signal.signal(sig, self._on_signal) for sig in sigs}

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        self._signals += 1
        log.info("%s: shutting down", signal.Signals(sig).name)


def schedule_jobs(settings: Settings, memory: Memory | None) -> list[Every | When]:
    """The daemon's periodic work; `memory` None only checks the settings (ConfigError)."""
    period = (
        parse_duration(settings.distill.schedule, minimum=MIN_PERIOD_S)
        if settings.distill.schedule
        else None
    )
    if memory is None:
        return []
    jobs: list[Every | When] = [Every("adapters", ADAPTER_CHECK_S, memory.refresh_adapters)]
    if period is not None:
        jobs.append(Every("distill", period, lambda: scheduled_distill(settings, memory)))
    if settings.train.auto:
        jobs.append(
            When(
                "train",
                lambda: enough_new_pairs(settings),
                lambda: scheduled_training(settings, memory),
                check_s=TRAIN_CHECK_S,
            )
        )
    return jobs


def scheduled_distill(settings: Settings, memory: Memory) -> None:
    """Distill the notes changed since the last run, with the model already loaded."""
    from distill.pipeline import distill
    from distill.selection import Selection

    report = distill(settings, Selection(), sources=settings.distill.sources, llm=memory.llm)
    log.info("scheduled distillation: %s", report.summary().splitlines()[1])


def enough_new_pairs(settings: Settings) -> bool:
    from distill.auto_training import new_trainable_pairs
    from distill.forgetting import retrain_queued

    return (
        retrain_queued(settings) or new_trainable_pairs(settings) >= settings.train.auto_min_pairs
    )


def scheduled_training(settings: Settings, memory: Memory) -> None:
    """Train, evaluate, and promote through the gates; serve the result at once."""
    from distill.auto_training import train_and_promote
    from distill.forgetting import retrain_started
    from overlay.core.llms.transformers_backend import TransformersLLM

    retrain_started(settings)  # a retrain owed since a forgetting is this one
    shared = memory.llm if isinstance(memory.llm, TransformersLLM) else None
    train_and_promote(settings, llm=shared, retriever=memory.retriever)
    memory.refresh_adapters()


class ListeningServer(uvicorn.Server):
    """uvicorn that says where it listens once it does (the real port, when 0 was asked)."""

    def __init__(self, config: uvicorn.Config, on_listening: Callable[[str], None]) -> None:
        super().__init__(config)
        self._on_listening = on_listening

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._on_listening(self.url())

    def url(self) -> str:
        host, port = self.config.host, self.config.port
        for listener in self.servers:
            for sock in listener.sockets:
                port = sock.getsockname()[1]
        shown = "127.0.0.1" if host in ("0.0.0.0", "localhost") else host
        return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"
