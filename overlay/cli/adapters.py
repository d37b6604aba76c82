"""`overlay eval RUN` and `overlay adapters list|promote|rollback`: measure runs, and
choose (through the gates) which adapter answers."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from overlay.cli.app import JsonOption, app, console, print_json, state
from overlay.cli.progress import stderr_bars
from overlay.config import Settings

if TYPE_CHECKING:
    from distill.evaluation import Evaluation
    from distill.promotion import Verdict
    from overlay.core.retrieval import VaultRetriever

adapters_app = typer.Typer(
    help="The LoRA adapters of training runs: list them, promote one, roll back.",
    no_args_is_help=True,
)
app.add_typer(adapters_app, name="adapters")

RunArgument = Annotated[str, typer.Argument(help="A run id (a unique prefix will do).")]


@app.command("eval")
def eval_cmd(
    ctx: typer.Context,
    run: RunArgument,
    no_rag: Annotated[
        bool, typer.Option("--no-rag", help="Skip the RAG ceiling (no index needed).")
    ] = False,
    questions: Annotated[
        Path | None,
        typer.Option(
            "--questions",
            help="Also ask these natural questions closed-book (JSON: [{q, lang, answer: "
            "[accepted strings]}], e.g. benchmarks/dev_sets/personal-vault-b/memory.json); "
            "default: eval.questions.",
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Measure a run on the held-out questions: closed-book recall of the base model and
    the adapter (Russian and English apart), the RAG ceiling, forgetting on general prompts;
    with `--questions`, closed-book recall on natural questions too (an answer is right
    when it contains an accepted string). `eval.gate` says which recall the gate compares.

    The metrics go into the run's record (status `evaluated`), every answer into
    `<run folder>/eval.json`, and a plot across runs into `<data dir>/runs/recall.png`.
    JSON: `{run, fitness, plot, metrics: {recall_base, recall_adapter, recall_rag,
    recall_incumbent (each also _ru, _en), recovered, forgetting, questions, incumbent,
    natural_recall_base, natural_recall_adapter, natural_questions (with --questions), …}}`.
    """
    from distill.evaluation import evaluate

    settings = state(ctx).settings()
    retriever = None if no_rag else _retriever(settings)
    with stderr_bars(enabled=not json_output and sys.stderr.isatty()) as tell:
        evaluation = evaluate(
            settings, run, retriever=retriever, progress=tell, questions_file=questions
        )
    if json_output:
        print_json(evaluation.to_dict())
        return
    _show_evaluation(evaluation, settings)


