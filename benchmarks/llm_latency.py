"""Time to first token and tokens per second of the chat backends, on SmolLM2-135M-Instruct.

    .venv/bin/python -m benchmarks.llm_latency [--runs 5] [--max-new-tokens 64] [--no-vllm]

Measures the in-process `transformers` backend and, when `.vllm-venv` exists
(scripts/setup-vllm.sh), a real vLLM server through the `openai` backend; both
stream the same prompts with greedy decoding. Tokens are counted with the
model's own tokenizer. Prints and writes benchmarks/results/llm_latency.json.
Set OVERLAY_MODELS_DIR to reuse a converted model; else one is made in a temp dir.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from llama_index.core.llms import LLM, ChatMessage

from benchmarks.record import write_results
from overlay.config import LLMSettings, default_models_dir
from overlay.core.llms import llm_from_settings
from overlay.core.model_files import BUNDLED, ensure_converted

REPO = Path(__file__).resolve().parents[1]
PROMPTS = [
    "What is the capital of France?",
    "Explain in two sentences why the sky is blue.",
    "Write a short list of three tips for taking notes.",
]


def measure_stream(llm: LLM, prompt: str, tokenizer: Any) -> dict[str, float]:
    """One streamed answer: seconds to the first delta, tokens, tokens per second."""
    start = time.perf_counter()
    first = None
    text = ""
    for response in llm.stream_chat([ChatMessage(role="user", content=prompt)]):
        if response.delta:
            first = first or time.perf_counter()
            text += response.delta
    end = time.perf_counter()
    tokens = len(tokenizer(text, add_special_tokens=False)["input_ids"])
    first = first or end
    return {
        "ttft_s": first - start,
        "tokens": tokens,
        "tokens_per_s": tokens / (end - start),
        "decode_tokens_per_s": (tokens - 1) / (end - first) if end > first else 0.0,
    }


def summarize(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(statistics.median(r[key] for r in runs), 4) for key in runs[0]}


def bench(llm: LLM, tokenizer: Any, runs: int) -> dict[str, Any]:
    measure_stream(llm, "Hello!", tokenizer)  # warm-up: first-call costs are reported apart
    results = [measure_stream(llm, p, tokenizer) for _ in range(runs) for p in PROMPTS]
    return {"median": summarize(results), "samples": len(results)}


def bench_transformers(settings: LLMSettings, tokenizer: Any, runs: int) -> dict[str, Any]:
    llm = llm_from_settings(settings)
    start = time.perf_counter()
    llm.loaded()  # type: ignore[attr-defined]
    load_s = time.perf_counter() - start
    return {"load_s": round(load_s, 3), **bench(llm, tokenizer, runs)}


def bench_vllm_server(model_dir: Path, settings: LLMSettings, tokenizer: Any, runs: int) -> Any:
    sys.path.insert(0, str(REPO / "tests" / "integration"))
    import vllm_server  # the test fixture's helpers: one way to start the server

    if not vllm_server.VLLM_PYTHON.exists():
        return {"skipped": f"no {vllm_server.VLLM_PYTHON}: run scripts/setup-vllm.sh"}
    log = Path(tempfile.mkdtemp()) / "vllm.log"
    start = time.perf_counter()
    server = vllm_server.start_server(model_dir, log)
    startup_s = time.perf_counter() - start
    try:
        served = settings.model_copy(
            update={"backend": "openai", "base_url": server.base_url, "model": server.model}
        )
        return {
            "startup_s": round(startup_s, 1),
            **bench(llm_from_settings(served), tokenizer, runs),
        }
    finally:
        vllm_server.stop_server(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="Passes over the prompts.")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--no-vllm", action="store_true", help="Skip the vLLM server.")
    args = parser.parse_args()

    models_dir = default_models_dir() if os.environ.get("OVERLAY_MODELS_DIR") else None
    models_dir = models_dir or Path(tempfile.mkdtemp(prefix="overlay-models-"))
    start = time.perf_counter()
    model_dir = ensure_converted(BUNDLED["smollm2-135m-instruct"], models_dir)
    prepare_s = time.perf_counter() - start

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    settings = LLMSettings(models_dir=models_dir, max_new_tokens=args.max_new_tokens)
    results: dict[str, Any] = {
        "model": "smollm2-135m-instruct",
        "max_new_tokens": args.max_new_tokens,
        "prepare_model_s": round(prepare_s, 2),
        "transformers": bench_transformers(settings, tokenizer, args.runs),
    }
    if not args.no_vllm:
        results["vllm_server"] = bench_vllm_server(model_dir, settings, tokenizer, args.runs)
    write_results(results, args)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
