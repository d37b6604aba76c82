"""What retrieval holds in memory, one snapshot per index generation (DESIGN decision 12).

A `Snapshot` is the chunks by BM25 row, the BM25 index, the notes' names and the link
graph (links and unlinked mentions), as of one generation of the store
(`indexer.generations`). Snapshots never change: a sync of a few notes makes the next
one from the last by replacing those notes' chunks, names and edges (`Snapshot.changed`,
work in proportion to the notes changed); anything larger is built again from the store,
in a background thread when the index is large, while searches go on with the last
snapshot. A sync that changes nothing does not advance the generation, so the snapshot
stays.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from indexer.records import StoredChunk
from indexer.store import Store
from overlay.core.graph import Edge, EdgeWeights, LinkGraph
from overlay.core.lexical import LexicalIndex
from overlay.core.names import NoteNames

INCREMENTAL_NOTES = 200  # a sync of more notes builds the snapshot again
REBUILD_IN_BACKGROUND = 5_000  # chunks: a smaller index is rebuilt while the search waits


@dataclass(frozen=True)
class Snapshot:
    generation: int
    chunks: list[StoredChunk]  # by BM25 row; a removed note's rows stay, scored 0
    rows_of_note: dict[str, tuple[int, ...]]
    lexical: LexicalIndex
    names: NoteNames
    graph: LinkGraph
    chunks_read: int  # chunks read from the store to make this snapshot from the last

    def best_chunk_of(self, note: str, query: str) -> tuple[StoredChunk, float] | None:
        """The chunk of `note` that matches `query` best (its first when none does)."""
        rows = self.rows_of_note.get(note)
        if not rows:
            return None
        scores = self.lexical.scores(query)
        best = max(rows, key=lambda row: scores[row])
        return self.chunks[best], float(scores[best])

    def search(self, query: str, k: int) -> list[tuple[StoredChunk, float]]:
        """The `k` best chunks for `query` by BM25, best first."""
        return [(self.chunks[int(row)], s) for row, s in self.lexical.search(query, k)]

    def changed(
        self, store: Store, generation: int, notes: set[str], graph: GraphEdges
    ) -> Snapshot:
        """The snapshot of `generation`, which differs from this one in `notes` only."""
        fresh = store.chunks(note_paths=notes)
        removed = {
            row: self.chunks[row].embedding_text
            for note in notes
            for row in self.rows_of_note.get(note, ())
        }
        first = len(self.chunks)
        lexical = self.lexical.changed(
            removed, [(str(first + i), c.embedding_text) for i, c in enumerate(fresh)]
        )
        rows_of_note = dict(self.rows_of_note)
        for note in notes:
            rows_of_note.pop(note, None)
        rows_of_note.update(_rows_of_note(fresh, first))
        return Snapshot(
            generation,
            self.chunks + fresh,
            rows_of_note,
            lexical,
            self.names.changed(notes, store.names(notes)),
            self.graph.changed(notes, graph.edges(store, notes)),
            len(fresh),
        )


@dataclass(frozen=True)
class GraphEdges:
    """Which edges the walk takes, and how much each kind weighs."""

    weights: EdgeWeights
    mentions: bool = True

    def edges(self, store: Store, touching: Iterable[str] | None = None) -> list[Edge]:
        found = [Edge(*edge) for edge in store.edges(touching=touching)]
        if self.mentions and self.weights.mention > 0:
            found += [
                Edge(m.source, m.target, "mention") for m in store.mentions(touching=touching)
            ]
        return found


def build(store: Store, graph: GraphEdges) -> Snapshot:
    """A snapshot of the store as it is, read whole."""
    generation = store.generation()  # first: a commit landing while reading comes again
    chunks = store.chunks()
    names = NoteNames(store.names())
    return Snapshot(
        generation,
        chunks,
        _rows_of_note(chunks, 0),
        LexicalIndex((str(row), c.embedding_text) for row, c in enumerate(chunks)),
        names,
        LinkGraph(names.titles, graph.edges(store), graph.weights),
        len(chunks),
    )


def _rows_of_note(chunks: Iterable[StoredChunk], first: int) -> dict[str, tuple[int, ...]]:
    rows: dict[str, list[int]] = {}
    for row, chunk in enumerate(chunks, start=first):
        rows.setdefault(chunk.note_path, []).append(row)
    return {note: tuple(held) for note, held in rows.items()}


class RetrievalState:
    """The snapshot of the store's current generation, shared by the retrievers of one
    pipeline; `current` never waits for a rebuild when it has a snapshot to give."""

    def __init__(self, store: Store, graph: GraphEdges) -> None:
        self._store, self._graph = store, graph
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()
        self._rebuilding: threading.Thread | None = None
        self.builds = 0  # snapshots read whole from the store
        self.updates = 0  # snapshots made from the last for the notes a sync changed

    def current(self) -> Snapshot:
        held = self._snapshot
        if held is None:
            with self._lock:
                if self._snapshot is None:
                    self._snapshot = self._build()
                return self._snapshot
        if self._rebuilding is not None or self._store.generation() == held.generation:
            return held
        if not self._lock.acquire(blocking=False):
            return held  # another search is bringing it up to date
        try:
            return self._advance(held)
        finally:
            self._lock.release()

    def _advance(self, held: Snapshot) -> Snapshot:
        generation, notes = self._store.changes_since(held.generation)
        if notes is not None and len(notes) <= INCREMENTAL_NOTES and not _worn(held.lexical):
            self._snapshot = held.changed(self._store, generation, notes, self._graph)
            self.updates += 1
        elif len(held.chunks) < REBUILD_IN_BACKGROUND:
            self._snapshot = self._build()
        else:
            self._rebuilding = threading.Thread(
                target=self._rebuild, name="retrieval-snapshot", daemon=True
            )
            self._rebuilding.start()
        return self._snapshot or held

    def _build(self) -> Snapshot:
        self.builds += 1
        return build(self._store, self._graph)

    def _rebuild(self) -> None:
        try:
            self._snapshot = self._build()
        finally:
            self._rebuilding = None

    def wait(self) -> Snapshot:
        """The snapshot once a rebuild under way is done (for benchmarks and tests)."""
        thread = self._rebuilding
        if thread is not None:
            thread.join()
        return self.current()


def _worn(lexical: LexicalIndex) -> bool:
    """Whether so many rows were added one by one that a fresh index is due."""
    return lexical.added_rows > max(2_000, lexical.rows // 10)
