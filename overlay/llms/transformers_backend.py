"""The in-process transformers backend: the embedded default, offline on any machine.

The model loads on first use and once; `smollm2-135m-instruct` resolves to the
folder `overlay.models` converts from its PyPI package. Streaming is real:
`generate` runs in a thread and a `TextIteratorStreamer` hands over text as
tokens come. A LoRA adapter folder (peft) can be attached at construction.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from llama_index.core.bridge.pydantic import Field, PrivateAttr

from overlay.errors import ModelUnavailable
from overlay.llms.local import LocalLLM, render_chat
from overlay.models import resolve_model


class TransformersLLM(LocalLLM):
    """A causal LM from transformers, run in this process on the CPU (or a GPU if present)."""

    adapter: str | None = Field(default=None, description="A peft LoRA adapter folder.")
    models_dir: Path | None = Field(default=None, description="Where bundled models unpack.")
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _model: Any = PrivateAttr(default=None)
    _tokenizer: Any = PrivateAttr(default=None)

    @classmethod
    def class_name(cls) -> str:
        return "overlay_transformers"

    def loaded(self) -> tuple[Any, Any]:
        """(model, tokenizer), loaded on the first call only."""
        with self._lock:
            if self._model is None:
                self._model, self._tokenizer = self._load()
        return self._model, self._tokenizer

    def _load(self) -> tuple[Any, Any]:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        source = resolve_model(self.model, self.models_dir)
        try:
            tokenizer = AutoTokenizer.from_pretrained(source)
            model = AutoModelForCausalLM.from_pretrained(source)
        except OSError as error:
            raise ModelUnavailable(f"cannot load the model '{self.model}': {error}") from error
        if self.adapter is not None:
            model = attach_adapter(model, Path(self.adapter))
        model.eval()
        return model, tokenizer

    def render(self, messages: list[dict[str, str]]) -> str:
        _, tokenizer = self.loaded()
        return render_chat(tokenizer, messages, thinking=self.thinking)

    def generate_text(self, prompt: str, **kwargs: Any) -> str:
        import torch

        model, tokenizer = self.loaded()
        inputs = self._encode(prompt)
        with torch.inference_mode():
            output = model.generate(**inputs, **self._generation_kwargs(**kwargs))
        new_tokens = output[0][inputs["input_ids"].shape[1] :]
        return str(tokenizer.decode(new_tokens, skip_special_tokens=True))

    def stream_text(self, prompt: str, **kwargs: Any) -> Iterator[str]:
        from transformers import StoppingCriteriaList, TextIteratorStreamer

        model, tokenizer = self.loaded()
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
        stop = threading.Event()
        generation = {
            **self._encode(prompt),
            **self._generation_kwargs(**kwargs),
            "streamer": streamer,
            "stopping_criteria": StoppingCriteriaList([_StopWhenSet(stop)]),
        }
        failure: list[BaseException] = []
        worker = threading.Thread(target=_run, args=(model, generation, failure), daemon=True)
        worker.start()
        try:
            yield from streamer
        finally:
            stop.set()  # a reader that walks away stops the generation too
            worker.join()
        if failure:
            raise failure[0]

    def _encode(self, prompt: str) -> dict[str, Any]:
        model, tokenizer = self.loaded()
        # The rendered template already holds the special tokens it needs.
        encoded = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        return {key: value.to(model.device) for key, value in encoded.items()}

    def _generation_kwargs(self, **overrides: Any) -> dict[str, Any]:
        _, tokenizer = self.loaded()
        temperature = float(overrides.pop("temperature", self.temperature))
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": temperature}
            if temperature > 0
            else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        )
        return {
            "max_new_tokens": int(overrides.pop("max_new_tokens", self.max_new_tokens)),
            "pad_token_id": tokenizer.pad_token_id or tokenizer.eos_token_id,
            **sampling,
        }


def attach_adapter(model: Any, folder: Path) -> Any:
    """The model with a peft LoRA adapter from `folder` applied (not merged)."""
    from peft import PeftModel

    if not (folder / "adapter_config.json").is_file():
        raise ModelUnavailable(f"{folder} is not a LoRA adapter: it has no adapter_config.json")
    return PeftModel.from_pretrained(model, str(folder))


class _StopWhenSet:
    """A stopping criterion that ends generation once an event is set."""

    def __init__(self, event: threading.Event) -> None:
        self._event = event

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        return torch.full((input_ids.shape[0],), self._event.is_set(), dtype=torch.bool)


def _run(model: Any, generation: dict[str, Any], failure: list[BaseException]) -> None:
    import torch

    try:
        with torch.inference_mode():
            model.generate(**generation)
    except BaseException as error:  # handed to the reading thread, which raises it
        failure.append(error)
        generation["streamer"].end()
