"""`overlay index`, `overlay status`, `overlay watch`: build the index and keep it current."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from overlay.cli.app import JsonOption, Process, app, console, print_json, state
from overlay.config import Settings

if TYPE_CHECKING:
    from indexer.store import Store

VaultArgument = Annotated[
    Path | None,
    typer.Argument(help="The vault; defaults to --vault, the settings, or the current folder."),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


@contextmanager
def open_indexer(
    settings: Settings, command: str, *, progress: bool, rebuild: bool = False
) -> Iterator[Any]:
    """The one writer: take the lock first (fail fast), then open the store and the model.

    `rebuild` first removes the index (not the vault, pairs, runs or log), so the sync
    rebuilds it from the vault: the way back from a damaged index."""
    from indexer.embedders import embedder_from_settings
    from indexer.integrity import rebuild_index_files
    from indexer.lock import WriterLock
    from indexer.store import CHROMA_DIR, DB_FILE, Store
    from indexer.sync import Indexer
    from overlay.cli.progress import stderr_bars

    vault = settings.require_vault()
    with WriterLock(settings.resolved_data_dir(), f"{command} {vault}"):
        if rebuild:
            removed = rebuild_index_files(settings.resolved_data_dir(), DB_FILE, CHROMA_DIR)
            _notice(f"rebuilding the index from the vault (removed {len(removed)} index files)")
        store = Store.from_settings(settings)
        try:
            embedder = embedder_from_settings(settings.index)
            with stderr_bars(enabled=progress, transient=False) as tell:
                yield Indexer(settings, store, embedder, progress=tell, on_message=_notice)
        finally:
            store.close()


_stderr = Console(stderr=True)


def forget_dropped(settings: Settings, report: Any, store: Store) -> None:
    """Forget everywhere what the sync dropped (`distill.forgetting`), and say so."""
    from distill.forgetting import forget_after_sync

    for item in forget_after_sync(settings, report, store.purge_deleted):
        out = (
            f"; {item.taken_out_of_service} taken out of service"
            if item.taken_out_of_service
            else ""
        )
        _notice(
            f"forgot a note ({item.reason}): {item.pairs} pairs, {item.log_entries} log "
            f"entries, {len(item.tainted_runs)} runs tainted{out}"
        )


def _notice(message: str) -> None:
    """Say it on stderr, so that `--json` output stays parseable."""
    _stderr.print(f"[yellow]{message}[/yellow]", highlight=False)


@app.command()
def index(
    ctx: typer.Context,
    vault: VaultArgument = None,
    quiet: QuietOption = False,
    json_output: JsonOption = False,
    rebuild: Annotated[
        bool,
        typer.Option(
            "--rebuild", help="Remove the index and rebuild it from the vault (after damage)."
        ),
    ] = False,
) -> None:
    """Index the vault once: embed only what changed since the last run, then exit.

    Safe to interrupt: the next run resumes without duplicates. JSON: the sync report
    (`added`, `changed`, `moved`, `deleted`, `skipped` [path, reason], `unchanged`,
    `chunks_embedded`, `chunks_reused`, `embedder`, `seconds`, ...).
    """
    settings = state(ctx).settings(vault=vault)
    progress = not (quiet or json_output) and sys.stderr.isatty()
    with open_indexer(settings, "overlay index", progress=progress, rebuild=rebuild) as indexer:
        report = indexer.sync()
        forget_dropped(settings, report, indexer.store)
    if json_output:
        print_json(report.to_dict())
        return
    console.print(f"indexed {indexer.vault} with {report.embedder}", highlight=False)
    console.print(report.summary(), highlight=False)
    for path, reason in report.skipped[:20]:
        console.print(f"  skipped {path}: {reason}", highlight=False)
    if len(report.skipped) > 20:
        console.print(f"  … and {len(report.skipped) - 20} more skipped", highlight=False)


@app.command()
def status(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Show what the index holds: notes, chunks, links, last sync, embedder, size.

    Reads only; works while `overlay watch` or `overlay serve` is writing. JSON keys:
    `vault`, `data_dir`, `indexed` (false before the first run), `writer` ({pid,
    command} of the process writing now, or null) and the counts `notes`, `chunks`,
    `distinct_chunks`, `links`, `note_links`, `unresolved_links`, `tags`,
    `attachments`, `embedder`, `dimension`, `last_sync` (its `skipped_files`: [path,
    reason]), `size_bytes`, and `kinds` ({`md`, `canvas`, `pdf`}: notes, canvases and
    PDFs indexed).
    """
    from dataclasses import asdict

    from indexer.lock import read_holder
    from indexer.store import DB_FILE, Store

    settings = state(ctx).settings()
    data_dir = settings.resolved_data_dir()
    info: dict[str, Any] = {
        "vault": str(settings.vault.expanduser().resolve()) if settings.vault else None,
        "data_dir": str(data_dir),
        "indexed": (data_dir / DB_FILE).is_file(),
        "writer": read_holder(data_dir),
    }
    if info["indexed"]:
        with Store(data_dir, chroma_url=settings.store.url) as store:
            info.update(asdict(store.stats()))
            info["kinds"] = _kinds(store.manifest())
    if json_output:
        print_json(info)
    else:
        _print_status(info)


