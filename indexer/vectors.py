"""Vectors in Chroma: embedded (`PersistentClient` in the data dir) or a server (`HttpClient`).

One collection per embedder (the store names them), cosine space, no Chroma-side
embedding function: Overlay always brings its own vectors. Ids are chunk ids; each
vector carries metadata naming one note that holds it (`note`, `heading`, `ordinal`,
`folder`), for tools that read Chroma directly. SQLite, not this metadata, says which
notes hold a chunk, and holds the chunk's text: Chroma gets no documents, so the text of
a note lives in one place to forget it from (Chroma copied documents into its queue and
its full-text index, and handled them in memory it may later write into its HNSW files).
"""

from __future__ import annotations

import posixpath
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt

from indexer.integrity import REBUILD_HINT, hnsw_damage
from overlay.errors import StoreError
from overlay.sqlite import forget_clean, mark_clean, sqlite_damage

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

    from indexer.embedders import Embedder


class ChunkLike(Protocol):
    """What a vector needs to know about its chunk (a `Chunk` or a `StoredChunk`)."""

    @property
    def id(self) -> str: ...
    @property
    def note_path(self) -> str: ...
    @property
    def heading_path(self) -> tuple[str, ...]: ...
    @property
    def ordinal(self) -> int: ...


CHROMA_DB = "chroma.sqlite3"  # the file embedded Chroma keeps its data in


@dataclass(frozen=True, slots=True)
class DenseHit:
    """A chunk near a query vector; `distance` is cosine distance (0 = same direction)."""

    chunk_id: str
    distance: float


