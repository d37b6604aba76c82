"""How a CLI command reaches the vault: through the running daemon when there is one
(DESIGN decision 8: one process owns the store), else by opening the index itself.

Both paths give the same plain dicts (the `to_dict()` forms), so each command renders
one shape whichever way the answer came.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer

from distill.promotion import RunCatalog
from indexer.integrity import vector_gap
from overlay.cli.app import state
from overlay.cli.client import DaemonClient
from overlay.core.chat import ChatTurn
from overlay.core.memory import Memory
from overlay.errors import StoreError

Event = tuple[
    str, Any
]  # ('sources', {"citations"}), ('token'|'reasoning', {"text"}), ('done', answer)


def daemon(ctx: typer.Context) -> DaemonClient | None:
    return DaemonClient.discover(state(ctx).settings())


def local_memory(ctx: typer.Context, *, needs_index: bool = True) -> Memory:
    """The index of the configured vault; an empty one is an error with the fix in it
    (unless the caller asks the bare model)."""
    settings = state(ctx).settings()
    memory = Memory(settings, adapter_catalog=RunCatalog(settings))
    if needs_index and memory.store.stats().notes == 0:
        raise StoreError("the index is empty: run `overlay index` first (or `overlay serve`)")
    return memory


def search_hits(ctx: typer.Context, query: str, top_k: int | None) -> list[dict[str, Any]]:
    if (client := daemon(ctx)) is not None:
        with client:
            hits: list[dict[str, Any]] = client.search(query, top_k)
            return hits
    memory = local_memory(ctx)
    if gap := vector_gap(memory.store):  # say so rather than answer from half the vault
        typer.echo(f"warning: degraded index: {gap}", err=True)
    return [hit.to_dict() for hit in memory.search(query, top_k)]


def answer_events(
    ctx: typer.Context,
    turns: list[ChatTurn],
    rag: bool,
    think: bool | None = None,
    adapter: str | None = None,
) -> Iterator[Event]:
    messages = [{"role": t.role, "content": t.content} for t in turns]
    if (client := daemon(ctx)) is not None:
        with client:
            yield from client.stream_answer(messages, rag=rag, think=think, adapter=adapter)
        return
    memory = local_memory(ctx, needs_index=rag)
    for event in memory.stream_answer(turns, rag=rag, think=think, adapter=adapter):
        if event.kind == "sources":
            yield "sources", {"citations": [c.to_dict() for c in event.data]}
        elif event.kind == "done":
            yield "done", event.data.to_dict()
        else:
            yield event.kind, {"text": event.data}
