"""Training speed and memory of larger models: random-weight Qwen3 shapes, the project's train().

    python -m benchmarks.gpu_training --model all --steps 20      # 4B, 8B and 14B in turn
    python -m benchmarks.gpu_training --model qwen3-4b --steps 20
    python -m benchmarks.gpu_training --model tiny --steps 4      # a smoke test on a CPU

Needs only torch, transformers, peft, accelerate, trl, datasets and pydantic (and this
repository on the path); no model hub. The model is built from its config with random
weights (the shapes below are Qwen3's: hidden size, layers, heads, kv heads, MLP width,
head_dim 128, the real 151,936-token vocabulary), saved to a temporary folder with a
word-level tokenizer built here with Qwen's chat template (no tokenizer files to fetch;
the cost of the real vocabulary is in the embedding and the LM head, which keep its
size), and trained by
`distill.training.train` with the project's defaults for that size (LoRA on all linear
layers, batch 8, max length 512, gradient checkpointing, bf16 on a GPU), one epoch over
`8 × steps` synthetic pairs of about 512 tokens, replay off (a random model's replay
answers say nothing). Prints the median step time and the peak GPU memory per model
and writes benchmarks/results/gpu_training.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.record import write_results
from distill.pairs import Pair, PairStore
from distill.training import train
from overlay.config import Settings

# set here, not chosen for the size: one epoch of 8 × steps pairs, no replay
TRAIN: dict[str, Any] = {"epochs": 1, "replay_share": 0.0}
VOCABULARY = 151_936
SHAPES: dict[str, dict[str, Any]] = {  # Qwen3's config.json values
    "qwen3-4b": {"hidden_size": 2560, "num_hidden_layers": 36, "num_attention_heads": 32,
                 "num_key_value_heads": 8, "intermediate_size": 9728,
                 "tie_word_embeddings": True},
    "qwen3-8b": {"hidden_size": 4096, "num_hidden_layers": 36, "num_attention_heads": 32,
                 "num_key_value_heads": 8, "intermediate_size": 12288,
                 "tie_word_embeddings": False},
    "qwen3-14b": {"hidden_size": 5120, "num_hidden_layers": 40, "num_attention_heads": 40,
                  "num_key_value_heads": 8, "intermediate_size": 17408,
                  "tie_word_embeddings": False},
    "tiny": {"hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2,
             "num_key_value_heads": 1, "intermediate_size": 256, "tie_word_embeddings": True},
}  # fmt: skip
WORDS = "the boat sails north past the island where the old lighthouse keeps its lamp".split()
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def save_tokenizer(folder: Path) -> None:
    """A word-level tokenizer over the synthetic pairs' words, with the ChatML template."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = [*SPECIALS, "[UNK]", "user", "assistant", "?", ".", ":", *sorted(set(WORDS))]
    words += [str(number) for number in range(10_000)]
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.add_special_tokens(SPECIALS)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        unk_token="[UNK]", chat_template=CHATML,
    )  # fmt: skip
    fast.save_pretrained(folder)


def build_model(name: str, folder: Path) -> int:
    """A random-weight Qwen3 of these shapes with a tokenizer, saved to `folder`;
    returns its parameter count."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    config = Qwen3Config(
        vocab_size=VOCABULARY, head_dim=128, max_position_embeddings=40960,
        rope_theta=1_000_000.0, rms_norm_eps=1e-6, **SHAPES[name],
    )  # fmt: skip
    cuda = torch.cuda.is_available()
    with torch.device("cuda" if cuda else "cpu"):
        model = Qwen3ForCausalLM(config).to(torch.bfloat16 if cuda else torch.float32)
    model.save_pretrained(folder)
    save_tokenizer(folder)
    parameters = sum(p.numel() for p in model.parameters())
    del model
    if cuda:
        torch.cuda.empty_cache()
    return parameters


def synthetic_pairs(count: int, held_out: int) -> list[Pair]:
    """Pairs of about 512 tokens (a long question, a long answer), approved; `held_out` more."""
    pairs = []
    for number in range(count + held_out):
        text = " ".join(WORDS[(number + i) % len(WORDS)] for i in range(260))
        pairs.append(
            Pair.make(
                [
                    {"role": "user", "content": f"{number}: {text}?"},
                    {"role": "assistant", "content": f"{text} {number}."},
                ],
                note_path=f"bench/{number}.md",
                source="fact",
                heading="",
                content_hash="bench",
                generator="none",
                prompt_version="bench",
                language="en",
                status="approved",
                held_out=number >= count,
            )
        )
    return pairs


def measure(name: str, steps: int) -> dict[str, Any]:
    import torch

    with tempfile.TemporaryDirectory() as work:
        folder = Path(work) / name
        parameters = build_model(name, folder)
        settings = Settings.model_validate(
            {"data_dir": Path(work) / "data", "llm": {"model": str(folder)},
             "train": TRAIN}
        )  # fmt: skip
        with PairStore.from_settings(settings) as store:
            store.add(synthetic_pairs(8 * steps, 8))
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        started = time.monotonic()
        run = train(settings)
        seconds = time.monotonic() - started
    peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None
    metrics = run.metrics
    return {
        "model": name,
        "parameters": parameters,
        "chosen": run.config.get("chosen"),
        "set": TRAIN,
        "steps": metrics["steps"],
        "seconds_per_step": metrics["seconds_per_step"],
        "peak_gib": round(peak, 1) if peak is not None else None,
        "training_seconds": metrics["seconds"],
        "run_seconds": round(seconds, 1),
        "batch_size": metrics["batch_size"],
        "max_length": settings.train.max_length,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="all", choices=[*SHAPES, "all"])
    parser.add_argument("--steps", type=int, default=20, help="Optimizer steps per model.")
    args = parser.parse_args()
    import torch

    names = ["qwen3-4b", "qwen3-8b", "qwen3-14b"] if args.model == "all" else [args.model]
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    results = []
    for name in names:
        result = measure(name, args.steps)
        results.append(result)
        print(
            f"{name}: {result['seconds_per_step']} s/step (median of {result['steps']}), "
            f"peak {result['peak_gib']} GiB, {result['chosen']}",
            flush=True,
        )
    write_results({"device": device, "results": results}, args)


if __name__ == "__main__":
    main()
