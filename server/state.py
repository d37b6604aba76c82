"""What every route reaches through FastAPI's dependencies: the memory and the sync worker."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from indexer.sync_worker import SyncWorker
from overlay.config import Settings
from overlay.core.memory import Memory
from server.streams import OpenStreams


@dataclass
class ServerState:
    """One per app; built by `create_app`, kept in `app.state.overlay`."""

    settings: Settings
    memory: Memory
    sync: SyncWorker
    started: float = field(default_factory=time.time)
    streams: OpenStreams = field(default_factory=OpenStreams)


def get_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.overlay
    return state


def get_memory(request: Request) -> Memory:
    return get_state(request).memory


StateDep = Annotated[ServerState, Depends(get_state)]
MemoryDep = Annotated[Memory, Depends(get_memory)]