@adapters_app.command("list")
def list_cmd(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """The runs with an adapter, oldest first; * marks the one in service, status
    `tainted` one trained on a note forgotten since (`overlay adapters prune --tainted`).

    JSON: `{in_service, adapters: [{name, run, parent, status, promoted, fitness,
    recall_adapter, recall_adapter_ru, recall_adapter_en, forgetting, created}]}`.
    """
    from distill.promotion import BASE, adapter_name, has_adapter, is_tainted
    from distill.runs import RunRegistry

    with RunRegistry.from_settings(state(ctx).settings()) as registry:
        promoted = registry.promoted()
        runs = [run for run in registry.list() if has_adapter(run) or is_tainted(run)]
    rows = [
        {
            "name": adapter_name(run.id),
            "run": run.id,
            "parent": run.parent,
            "status": run.status,
            "promoted": promoted is not None and run.id == promoted.id,
            "fitness": run.fitness,
            "created": run.created.isoformat(),
            **{key: run.metrics.get(key) for key in _LISTED},
        }
        for run in runs
    ]
    in_service = adapter_name(promoted.id) if promoted else BASE
    if json_output:
        print_json({"in_service": in_service, "adapters": rows})
        return
    table = Table("", "adapter", "status", "recall ru", "recall en", "forgetting", "parent")
    for row in rows:
        table.add_row(
            "*" if row["promoted"] else "",
            str(row["name"]),
            str(row["status"]),
            _share(row["recall_adapter_ru"]),
            _share(row["recall_adapter_en"]),
            _share(row["forgetting"]),
            str(row["parent"] or ""),
        )
    console.print(table)
    console.print(f"in service: {in_service}", highlight=False)


_LISTED = ("recall_adapter", "recall_adapter_ru", "recall_adapter_en", "forgetting")


@adapters_app.command("promote")
def promote_cmd(
    ctx: typer.Context,
    run: RunArgument,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only say what the gates decide.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Put a run's adapter in service if it passes the gates.

    The gates: more closed-book recall than the one in service (eval.min_recall_gain)
    within the forgetting budget (eval.forgetting_budget). A run that fails is marked `rejected` and the adapter in
    service stays; the exit code is then 1. A running `overlay serve` switches within
    seconds. JSON: `{run, promote, reasons, incumbent, recall, incumbent_recall, gain,
    forgetting}`.
    """
    from distill.promotion import promote

    verdict = promote(state(ctx).settings(), run, dry_run=dry_run)
    if json_output:
        print_json(verdict.to_dict())
    else:
        _show_verdict(verdict, dry_run=dry_run)
    if not verdict.promote:
        raise typer.Exit(1)


@adapters_app.command("rollback")
def rollback_cmd(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Put the adapter that was in service before the current one back (or the base model).

    JSON: `{from, to}` (run ids; null: the base model).
    """
    from distill.promotion import BASE, rollback

    taken_out, restored = rollback(state(ctx).settings())
    if json_output:
        print_json({"from": taken_out, "to": restored})
        return
    console.print(f"rolled back {taken_out}: now in service {restored or BASE}", highlight=False)


# ---- helpers ----


def _retriever(settings: Settings) -> VaultRetriever | None:
    """The index's retriever for the RAG ceiling, or None (with a note) when there is none."""
    if settings.vault is None:
        console.print("[yellow]no vault: the RAG ceiling is not measured[/yellow]")
        return None
    from overlay.core.memory import Memory

    memory = Memory(settings)
    if memory.store.stats().notes == 0:
        console.print(
            "[yellow]the index is empty: the RAG ceiling is not measured "
            "(run `overlay index` first)[/yellow]"
        )
        return None
    return memory.retriever


def _show_evaluation(evaluation: Evaluation, settings: Settings) -> None:
    from distill.promotion import check_gates
    from distill.runs import RunRegistry

    metrics = evaluation.metrics
    table = Table(f"run {evaluation.run_id}", "ru", "en", "all", title="closed-book recall")
    rows = [("base model", "base"), ("adapter", "adapter")]
    if metrics["incumbent"] != "base":
        rows.append((f"in service ({metrics['incumbent']})", "incumbent"))
    rows.append(("RAG ceiling (base + notes)", "rag"))
    for label, name in rows:
        table.add_row(label, *(_share(metrics.get(f"recall_{name}{s}")) for s in _SUFFIXES))
    table.add_row(
        "recovered of the ceiling", *(_share(metrics.get(f"recovered{s}")) for s in _SUFFIXES)
    )
    console.print(table)
    if "natural_questions" in metrics:
        console.print(_natural_table(metrics))
    console.print(
        f"questions: {metrics['questions']} (ru {metrics['questions_ru']}, en "
        f"{metrics['questions_en']}; {metrics['facts']} facts), an answer recalls its fact "
        f"at {metrics['recall_threshold']:.0%} of the key terms",
        highlight=False,
    )
    console.print(
        f"forgetting: {_share(metrics['forgetting'])} higher perplexity on general prompts "
        f"(budget {settings.eval.forgetting_budget:.0%}); {metrics['eval_seconds']} s",
        highlight=False,
    )
    with RunRegistry.from_settings(settings) as registry:
        verdict = check_gates(registry.get(evaluation.run_id), registry.promoted(), settings.eval)
    _show_verdict(verdict, dry_run=True)
    if evaluation.plot is not None:
        console.print(f"plot: {evaluation.plot}", highlight=False)


_SUFFIXES = ("_ru", "_en", "")


def _natural_table(metrics: dict[str, Any]) -> Table:
    counts = [metrics.get(f"natural_questions{s}") for s in _SUFFIXES]
    title = "closed-book recall, natural questions ({} ru, {} en)".format(*counts[:2])
    table = Table("", "ru", "en", "all", title=title)
    names = [("base model", "base"), ("adapter", "adapter")]
    if metrics["incumbent"] != "base":
        names.append((f"in service ({metrics['incumbent']})", "incumbent"))
    for label, name in names:
        table.add_row(label, *(_share(metrics.get(f"natural_recall_{name}{s}")) for s in _SUFFIXES))
    return table


def _show_verdict(verdict: Verdict, *, dry_run: bool) -> None:
    if verdict.promote:
        done = "would be promoted" if dry_run else "promoted: it answers from now on"
        console.print(f"[green]{verdict.run} {done}[/green] (gain {_share(verdict.gain)})")
        return
    done = "would not be promoted" if dry_run else "rejected; the adapter in service stays"
    console.print(f"[red]{verdict.run} {done}[/red]")
    for reason in verdict.reasons:
        console.print(f"  - {reason}", highlight=False, markup=False)


def _share(value: Any) -> str:
    return f"{value:.0%}" if isinstance(value, int | float) else "–"
