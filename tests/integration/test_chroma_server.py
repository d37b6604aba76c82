"""The same sync against a real Chroma server (`store.url`), started by the test."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from indexer.embedders import CountingEmbedder
from indexer.store import Store
from indexer.sync import Indexer
from overlay.errors import StoreError

pytestmark = pytest.mark.integration

CHROMA = Path(sys.executable).parent / "chroma"
NOTES = {
    "Home.md": "# Home\nSee [[Boat]].\n",
    "Boat.md": "# The boat\nA small sloop called Ласточка.\n\n## Berth\nPier 3, berth 14.\n",
    "Private.md": "---\noverlay: private\n---\nsecret\n",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not CHROMA.exists():
        pytest.skip("the chroma CLI is not installed next to this Python")
    port = free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    server = subprocess.Popen(
        [str(CHROMA), "run", "--path", str(path), "--port", str(port), "--host", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the Chroma server did not start")
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def open_indexer(settings: Any, embedder: CountingEmbedder) -> Indexer:
    return Indexer(settings, Store.from_settings(settings), embedder)


def test_sync_against_a_chroma_server(
    chroma_url: str, make_vault: Any, make_settings: Any, counting_embedder: CountingEmbedder
) -> None:
    vault = Path(make_vault(NOTES))
    settings = make_settings(vault, store__url=chroma_url)
    first = open_indexer(settings, counting_embedder).sync()
    assert first.added == ["Boat.md", "Home.md"] and first.chunks_embedded == 3
    assert not (settings.resolved_data_dir() / "chroma").exists()  # vectors live on the server

    counting_embedder.reset()
    indexer = open_indexer(settings, counting_embedder)  # a restart
    assert indexer.sync().chunks_embedded == 0
    os.rename(vault / "Boat.md", vault / "Ласточка.md")
    (vault / "Home.md").write_text("# Home\nSee [[Ласточка]].\n", encoding="utf-8")
    report = indexer.sync()
    assert report.moved == [("Boat.md", "Ласточка.md")] and counting_embedder.count == 1
    store = indexer.store
    assert store.vector_ids() == store.chunk_ids() and len(store.chunk_ids()) == 3
    assert [link.source for link in store.backlinks("Ласточка.md")] == ["Home.md"]
    hit = store.dense_search("which pier and berth number?", counting_embedder, k=1)[0]
    assert "berth 14" in store.chunks(ids=[hit.chunk_id])[0].text


def test_two_vaults_share_one_server_without_mixing(
    chroma_url: str, tmp_path: Path, make_settings: Any, counting_embedder: CountingEmbedder
) -> None:
    stores = []
    for name, text in (("one", "Apples grow on the dacha."), ("two", "Pears grow in Riga.")):
        vault = tmp_path / name
        vault.mkdir()
        (vault / f"{name}.md").write_text(text, encoding="utf-8")
        settings = make_settings(vault, store__url=chroma_url).model_copy(
            update={"data_dir": tmp_path / f"data-{name}"}
        )
        indexer = open_indexer(settings, counting_embedder)
        indexer.sync()
        stores.append(indexer.store)
    assert len(stores[0].vector_ids()) == len(stores[1].vector_ids()) == 1
    assert stores[0].vector_ids() != stores[1].vector_ids()


def test_an_unreachable_server_is_a_clear_error(
    make_vault: Any, make_settings: Any, counting_embedder: CountingEmbedder
) -> None:
    settings = make_settings(make_vault(NOTES), store__url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(StoreError, match="cannot reach the Chroma server"):
        open_indexer(settings, counting_embedder).sync()
