"""Deleted text leaves Chroma's own files: its queue and the spare room of its HNSW files."""

from __future__ import annotations

from pathlib import Path

import chromadb
import numpy as np

from indexer.scrub import zero_spare_hnsw_room

PHRASE = b"LAT 318 on the shrouds"


def test_text_in_the_spare_room_of_the_hnsw_files_is_zeroed_and_search_still_works(
    tmp_path: Path,
) -> None:
    vectors = np.random.default_rng(7).random((12, 16), dtype=np.float32)
    client = chromadb.PersistentClient(str(tmp_path))
    collection = client.create_collection(
        "chunks", embedding_function=None, configuration={"hnsw": {"sync_threshold": 10}}
    )
    collection.add(ids=[f"c{i}" for i in range(12)], embeddings=vectors)
    client.close()
    (data,) = tmp_path.glob("*/data_level0.bin")
    room = data.stat().st_size
    # what hnswlib leaves there when the memory it got held freed text
    with data.open("r+b") as file:
        file.seek(room - 2 * len(PHRASE))
        file.write(PHRASE)

    assert zero_spare_hnsw_room(tmp_path) >= 1  # length.bin may hold leftovers of its own
    assert PHRASE not in data.read_bytes() and data.stat().st_size == room
    assert zero_spare_hnsw_room(tmp_path) == 0  # nothing left to zero

    reopened = chromadb.PersistentClient(str(tmp_path)).get_collection("chunks")
    found = reopened.query(query_embeddings=vectors[3:4], n_results=1)
    assert found["ids"] == [["c3"]] and reopened.count() == 12
