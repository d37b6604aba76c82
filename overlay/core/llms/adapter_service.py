"""What answers chat: the promoted adapter by default, or an adapter a request names.

Which adapters exist and which one is in service is not Core's to know: an
`AdapterCatalog` tells it (distill's run registry, wired by the face:
`distill.promotion.RunCatalog`). Without one, chat answers with the base model,
or with `llm.adapter` when it names a folder or a served adapter.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from overlay.config import Settings
from overlay.core.llms.adapter_hosts import AdapterHost, ServedAdapter
from overlay.errors import ConfigError

if TYPE_CHECKING:
    from llama_index.core.llms import LLM

log = logging.getLogger("overlay.adapters")


@dataclass(frozen=True)
class CatalogedAdapter:
    """An adapter chat may be asked for, with the run that made it."""

    adapter: ServedAdapter
    run: str
    status: str
    in_service: bool  # the promoted one
    servable: bool = True  # False: tainted by a forgotten note, listed but never served


class AdapterCatalog(Protocol):
    """The adapters there are; read on each call, so a promotion made elsewhere shows."""

    def adapters(self) -> list[CatalogedAdapter]: ...


class NoAdapters:
    """A catalog with none: chat answers with the base model (or `llm.adapter`)."""

    def adapters(self) -> list[CatalogedAdapter]:
        return []


@dataclass(frozen=True)
class ModelEntry:
    """A model chat can name: the base, or an adapter (with the run it came from)."""

    id: str
    parent: str | None = None  # the base model, for an adapter
    run: str | None = None
    status: str | None = None
    promoted: bool = False  # the adapter answering by default


@dataclass
class AdapterService:
    """What answers chat: the promoted adapter by default (or `llm.adapter` when set),
    or an adapter a request names; `refresh` applies a promotion made anywhere.

    The catalog is read when asked (an `overlay adapters promote` in another process
    is seen at the next refresh); the backend loads an adapter only when it answers.
    """

    settings: Settings
    host: AdapterHost
    catalog: AdapterCatalog = field(default_factory=NoAdapters)
    _default: ServedAdapter | None = None
    _refreshed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _changing: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_name(self) -> str:
        return self.settings.llm.model

    def models(self) -> list[ModelEntry]:
        """The base model first, then every adapter a request may name."""
        entries = [ModelEntry(self.base_name)]
        pinned = self.pinned()
        wanted = pinned.name if pinned else None
        for found in self.catalog.adapters():
            name = found.adapter.name
            promoted = name == wanted if pinned else found.in_service
            entries.append(ModelEntry(name, self.base_name, found.run, found.status, promoted))
        if pinned is not None and all(e.id != pinned.name for e in entries):
            entries.append(ModelEntry(pinned.name, self.base_name, promoted=True))
        return entries

    def llm(self, name: str | None = None) -> LLM:
        """The LLM for a request: `name` an adapter's name or the base model's (which
        answers without an adapter even when one is promoted), else the default one."""
        if name == self.base_name:
            return self.host.llm(None)
        if name is not None:
            return self.host.llm(self._named(name))
        if not self._refreshed:
            self.refresh()
        with self._lock:
            default = self._default
        return self.host.llm(default) if default is not None else self.host.llm(None)

    @property
    def default_name(self) -> str:
        """The name of what answers by default."""
        return self._default.name if self._default is not None else self.base_name

    def refresh(self) -> str | None:
        """Serve the adapter that should answer by default now; load it first, switch,
        then unload the one it replaces. Returns a message when something changed."""
        with self._changing:
            wanted = self.pinned() or self._promoted()
            self._refreshed = True
            if wanted == self._default:
                if wanted is not None:
                    self.host.llm(wanted)  # reloads it if the server lost it (a restart)
                return None
            self.host.llm(wanted)  # loaded before anyone is switched to it
            with self._lock:
                old, self._default = self._default, wanted
            if old is not None:
                self.host.unload(old)
        message = f"answering with {self.default_name} (was {old.name if old else self.base_name})"
        log.info(message)
        return message

    def pinned(self) -> ServedAdapter | None:
        """`llm.adapter`: an adapter's served name, a run's adapter name or a folder."""
        setting = self.settings.llm.adapter
        if not setting:
            return None
        folder = Path(setting).expanduser().resolve()
        for found in self._servable():
            served = found.adapter
            if setting == served.name or (served.folder and served.folder.resolve() == folder):
                return served
        if folder.is_dir():
            return ServedAdapter(folder.name, folder)
        return ServedAdapter(setting, None)

    def _named(self, name: str) -> ServedAdapter:
        pinned = self.pinned()
        if pinned is not None and pinned.name == name:
            return pinned
        for found in self._servable():
            if found.adapter.name == name:
                return found.adapter
        raise ConfigError(f"no adapter named {name!r}; GET /v1/models lists them")

    def _promoted(self) -> ServedAdapter | None:
        return next((f.adapter for f in self._servable() if f.in_service), None)

    def _servable(self) -> list[CatalogedAdapter]:
        return [found for found in self.catalog.adapters() if found.servable]