def _kinds(paths: Iterable[str]) -> dict[str, int]:
    """How many indexed files are notes, canvases and PDFs."""
    from vault_schema.files import FILE_KINDS, file_kind

    counts = Counter(file_kind(path) for path in paths)
    return {kind: counts.get(kind, 0) for kind in FILE_KINDS}


def _print_status(info: dict[str, Any]) -> None:
    console.print(f"vault:    {info['vault'] or '(none)'}", highlight=False)
    console.print(f"data dir: {info['data_dir']}", highlight=False)
    if info["writer"]:
        writer = info["writer"]
        console.print(f"writer:   pid {writer.get('pid')} ({writer.get('command')})")
    if not info["indexed"]:
        console.print("not indexed yet: run `overlay index`")
        return
    kinds = info["kinds"]
    console.print(
        f"notes: {kinds['md']}  canvases: {kinds['canvas']}  PDFs: {kinds['pdf']}  "
        f"chunks: {info['chunks']} ({info['distinct_chunks']} vectors)  "
        f"links: {info['links']} ({info['unresolved_links']} unresolved)  tags: {info['tags']}  "
        f"attachments: {info['attachments']}",
        highlight=False,
    )
    console.print(f"embedder: {info['embedder']} ({info['dimension']} dims)", highlight=False)
    console.print(f"size:     {info['size_bytes'] / 2**20:.1f} MiB", highlight=False)
    last = info["last_sync"]
    if last:
        when = datetime.fromtimestamp(last["finished"]).isoformat(sep=" ", timespec="seconds")
        console.print(
            f"last sync: {when}, {last['added']} added, {last['changed']} changed, "
            f"{last['moved']} moved, {last['deleted']} deleted, "
            f"{last['chunks_embedded']} chunks embedded",
            highlight=False,
        )
        for path, reason in last.get("skipped_files") or ():
            console.print(f"  skipped {path}: {reason}", highlight=False)


@app.command()
def watch(ctx: typer.Context, vault: VaultArgument = None, quiet: QuietOption = False) -> None:
    """Index the vault, then keep the index current as notes change, until Ctrl-C.

    A saved note is searchable about a second later. Stops cleanly on Ctrl-C or
    SIGTERM: the sync in progress stops at once (its batch in hand is dropped; the next
    run resumes) and the lock is released.
    """
    from indexer.stops import SyncStopped
    from indexer.watcher import Watcher

    settings = state(ctx).settings(vault=vault)
    stop = threading.Event()
    stoppers: list[Callable[[], None]] = [stop.set]
    previous = signal.signal(signal.SIGTERM, lambda sig, frame: _request_stop(stoppers))
    progress = not quiet and sys.stderr.isatty()
    try:
        with open_indexer(settings, "overlay watch", progress=progress) as indexer:
            stoppers.append(indexer.request_stop)

            def changed(paths: set[str]) -> None:
                report = indexer.sync(paths)
                forget_dropped(settings, report, indexer.store)
                if report.added or report.changed or report.moved or report.deleted:
                    console.print(
                        f"{time.strftime('%H:%M:%S')} {report.summary()}", highlight=False
                    )

            watcher = Watcher(
                indexer.vault,
                changed,
                debounce_s=settings.index.debounce_ms / 1000,
                on_error=_failed,
            )
            watcher.start()  # before the first sync, so nothing saved meanwhile is missed
            try:
                with contextlib.suppress(KeyboardInterrupt, SyncStopped):
                    first = indexer.sync()
                    forget_dropped(settings, first, indexer.store)
                    console.print(first.summary(), highlight=False)
                    console.print(f"watching {indexer.vault} (Ctrl-C to stop)", highlight=False)
                    while not stop.wait(0.5):  # a timed wait lets Ctrl-C through
                        continue
            finally:
                watcher.stop()
    finally:
        signal.signal(signal.SIGTERM, previous)
    console.print("stopped")
    Process.end_now()


def _request_stop(stoppers: list[Callable[[], None]]) -> None:
    for request in stoppers:
        request()


def _failed(error: BaseException) -> None:
    _stderr.print(f"[red]sync failed: {error}[/red]", highlight=False)
