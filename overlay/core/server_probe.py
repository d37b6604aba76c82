"""What `overlay doctor` checks: which chat model answers, and which local
OpenAI-compatible servers could answer instead.

Each check returns plain findings; the CLI prints them. More checks (the data dir's
health) belong here too, one function each.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from overlay.config import LLMSettings
from overlay.core.answers import is_too_small


@dataclass(frozen=True, slots=True)
class KnownServer:
    """A local OpenAI-compatible server, where it usually listens and how it is started."""

    name: str
    port: int
    start: str  # the command (or the click) that starts it serving a Qwen3 model
    model: str  # the model id it then lists in `GET /v1/models`


KNOWN_SERVERS = (
    KnownServer("vLLM", 8000, "vllm serve Qwen/Qwen3-4B --enable-lora", "Qwen/Qwen3-4B"),
    KnownServer("Ollama", 11434, "ollama pull qwen3:4b (the Ollama app serves it)", "qwen3:4b"),
    KnownServer("LM Studio", 1234, "lms load qwen3-4b && lms server start", "qwen3-4b"),
    KnownServer("llama.cpp", 8080, "llama-server -m Qwen3-4B-Q4_K_M.gguf --port 8080", "qwen3"),
)
KNOWN_PORTS = tuple((known.name, known.port) for known in KNOWN_SERVERS)
PROBE_TIMEOUT_S = 0.5


@dataclass(frozen=True, slots=True)
class LocalServer:
    name: str  # what usually listens on its port
    base_url: str  # ends in /v1
    models: tuple[str, ...]

    def config_lines(self) -> list[str]:
        """The settings that make Overlay answer with this server's first model."""
        return [
            "[llm]",
            'backend = "openai"',
            f'base_url = "{self.base_url}"',
            f'model = "{self.models[0] if self.models else "<a model it serves>"}"',
        ]


def connect_settings(host: str = "127.0.0.1") -> list[tuple[KnownServer, list[str]]]:
    """For every known server, whether or not it runs now: how to start it, and the
    settings that make Overlay answer with the model it then serves."""
    return [
        (
            known,
            LocalServer(
                known.name, f"http://{host}:{known.port}/v1", (known.model,)
            ).config_lines(),
        )
        for known in KNOWN_SERVERS
    ]


def find_local_servers(
    host: str = "127.0.0.1",
    candidates: tuple[tuple[str, int], ...] = KNOWN_PORTS,
) -> list[LocalServer]:
    """The OpenAI-compatible servers answering `GET /v1/models` on the usual ports."""
    found = []
    with httpx.Client(timeout=PROBE_TIMEOUT_S) as http:
        for name, port in candidates:
            base_url = f"http://{host}:{port}/v1"
            if (models := _served_models(http, base_url)) is not None:
                found.append(LocalServer(name, base_url, models))
    return found


def _served_models(http: httpx.Client, base_url: str) -> tuple[str, ...] | None:
    """The model ids a server lists; None when nothing OpenAI-like answers there."""
    try:
        response = http.get(f"{base_url}/models")
        listed = response.json().get("data") if response.is_success else None
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    if not isinstance(listed, list):
        return None
    return tuple(str(m.get("id")) for m in listed if isinstance(m, dict) and m.get("id"))


def chat_model_finding(settings: LLMSettings) -> str:
    """Which model answers chat, said plainly, with what it means for the answers."""
    if settings.backend == "openai":
        return f"chat answers with {settings.model} at {settings.base_url}"
    if is_too_small(settings.model):
        return (
            f"chat answers with the bundled {settings.model}: too small to write answers, "
            "so answers quote your notes (how to connect a real model: below)"
        )
    return f"chat answers with {settings.model} ({settings.backend}, in-process)"
