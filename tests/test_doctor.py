"""`overlay doctor`: says which model answers and finds a local OpenAI-compatible server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from overlay.cli import app
from overlay.config import LLMSettings
from overlay.core.server_probe import chat_model_finding, find_local_servers


class ModelsHandler(BaseHTTPRequestHandler):
    """An OpenAI-compatible server as far as `GET /v1/models` goes (what Ollama answers)."""

    def do_GET(self) -> None:
        found = self.path == "/v1/models"
        body = json.dumps({"object": "list", "data": [{"id": "qwen3:8b"}]} if found else {})
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def local_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), ModelsHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


def test_a_local_server_is_found_with_the_settings_to_use_it(local_server: int) -> None:
    closed = local_server + 1 if local_server < 65535 else local_server - 1
    found = find_local_servers(candidates=(("Ollama", local_server), ("vLLM", closed)))
    assert [s.name for s in found] == ["Ollama"]
    assert found[0].models == ("qwen3:8b",)
    assert found[0].config_lines() == [
        "[llm]",
        'backend = "openai"',
        f'base_url = "http://127.0.0.1:{local_server}/v1"',
        'model = "qwen3:8b"',
    ]


def test_the_tiny_bundled_model_is_named_as_too_small() -> None:
    assert "too small" in chat_model_finding(LLMSettings())
    connected = LLMSettings(backend="openai", model="qwen3:8b")
    assert "qwen3:8b at http://127.0.0.1:8000/v1" in chat_model_finding(connected)


def test_doctor_from_the_command_line(example_vault: Path, tmp_path: Path) -> None:
    args = ["--vault", str(example_vault), "--data-dir", str(tmp_path / "data"), "doctor"]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert "too small" in shown["chat_model"] and isinstance(shown["servers"], list)


def test_doctor_prints_how_to_connect_every_known_server_running_or_not(
    example_vault: Path, tmp_path: Path
) -> None:
    args = ["--vault", str(example_vault), "--data-dir", str(tmp_path / "data"), "doctor"]
    shown = CliRunner().invoke(app, args, env={"COLUMNS": "200"}).output
    for name, port in (("vLLM", 8000), ("Ollama", 11434), ("LM Studio", 1234), ("llama.cpp", 8080)):
        assert f'base_url = "http://127.0.0.1:{port}/v1"' in shown
        assert f"# {name}: " in shown or f"{name} at http://127.0.0.1:{port}/v1 serves" in shown
    assert "below" not in shown or "[llm]" in shown.split("below", 1)[1]