class VectorCollection:
    """The vectors of one embedder."""

    def __init__(self, collection: Collection, max_batch: int) -> None:
        self._collection = collection
        self._step = max(max_batch, 1)

    def count(self) -> int:
        return int(self._collection.count())

    def ids(self) -> set[str]:
        ids: set[str] = set()
        page = 10_000
        for offset in range(0, self._collection.count(), page):
            ids.update(self._collection.get(include=[], limit=page, offset=offset)["ids"])
        return ids

    def upsert(
        self, chunks: Sequence[ChunkLike], vectors: npt.NDArray[np.float32] | Sequence[Any]
    ) -> None:
        for start in range(0, len(chunks), self._step):
            part = chunks[start : start + self._step]
            self._collection.upsert(
                ids=[c.id for c in part],
                embeddings=np.asarray(vectors[start : start + self._step], dtype=np.float32),
                metadatas=[chunk_metadata(c) for c in part],
            )

    def retag(self, chunks: Sequence[ChunkLike]) -> None:
        """Rewrite the metadata only (a moved note's vectors name its new path)."""
        for start in range(0, len(chunks), self._step):
            part = chunks[start : start + self._step]
            self._collection.update(
                ids=[c.id for c in part], metadatas=[chunk_metadata(c) for c in part]
            )

    def delete(self, ids: Iterable[str]) -> None:
        ordered = sorted(ids)
        for start in range(0, len(ordered), self._step):
            self._collection.delete(ids=ordered[start : start + self._step])

    def vectors(self, ids: Iterable[str]) -> dict[str, npt.NDArray[np.float32]]:
        """The stored vectors of these chunk ids (those the collection holds)."""
        result = self._collection.get(ids=list(ids), include=["embeddings"])
        found = result["embeddings"] if result["embeddings"] is not None else []
        return {
            i: np.asarray(v, dtype=np.float32) for i, v in zip(result["ids"], found, strict=True)
        }

    def metadata(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        result = self._collection.get(ids=list(ids), include=["metadatas"])
        metadatas = result["metadatas"] or []
        return {i: dict(m or {}) for i, m in zip(result["ids"], metadatas, strict=True)}

    def nearest(self, vector: npt.NDArray[np.float32], k: int) -> list[DenseHit]:
        return self.nearest_each([vector], k)[0]

    def nearest_each(
        self, vectors: Sequence[npt.NDArray[np.float32]], k: int
    ) -> list[list[DenseHit]]:
        """The k nearest chunk ids to each of `vectors`, nearest first: one query for all."""
        count = self._collection.count()
        if count == 0 or k <= 0 or not vectors:
            return [[] for _ in vectors]
        result = self._collection.query(
            query_embeddings=[np.asarray(v, dtype=np.float32).tolist() for v in vectors],
            n_results=min(k, count),
            include=["distances"],
        )
        distances = result["distances"] or [[] for _ in vectors]
        return [
            [DenseHit(i, float(d)) for i, d in zip(ids, ds, strict=True)]
            for ids, ds in zip(result["ids"], distances, strict=True)
        ]


class VectorReads(ABC):
    """The vector reads of `Store` (indexer/store.py), on its current collection."""

    @property
    @abstractmethod
    def embedder_name(self) -> str | None:
        """Store's: the embedder the index is bound to."""

    @abstractmethod
    def _vectors(self) -> VectorCollection:
        """Store's: the current embedder's collection."""

    def stored_vectors(self, ids: Iterable[str]) -> dict[str, npt.NDArray[np.float32]]:
        """The vectors Chroma holds for these chunk ids, as it reads them back."""
        return self._vectors().vectors(ids)

    def delete_vectors(self, ids: Iterable[str]) -> None:
        self._vectors().delete(ids)

    def vector_metadata(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Chroma's metadata of these chunk ids (note, heading, ordinal, folder)."""
        return self._vectors().metadata(ids)

    def nearest(self, vector: npt.NDArray[np.float32], k: int) -> list[DenseHit]:
        """The k chunk ids nearest to `vector`, nearest first."""
        return self._vectors().nearest(vector, k)

    def neighbours_of_chunks(self, ids: Sequence[str], k: int) -> list[list[DenseHit]]:
        """The k chunks nearest to each of these chunks by their stored vectors (no
        embedding), in one query; a chunk without a vector has none."""
        held = self._vectors().vectors(ids)
        found = iter(self._vectors().nearest_each([held[i] for i in ids if i in held], k))
        return [next(found) if i in held else [] for i in ids]

    def dense_search(self, query: str, embedder: Embedder, k: int) -> list[DenseHit]:
        """Embed `query` with the index's own embedder and return the k nearest chunks."""
        if embedder.name != self.embedder_name:
            raise StoreError(
                f"the index holds vectors of {self.embedder_name or 'no embedder'}, not "
                f"{embedder.name}: run `overlay index` to re-embed"
            )
        return self.nearest(embedder.embed_query(query), k)


class ChromaVectors:
    """The Chroma client of one store, reached on first use."""

    def __init__(self, path: Path, url: str | None = None) -> None:
        self.path, self.url = path, url
        self._client: ClientAPI | None = None
        self._collections: dict[str, VectorCollection] = {}

    def collection(self, name: str) -> VectorCollection:
        if name not in self._collections:
            client = self._chroma()
            collection = client.get_or_create_collection(
                name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
            )
            self._collections[name] = VectorCollection(collection, client.get_max_batch_size())
        return self._collections[name]

    def drop(self, name: str) -> None:
        """Delete a collection; one that is gone already is fine."""
        self._collections.pop(name, None)
        with suppress(Exception):  # chromadb raises NotFoundError or ValueError by version
            self._chroma().delete_collection(name)

    def close(self) -> None:
        """Release the client: Chroma shares one system per path in a process, and the
        last close stops it, so a folder removed by a rebuild is not written through a
        stale handle."""
        self._collections.clear()
        client, self._client = self._client, None
        close = getattr(client, "close", None)  # chromadb >= 1.1 counts its clients
        if close is not None:
            close()
        if client is not None and self.url is None:
            with suppress(OSError):
                mark_clean(self.path / CHROMA_DB)

    def _chroma(self) -> ClientAPI:
        if self._client is None:
            if self.url is None:  # Chroma's own SQLite file, checked like ours
                if (damage := sqlite_damage(self.path / CHROMA_DB)) is not None:
                    raise StoreError(f"the vector store {self.path}: {damage}; {REBUILD_HINT}")
                if (damage := hnsw_damage(self.path)) is not None:  # headers only: cheap
                    raise StoreError(f"the vector store {self.path}: {damage}")
                forget_clean(self.path / CHROMA_DB)
            self._client = chroma_client(self.path, self.url)
        return self._client


def chunk_metadata(chunk: ChunkLike) -> dict[str, str | int]:
    return {
        "note": chunk.note_path,
        "heading": " > ".join(chunk.heading_path),
        "ordinal": chunk.ordinal,
        "folder": posixpath.dirname(chunk.note_path),
    }


def chroma_client(path: Path, url: str | None) -> ClientAPI:
    """An embedded client persisting in `path`, or a client of the server at `url`."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if url is None:
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    parts = urlsplit(url if "//" in url else f"http://{url}")
    try:
        client = chromadb.HttpClient(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (443 if parts.scheme == "https" else 8000),
            ssl=parts.scheme == "https",
            settings=chroma_settings,
        )
        client.heartbeat()
    except Exception as error:  # connection refused, DNS, TLS: all mean "not reachable"
        raise StoreError(f"cannot reach the Chroma server at {url}: {error}") from error
    return client
