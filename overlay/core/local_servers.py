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

# The usual ports of local OpenAI-compatible servers.
KNOWN_SERVERS = (
    ("vLLM", 8000),
    ("Ollama", 11434),
    ("LM Studio", 1234),
    ("llama.cpp", 8080),
)
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


def find_local_servers(
    host: str = "127.0.0.1", candidates: tuple[tuple[str, int], ...] = KNOWN_SERVERS
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
            "so answers quote your notes (connect a real model below)"
        )
    return f"chat answers with {settings.model} ({settings.backend}, in-process)"
