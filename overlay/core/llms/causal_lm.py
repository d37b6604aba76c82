"""Causal LMs in this process: the one loader, adapters, prompts by the chat template.

Answers, evaluation, replay and training all load their model here, so each runs on
the GPU in bf16 where one is present. Only torch, transformers and peft are needed
(no llama-index), so training runs where nothing else of Overlay is installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from overlay.errors import ModelUnavailable


def accelerator() -> tuple[str, Any]:
    """Where a model runs and in what dtype: cuda in bf16 when a GPU is present (half the
    memory of fp32, and what its tensor cores are fast at), else the CPU in the dtype
    the model was saved in."""
    import torch

    if torch.cuda.is_available():
        return "cuda", torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return "cpu", "auto"


def load_causal_lm(source: Path | str) -> Any:
    """A causal LM from a folder or hub name, on the accelerator when one is present
    (every place that loads a model: answers, evaluation, replay, distillation)."""
    from transformers import AutoModelForCausalLM

    device, dtype = accelerator()
    model: Any = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
    return model.to(device)


def attach_adapter(model: Any, folder: Path, name: str = "default") -> Any:
    """The model with a peft LoRA adapter from `folder` applied (not merged) as `name`."""
    from peft import PeftModel

    check_adapter(folder)
    return PeftModel.from_pretrained(model, str(folder), adapter_name=name)


def check_adapter(folder: Path) -> None:
    """Raise ModelUnavailable, saying why, unless `folder` holds a peft LoRA adapter."""
    if not (folder / "adapter_config.json").is_file():
        raise ModelUnavailable(f"{folder} is not a LoRA adapter: it has no adapter_config.json")


def render_chat(tokenizer: Any, messages: list[dict[str, str]], *, thinking: bool) -> str:
    """The prompt text of a conversation, by the model's own chat template.

    `enable_thinking` is what Qwen3's template reads; templates that do not
    know it ignore it.
    """
    if getattr(tokenizer, "chat_template", None) is None:
        # A base model without a template: plain turns, so it still answers.
        turns = [f"{m['role']}: {m['content']}" for m in messages]
        return "\n".join([*turns, "assistant:"])
    prompt = tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True, enable_thinking=thinking
    )
    return str(prompt)
