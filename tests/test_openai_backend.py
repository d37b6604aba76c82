"""The `openai` backend against a real HTTP server: an answer nobody reads any more is
cancelled upstream, not generated to its end."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Generator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from llama_index.core.llms import ChatMessage

from indexer.embedders import HashEmbedder
from overlay.config import LLMSettings, Settings
from overlay.core.chat import ChatTurn
from overlay.core.llms.openai_backend import openai_llm
from overlay.core.memory import Memory

QUESTION = [ChatMessage(role="user", content="What is the capital of France?")]
TOKENS = 400  # 20 s of tokens at the fake's pace: far longer than the test waits


class FakeModelServer(ThreadingHTTPServer):
    """A fake OpenAI-compatible model server: streams one token every 50 ms and records
    whether the client closed the stream before the last one (a cancelled request)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _StreamingHandler)
        self.sent = 0
        self.cancelled = threading.Event()
        self.finished = threading.Event()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _StreamingHandler(BaseHTTPRequestHandler):
    server: FakeModelServer

    def do_POST(self) -> None:  # the http.server hook
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        head = {"id": "c", "created": 0, "model": "fake", "object": "chat.completion.chunk"}
        try:
            for _ in range(TOKENS):
                delta = {"index": 0, "delta": {"content": "word "}}
                self.wfile.write(f"data: {json.dumps({**head, 'choices': [delta]})}\n\n".encode())
                self.wfile.flush()
                self.server.sent += 1
                time.sleep(0.05)
            self.wfile.write(b"data: [DONE]\n\n")
            self.server.finished.set()
        except OSError:  # BrokenPipe, ConnectionReset: the client hung up
            self.server.cancelled.set()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def upstream() -> Iterator[FakeModelServer]:
    server = FakeModelServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_closing_an_answer_stream_cancels_the_request_upstream(upstream: FakeModelServer) -> None:
    settings = LLMSettings(backend="openai", base_url=upstream.base_url, model="fake")
    llm = openai_llm(settings)

    def answer() -> Generator[str, None, None]:  # as chat reads a stream: a loop in a generator
        for response in llm.stream_chat(QUESTION):
            yield response.delta or ""

    reader = answer()
    assert next(reader) == "word "
    reader.close()  # the HTTP client hung up: the server closes the answer

    assert upstream.cancelled.wait(10), f"the upstream request ran on ({upstream.sent} tokens)"
    assert not upstream.finished.is_set()


def test_an_answer_the_server_closes_is_cancelled_upstream(
    upstream: FakeModelServer, tmp_path: Path
) -> None:
    """The whole path a hung-up HTTP client takes: the server closes the answer's events
    (server/streams.py), through the conversation log, chat and the backend."""
    (tmp_path / "vault").mkdir()
    llm = {"backend": "openai", "base_url": upstream.base_url, "model": "fake"}
    tree = {"vault": tmp_path / "vault", "data_dir": tmp_path / "data", "llm": llm}
    memory = Memory(Settings.model_validate(tree), embedder=HashEmbedder())
    try:
        events = memory.stream_answer([ChatTurn("user", "Hello?")], rag=False)
        assert [next(events).kind for _ in range(2)] == ["sources", "token"]
        events.close()  # type: ignore[attr-defined]  # a generator

        assert upstream.cancelled.wait(10), f"the request ran on ({upstream.sent} tokens)"
    finally:
        memory.close()
