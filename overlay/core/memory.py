"""`Memory`: everything a process needs to answer from one vault, built once from settings.

The CLI and the HTTP server both talk to a `Memory`; it owns the store, the
embedder, the retriever and the chat model, each made on first use so that
`overlay status` never loads a model. Chat answers with the adapter in service
(`overlay.core.llms.adapter_service`: the promoted one in the `adapter_catalog` the
caller hands in, applied live by `refresh_adapters`) unless a request names another one.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from llama_index.core.llms import LLM

from indexer.embedders import Embedder, embedder_from_settings
from indexer.records import StoredChunk
from indexer.store import Store
from indexer.sync import Indexer, SyncReport
from overlay.config import Settings
from overlay.core.answers import is_too_small
from overlay.core.chat import Answer, AnswerEvent, AnswerMode, Chat, ChatTurn
from overlay.core.conversations import ConversationLog, Recording
from overlay.core.llms import llm_from_settings
from overlay.core.llms.adapter_hosts import adapter_host
from overlay.core.llms.adapter_service import AdapterCatalog, AdapterService, ModelEntry, NoAdapters
from overlay.core.retrieval import SearchHit, VaultRetriever
from overlay.errors import NoteNotFound, PathOutsideVault
from overlay.progress import Progress
from vault_schema import SkippedFile, is_private, parse_note, read_note
from vault_schema.vault_paths import RefusedPath, vault_relative

TOO_SMALL_NOTE = (
    "The bundled model (SmolLM2-135M) is too small to answer in its own words, so this "
    "answer quotes your notes. `overlay doctor` finds a local OpenAI-compatible server "
    "(vLLM, Ollama, LM Studio, llama.cpp) and prints the settings to use it."
)


@dataclass(frozen=True, slots=True)
class RelatedNote:
    note_path: str
    title: str
    score: float
    reasons: tuple[str, ...]  # 'links to it', 'linked from it', 'mentions it', 'similar: …'

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reasons": list(self.reasons)}


@dataclass(frozen=True, slots=True)
class NoteSection:
    path: str
    heading: str | None
    text: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Memory:
    """One vault's index, retrieval and chat."""

    def __init__(
        self,
        settings: Settings,
        *,
        progress: Progress | None = None,
        embedder: Embedder | None = None,
        llm: LLM | None = None,
        adapter_catalog: AdapterCatalog | None = None,
    ) -> None:
        """`embedder` and `llm` replace the ones the settings name (a process that holds
        them already, such as a test session, shares them). `adapter_catalog` says which
        adapters there are (none: the base model answers)."""
        self.settings = settings
        self.adapter_catalog = adapter_catalog or NoAdapters()
        self.vault: Path = settings.require_vault()
        self.store = Store.from_settings(settings)
        self._progress = progress
        self._sync_stopped = threading.Event()
        if embedder is not None:
            self.embedder = embedder
        if llm is not None:
            self.llm = llm

    @cached_property
    def embedder(self) -> Embedder:
        return embedder_from_settings(self.settings.index)

    @cached_property
    def indexer(self) -> Indexer:
        indexer = Indexer(self.settings, self.store, self.embedder, progress=self._progress)
        if self._sync_stopped.is_set():
            indexer.request_stop()
        return indexer

    def stop_sync(self) -> None:
        """End a running sync at once (its batch in hand dropped), and refuse new ones."""
        self._sync_stopped.set()
        if "indexer" in self.__dict__:
            self.indexer.request_stop()

    @cached_property
    def retriever(self) -> VaultRetriever:
        return VaultRetriever(self.store, self.embedder, self.settings.retrieval)

    @cached_property
    def llm(self) -> LLM:
        """The base model (no adapter)."""
        return llm_from_settings(self.settings.llm.model_copy(update={"adapter": None}))

    @cached_property
    def adapters(self) -> AdapterService:
        host = adapter_host(self.settings.llm, self.llm)
        return AdapterService(self.settings, host, self.adapter_catalog)

    @property
    def chat(self) -> Chat:
        """Chat with the model in service (the promoted adapter, else the base)."""
        return self.chat_with(None)

    def chat_with(self, adapter: str | None) -> Chat:
        """Chat with the adapter named `adapter` (None or the base's name: the default)."""
        return Chat(self.retriever, self.adapters.llm(adapter), mode=self.answer_mode)

    @property
    def answer_mode(self) -> AnswerMode:
        """How chat answers: `llm.answers`, with 'auto' resolved for the model in use."""
        chosen = self.settings.llm.answers
        if chosen != "auto":
            return chosen
        return "extractive" if is_too_small(self.settings.llm.model) else "checked"

    def sync(self, paths: Iterable[str] | None = None) -> SyncReport:
        return self.indexer.sync(paths)

    def status(self) -> dict[str, Any]:
        return asdict(self.store.stats())

    def search(self, query: str, top_k: int | None = None) -> list[SearchHit]:
        return self.retriever.search(query, top_k)

    def related(self, note_path: str, top_k: int = 10) -> list[RelatedNote]:
        """Notes close to `note_path` by meaning (its own chunks as queries) and by links."""
        self._require_indexed(note_path)
        reasons: dict[str, list[str]] = {}
        scores: dict[str, float] = {}
        for link in self.store.outlinks(note_path):
            if link.resolved and link.resolved != note_path:
                _add(reasons, scores, link.resolved, "links to it", 1.0)
        for link in self.store.backlinks(note_path):
            if link.source != note_path:
                _add(reasons, scores, link.source, "linked from it", 0.8)
        for mention in self.store.mentioned_by(note_path):
            _add(reasons, scores, mention.source, "mentions it", 0.6)
        own = [chunk.id for chunk in self.store.chunks(note_paths=[note_path])[:4]]
        nearest = self.store.neighbours_of_chunks(own, top_k + 8)  # stored vectors, one query
        holders: dict[str, list[StoredChunk]] = defaultdict(list)
        for other in self.store.chunks(ids={hit.chunk_id for hits in nearest for hit in hits}):
            holders[other.id].append(other)
        for hit in (hit for hits in nearest for hit in hits):
            for other in holders[hit.chunk_id]:
                if other.note_path != note_path:
                    where = " › ".join(other.heading_path) or "the note"
                    _add(reasons, scores, other.note_path, f"similar: {where}", 1 - hit.distance)
        ranked = sorted(scores, key=lambda p: -scores[p])[:top_k]
        titles = {name.path: name.title for name in self.store.names(ranked)}
        # On search's scale (0 to 1, the best 1), so the plugin shows one kind of number.
        top = scores[ranked[0]] if ranked else 1.0
        return [
            RelatedNote(p, titles.get(p, p), scores[p] / top, tuple(reasons[p])) for p in ranked
        ]

    def answer(
        self,
        turns: list[ChatTurn],
        *,
        rag: bool = True,
        adapter: str | None = None,
        interface: str = "cli",
        think: bool | None = None,
        indexing: bool = False,
        sampling: dict[str, Any] | None = None,
    ) -> Answer:
        events = list(
            self.stream_answer(
                turns,
                rag=rag,
                adapter=adapter,
                interface=interface,
                think=think,
                indexing=indexing,
                sampling=sampling,
            )
        )
        answer: Answer = events[-1].data
        return answer

    def stream_answer(
        self,
        turns: list[ChatTurn],
        *,
        rag: bool = True,
        adapter: str | None = None,
        interface: str = "cli",
        think: bool | None = None,
        indexing: bool = False,
        sampling: dict[str, Any] | None = None,
    ) -> Iterator[AnswerEvent]:
        """The answer's events; the finished answer is logged (unless `log.enabled` is
        off) with `interface` ('cli', 'plugin', 'openai'), and carries its `log_id`.
        `think` lets the model reason first (None: as `llm.thinking` says); `indexing` says the
        first index is still being built (the answer warns of it); `sampling`: generation
        keywords of one request (see `Chat.stream`)."""
        chat = self.chat_with(adapter)
        thinks = self.settings.llm.thinking if think is None else think
        events = self._noted(
            chat.stream(turns, rag=rag, think=thinks, indexing=indexing, sampling=sampling)
        )
        if not self.settings.log.enabled:
            return events
        served = adapter or self.adapters.default_name
        recording = Recording(
            self.conversations,
            self.vault,
            self.settings.parse.private_tags,
            interface,
            turns[-1].content,
            "" if served == self.adapters.base_name else served,
            rag,
            chat.llm,
            self.store,
        )
        return recording.stream(events)

    def _noted(self, events: Iterator[AnswerEvent]) -> Iterator[AnswerEvent]:
        """`events`, the finished answer telling a person when the bundled tiny model is
        why it was quoted rather than written, and how to connect a real one."""
        too_small = is_too_small(self.settings.llm.model)
        for event in events:
            answer = event.data
            if event.kind == "done" and answer.answer_kind == "extractive" and too_small:
                event = AnswerEvent("done", replace(answer, note=answer.note or TOO_SMALL_NOTE))
            yield event

    @cached_property
    def conversations(self) -> ConversationLog:
        """The conversation log (`overlay log`)."""
        return ConversationLog.from_settings(self.settings)

    def read_note(self, path: str, heading: str | None = None) -> NoteSection:
        """The text of an indexed note, or of one of its sections.

        Only notes in the index are served: never a file outside the vault, a private or
        excluded note, or a file that is not a note (settings, attachments).
        """
        relative = self.vault_path(path)
        if self.store.note(relative) is None:
            raise NoteNotFound(f"no indexed note at {path}")
        try:
            note = read_note(self.vault, relative, max_bytes=self.settings.parse.max_file_bytes)
        except SkippedFile as skipped:
            raise NoteNotFound(f"{path} cannot be read: {skipped.warning.message}") from skipped
        if is_private(note, self.settings.parse.private_tags):  # became private since the sync
            raise NoteNotFound(f"no indexed note at {path}")
        if heading is None:
            return NoteSection(relative, None, note.body)
        return NoteSection(relative, heading, _section(note.body, heading, relative))

    def vault_path(self, path: str) -> str:
        """`path` as a vault-relative POSIX path, refusing anything that leaves the vault."""
        try:
            return vault_relative(self.vault, path)
        except RefusedPath as refused:
            if refused.code == "vanished":
                raise NoteNotFound(f"no indexed note at {path}") from refused
            raise PathOutsideVault(f"{path}: {refused.reason}") from refused

    def embed(self, texts: list[str]) -> list[list[float]]:
        return [vector.tolist() for vector in self.embedder.embed_documents(texts)]

    def models(self) -> list[str]:
        """The names chat answers to: the base model first, then the adapters."""
        return [entry.id for entry in self.model_entries()]

    def model_entries(self) -> list[ModelEntry]:
        return self.adapters.models()

    def refresh_adapters(self) -> str | None:
        """Serve a promotion (or rollback) made since the last call; a message if one was."""
        return self.adapters.refresh()

    def close(self) -> None:
        self.store.close()
        if "conversations" in self.__dict__:
            self.conversations.close()

    def _require_indexed(self, note_path: str) -> None:
        if self.store.note(note_path) is None:
            raise NoteNotFound(f"{note_path} is not in the index")


def _add(
    reasons: dict[str, list[str]], scores: dict[str, float], note: str, why: str, score: float
) -> None:
    if why not in reasons.setdefault(note, []):
        reasons[note].append(why)
    scores[note] = scores.get(note, 0.0) + score


def _section(body: str, heading: str, path: str) -> str:
    """The lines under `heading` down to the next heading of the same or a higher level."""
    note = parse_note(path, body)
    wanted = heading.strip().casefold()
    lines = body.splitlines()
    for i, found in enumerate(note.headings):
        if found.text.strip().casefold() != wanted:
            continue
        end = next(
            (h.line - 1 for h in note.headings[i + 1 :] if h.level <= found.level), len(lines)
        )
        return "\n".join(lines[found.line - 1 : end]).strip()
    raise NoteNotFound(f"{path} has no heading '{heading}'")
