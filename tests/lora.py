"""Real LoRA adapters for tests, made with peft directly (no trainer), and runs holding them.

`trained_adapter` takes a few optimizer steps on question/answer pairs (loss on the
answer only, as training does); `random_adapter` has large random weights, so it
changes every answer (and forgets a lot); `blank_adapter` is peft's initial state,
which changes nothing.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from distill.runs import Run, RunRegistry


def _peft_model(base: Path, rank: int, seed: int) -> Any:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    config = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules="all-linear", lora_dropout=0.0)
    return get_peft_model(AutoModelForCausalLM.from_pretrained(base), config)


def blank_adapter(base: Path, out: Path, rank: int = 8) -> Path:
    """An adapter whose LoRA B matrices are zero: the base model's answers exactly."""
    _peft_model(base, rank, 0).save_pretrained(out)
    return out


def random_adapter(base: Path, out: Path, rank: int = 8, seed: int = 0) -> Path:
    """An adapter with random weights large enough to garble the model."""
    import torch

    model = _peft_model(base, rank, seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0.0, 0.2)
    model.save_pretrained(out)
    return out


def trained_adapter(
    base: Path,
    out: Path,
    pairs: Sequence[tuple[str, str]],
    *,
    steps: int = 40,
    rank: int = 16,
    learning_rate: float = 1e-3,
) -> Path:
    """An adapter trained for `steps` steps (full batches) on (question, answer) pairs."""
    import torch
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base)
    model = _peft_model(base, rank, 0)
    rows = [_example(tokenizer, question, answer) for question, answer in pairs]
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id or tokenizer.eos_token_id
    ids = torch.tensor([i + [pad] * (width - len(i)) for i, _ in rows])
    labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in rows])
    mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i, _ in rows])
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=learning_rate
    )
    model.train()
    for _ in range(steps):
        model(input_ids=ids, attention_mask=mask, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.save_pretrained(out)
    return out


def _example(tokenizer: Any, question: str, answer: str) -> tuple[list[int], list[int]]:
    head = tokenizer.apply_chat_template(
        [{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True
    )
    prompt = tokenizer(head, add_special_tokens=False)["input_ids"]
    reply = tokenizer(answer + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
    return prompt + reply, [-100] * len(prompt) + reply


def registered_run(
    registry: RunRegistry,
    adapter: Path | None,
    *,
    status: str = "trained",
    metrics: dict[str, Any] | None = None,
) -> Run:
    """A run in the registry holding a copy of `adapter` (None: a run without one)."""
    run = registry.create(parent=None, data_hash="test", config={})
    if adapter is not None:
        shutil.copytree(adapter, run.adapter)
    return registry.update(run.id, status=status, metrics=metrics or {})
