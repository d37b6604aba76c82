"""Replay: the base model's own answers to general prompts, mixed into LoRA training.

Training only on the person's facts pulls a small model away from everything else
it could do; a share of examples that are the base model's own greedy answers to
general prompts (English and Russian, `distill/prompts/general-<n>.txt`) holds it
near where it started, at almost no cost in what it learns.

The answers are generated once per base model and prompt version, in batches, and
cached beside the models (`replay_cache_path`); asking for more than the cache holds
generates only the missing ones. Each batch is appended to the cache as soon as it
is made, under a file lock, so an interrupted run keeps what it made.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from overlay.errors import ConfigError, ModelUnavailable

Row = dict[str, Any]  # a prompt-completion row in TRL's conversational form
GENERATION_BATCH = 8
_SENTENCE_END = re.compile(r"[.!?…](?=\s|$)")


def load_replay_prompts(version: str) -> list[str]:
    """The prompts of `distill/prompts/<version>.txt`: one per line, '#' starts a comment."""
    try:
        text = resources.files("distill.prompts").joinpath(f"{version}.txt").read_text("utf-8")
    except FileNotFoundError as error:
        raise ConfigError(f"no replay prompt file distill/prompts/{version}.txt") from error
    prompts = [line.strip() for line in text.splitlines()]
    return [line for line in prompts if line and not line.startswith("#")]


def replay_cache_path(
    models_dir: Path, base: Path | str, version: str, max_new_tokens: int
) -> Path:
    """Where the answers of `base` to the prompts of `version` are kept: beside the models,
    as they depend on the model, the prompts and the length alone, never on a vault, so
    every data dir on this machine shares them."""
    weights = Path(base) / "model.safetensors"
    size = weights.stat().st_size if weights.is_file() else 0
    digest = hashlib.sha256(f"{base}\0{size}".encode()).hexdigest()[:10]
    name = re.sub(r"[^\w.-]+", "-", Path(str(base)).name) or "model"
    return models_dir / "answers" / f"{name}-{digest}" / f"{version}-{max_new_tokens}.jsonl"


class ReplaySet:
    """The base model's cached answers to one prompt file, generated as they are needed."""

    def __init__(
        self, path: Path, base: Path | str, prompts: Sequence[str], max_new_tokens: int = 128
    ) -> None:
        if not prompts:
            raise ConfigError("the replay prompt file has no prompts")
        self.path = path
        self.base = base
        self.prompts = list(prompts)
        self.max_new_tokens = max_new_tokens

    def cached(self) -> dict[str, str]:
        """Prompt → answer, as far as generated so far (answers cut mid-thought are left out
        as empty strings, so they are not generated again)."""
        if not self.path.is_file():
            return {}
        answers = {}
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except ValueError:  # the last line of a process killed while writing it
                continue
            answers[row["prompt"]] = row["answer"]
        return answers

    def rows(self, count: int, progress: Callable[[int, int], None] | None = None) -> list[Row]:
        """`count` replay rows, cycling through the prompts in order; generates what is missing."""
        if count <= 0:
            return []
        wanted = self.prompts[: min(count, len(self.prompts))]
        answers = self.ensure(wanted, progress)
        usable = [(p, answers[p]) for p in self.prompts if answers.get(p)]
        if not usable:
            return []
        picked = [usable[n % len(usable)] for n in range(count)]
        return [replay_row(prompt, answer) for prompt, answer in picked]

    def ensure(
        self, prompts: Sequence[str], progress: Callable[[int, int], None] | None = None
    ) -> dict[str, str]:
        """Answers to `prompts`, generating (under a lock) those not cached yet."""
        from filelock import FileLock

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.path) + ".lock", timeout=600):
            answers = self.cached()
            missing = [p for p in prompts if p not in answers]
            if not missing:
                return answers
            made = 0
            for batch in generate_answers(self.base, missing, self.max_new_tokens):
                self._append(batch)
                answers.update(batch)
                made += len(batch)
                if progress is not None:
                    progress(made, len(missing))
        return answers

    def _append(self, answers: dict[str, str]) -> None:
        """Adds answers to the cache at once, each a line, flushed to disk."""
        lines = [
            json.dumps({"prompt": p, "answer": a}, ensure_ascii=False) for p, a in answers.items()
        ]
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write("".join(line + "\n" for line in lines))
            handle.flush()
            os.fsync(handle.fileno())


def replay_row(prompt: str, answer: str) -> Row:
    return {
        "prompt": [{"role": "user", "content": prompt}],
        "completion": [{"role": "assistant", "content": answer}],
    }


def generate_answers(
    base: Path | str, prompts: Sequence[str], max_new_tokens: int
) -> Iterator[dict[str, str]]:
    """The base model's greedy answers, a batch at a time (prompt → answer); an answer
    cut off by the length limit keeps its complete sentences only (empty when it has none)."""
    import torch
    from transformers import AutoTokenizer

    from overlay.core.llms.causal_lm import load_causal_lm, render_chat

    try:
        tokenizer = AutoTokenizer.from_pretrained(base, padding_side="left")
        model = load_causal_lm(base).eval()
    except OSError as error:
        raise ModelUnavailable(f"cannot load the base model {base} for replay: {error}") from error
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    stops = _stop_tokens(model, tokenizer)
    for start in range(0, len(prompts), GENERATION_BATCH):
        batch = prompts[start : start + GENERATION_BATCH]
        texts = [
            render_chat(tokenizer, [{"role": "user", "content": p}], thinking=False) for p in batch
        ]
        encoded = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            output = model.generate(
                **encoded.to(model.device),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
            )
        answers = {}
        for prompt, tokens in zip(batch, output[:, encoded["input_ids"].shape[1] :], strict=True):
            finished = not stops.isdisjoint(tokens.tolist())
            text = str(tokenizer.decode(tokens, skip_special_tokens=True)).strip()
            answers[prompt] = text if finished else complete_sentences(text)
        yield answers


def _stop_tokens(model: Any, tokenizer: Any) -> set[int]:
    configured = model.generation_config.eos_token_id
    ids = configured if isinstance(configured, list) else [configured]
    return {int(i) for i in [*ids, tokenizer.eos_token_id] if i is not None}


def complete_sentences(text: str) -> str:
    """`text` up to its last sentence end, or '' when no sentence ends in it."""
    ends = list(_SENTENCE_END.finditer(text))
    return text[: ends[-1].end()].strip() if ends else ""
