"""LoRA adapters in service: each backend's way to load one, answer with it, and drop it.

An `AdapterHost` turns "answer with this adapter" into a LlamaIndex LLM:

- `transformers` (`InProcessHost`): the adapter is loaded onto the one model in this
  process (`TransformersLLM.with_adapter`), sharing the base weights.
- `openai` pointing at vLLM (`ServerHost`): the adapter is hot-loaded into the
  server with `POST {base_url}/load_lora_adapter {"lora_name", "lora_path"}` and
  requests name it as their `model`; `POST {base_url}/unload_lora_adapter` drops it.
  The server must run with `--enable-lora --max-lora-rank R` and
  `VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`, and must see `lora_path` (the same
  machine, or the same path on a shared disk).
- any other LLM (the in-process `vllm` backend, a test's fake) serves the base only
  (`FixedHost`): an adapter is chosen there by `llm.adapter` and a restart.

Which adapter should answer (the promoted one, one named in a request) is decided
elsewhere (`overlay.core.llms.adapter_service.AdapterService`); a host only does what it is told.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from overlay.config import LLMSettings
from overlay.errors import ConfigError, ModelUnavailable

if TYPE_CHECKING:
    from llama_index.core.llms import LLM

LOAD_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class ServedAdapter:
    """An adapter as clients name it, and the peft folder it is loaded from."""

    name: str
    folder: Path | None  # None: the server already serves it under `name`


class AdapterHost(Protocol):
    """How one backend serves adapters."""

    def llm(self, adapter: ServedAdapter | None) -> LLM:
        """The LLM answering with `adapter` (None: the base model), loading it if needed."""
        ...

    def unload(self, adapter: ServedAdapter) -> None:
        """Free what `adapter` holds; asking for it again loads it again."""
        ...


class InProcessHost:
    """Adapters on the one in-process transformers model."""

    def __init__(self, base: Any) -> None:
        self.base = base  # a TransformersLLM

    def llm(self, adapter: ServedAdapter | None) -> LLM:
        if adapter is None:
            return self.base
        if adapter.folder is None:
            raise ConfigError(
                f"the in-process backend needs the folder of the adapter '{adapter.name}'"
            )
        return self.base.with_adapter(adapter.folder, adapter.name)

    def unload(self, adapter: ServedAdapter) -> None:
        self.base.unload_adapter(adapter.name)


class FixedHost:
    """A backend that cannot switch adapters while it runs: it serves its base model."""

    def __init__(self, base: LLM, backend: str) -> None:
        self.base, self.backend = base, backend

    def llm(self, adapter: ServedAdapter | None) -> LLM:
        if adapter is None:
            return self.base
        raise ConfigError(
            f"the '{self.backend}' backend cannot switch LoRA adapters while it runs; "
            "use 'transformers' or 'openai' (vLLM), or set llm.adapter and restart"
        )

    def unload(self, adapter: ServedAdapter) -> None:
        return None


class ServerHost:
    """Adapters hot-loaded into an OpenAI-compatible vLLM server."""

    def __init__(self, settings: LLMSettings, base: LLM) -> None:
        self.settings = settings
        self.base = base
        self._llms: dict[str, LLM] = {}
        self._lock = threading.Lock()

    def llm(self, adapter: ServedAdapter | None) -> LLM:
        if adapter is None:
            return self.base
        if adapter.folder is not None and adapter.name not in self.served():
            self.load(adapter)
        with self._lock:
            if adapter.name not in self._llms:
                from overlay.core.llms.openai_backend import openai_llm

                named = self.settings.model_copy(update={"adapter": adapter.name})
                self._llms[adapter.name] = openai_llm(named)
            return self._llms[adapter.name]

    def load(self, adapter: ServedAdapter) -> None:
        """Hot-load the adapter under its name (a name already loaded is left as it is)."""
        body = {"lora_name": adapter.name, "lora_path": str(adapter.folder)}
        response = self._post("load_lora_adapter", body)
        if response.is_success or "already been loaded" in response.text:
            return
        raise ModelUnavailable(
            f"the server at {self.settings.base_url} did not load the adapter "
            f"'{adapter.name}' from {adapter.folder}: {_reason(response)}"
        )

    def unload(self, adapter: ServedAdapter) -> None:
        with self._lock:
            self._llms.pop(adapter.name, None)
        if adapter.folder is None or adapter.name not in self.served():
            return
        response = self._post("unload_lora_adapter", {"lora_name": adapter.name})
        if not response.is_success and response.status_code != 404:
            raise ModelUnavailable(
                f"the server at {self.settings.base_url} did not unload the adapter "
                f"'{adapter.name}': {_reason(response)}"
            )

    def served(self) -> set[str]:
        """The model names the server answers to now (its base and loaded adapters)."""
        response = self._request("GET", "models")
        if not response.is_success:
            raise ModelUnavailable(
                f"the server at {self.settings.base_url} did not list its models: "
                f"{_reason(response)}"
            )
        return {str(model["id"]) for model in response.json().get("data", [])}

    def _post(self, route: str, body: dict[str, Any]) -> httpx.Response:
        response = self._request("POST", route, json=body)
        if response.status_code in (404, 405) and "lora" not in response.text.lower():
            raise ModelUnavailable(
                f"the server at {self.settings.base_url} cannot load adapters at runtime: "
                "start vLLM with --enable-lora --max-lora-rank <rank> and "
                "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True"
            )
        return response

    def _request(self, method: str, route: str, **kwargs: Any) -> httpx.Response:
        url = f"{self.settings.base_url.rstrip('/')}/{route}"
        headers = {"Authorization": f"Bearer {self.settings.api_key}"}
        try:
            return httpx.request(
                method, url, headers=headers, timeout=LOAD_TIMEOUT_S, trust_env=False, **kwargs
            )
        except httpx.HTTPError as error:
            raise ModelUnavailable(
                f"cannot reach the OpenAI-compatible server at {self.settings.base_url} "
                f"({error}); start it or set llm.base_url"
            ) from error


def adapter_host(settings: LLMSettings, base: LLM) -> AdapterHost:
    """The host that serves adapters for `base`, the LLM the settings describe."""
    from overlay.core.llms.transformers_backend import TransformersLLM

    if isinstance(base, TransformersLLM):
        return InProcessHost(base)
    if settings.backend == "openai":
        return ServerHost(settings, base)
    return FixedHost(base, settings.backend)


def _reason(response: httpx.Response) -> str:
    try:
        error = response.json().get("error", {})
        message = error.get("message") if isinstance(error, dict) else error
    except (ValueError, AttributeError):
        message = None
    return f"HTTP {response.status_code}: {message or response.text[:300]}"
