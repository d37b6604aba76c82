"""`overlay train` and `overlay runs [show RUN]`: train a LoRA adapter, inspect the runs."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.tree import Tree

from overlay.cli.app import JsonOption, app, console, print_json, state

if TYPE_CHECKING:
    from distill.callbacks import ProgressCallback, TrainProgress
    from distill.runs import Run

runs_app = typer.Typer(
    help="The training runs: their tree, records and logs.", invoke_without_command=True
)
app.add_typer(runs_app, name="runs")


@app.command("train")
def train_cmd(
    ctx: typer.Context,
    epochs: Annotated[int | None, typer.Option(help="Passes over the pairs.")] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="Peak learning rate.")] = None,
    rank: Annotated[int | None, typer.Option(help="LoRA rank.")] = None,
    alpha: Annotated[int | None, typer.Option(help="LoRA alpha.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Examples per step.")] = None,
    max_length: Annotated[int | None, typer.Option(help="Longest sequence, in tokens.")] = None,
    replay_share: Annotated[
        float | None, typer.Option(help="Share of replay examples (0 for none).")
    ] = None,
    parent: Annotated[
        str | None, typer.Option(help="Continue from this run's adapter (an id or prefix).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Train a LoRA adapter on the approved and edited pairs (never the held-out ones).

    Flags override the `train.*` settings for this run. The run is recorded with its
    config, log and loss curve in `<data dir>/runs/<id>/`; see `overlay runs`.
    JSON: the run (`id`, `status`, `parent`, `config`, `metrics` with `steps`,
    `seconds`, `first_loss`, `final_loss`, `best_eval_loss`, …, `folder`, `log`).
    """
    from distill.training import train

    flags = {
        "epochs": epochs,
        "learning_rate": lr,
        "rank": rank,
        "alpha": alpha,
        "batch_size": batch_size,
        "max_length": max_length,
        "replay_share": replay_share,
    }
    settings = state(ctx).settings(**{f"train.{k}": v for k, v in flags.items()})
    with _progress(enabled=not (quiet or json_output) and sys.stderr.isatty()) as tell:
        run = train(settings, parent=parent, progress=tell)
    if json_output:
        print_json(run.to_dict())
        return
    for line in summary(run):
        console.print(line, highlight=False, markup=False)


@contextmanager
def _progress(*, enabled: bool) -> Iterator[ProgressCallback | None]:
    from overlay.cli.progress import stderr_bars
    from overlay.progress import Step

    with stderr_bars(enabled=enabled) as tell:
        if tell is None:
            yield None
            return
        shown = tell

        def hook(step: TrainProgress) -> None:
            shown(Step(step.phase, step.done, step.total or None, _describe(step)))

        yield hook


def _describe(step: TrainProgress) -> str:
    if step.phase == "replay":
        return "replay answers of the base model"
    parts = [f"training (attempt {step.attempt})" if step.attempt > 1 else "training"]
    if step.loss is not None:
        parts.append(f"loss {step.loss:.3f}")
    if step.eval_loss is not None:
        parts.append(f"held-out {step.eval_loss:.3f}")
    return ", ".join(parts)


def summary(run: Run) -> list[str]:
    """The closing lines of `overlay train`."""
    m, c = run.metrics, run.config
    lines = [f"{c['chosen']}"] if c.get("chosen") else []
    lines += [
        f"trained {run.id} in {_duration(m.get('seconds'))}: {c.get('pairs')} pairs + "
        f"{c.get('replay_pairs')} replay, {m.get('steps')} steps "
        f"({m.get('seconds_per_step')} s/step), {_number(m.get('epochs'))} epochs",
        f"loss {_number(m.get('first_loss'))} → {_number(m.get('final_loss'))}; held-out loss "
        + (
            f"best {_number(m.get('best_eval_loss'))}, last {_number(m.get('final_eval_loss'))}"
            f" ({c.get('held_out_pairs')} pairs)"
            if m.get("eval_losses")
            else "not measured (no held-out pairs)"
        ),
    ]
    lines += [f"recovered: {_recovery(e)}" for e in run.log if e["event"] == "recovered"]
    lines.append(f"folder: {run.folder}")
    return lines


def _recovery(event: dict[str, Any]) -> str:
    changes = [
        f"{key[4:]} {event[key]} → {event['new_' + key[4:]]}"
        for key in event
        if key.startswith("old_")
    ]
    return f"{event['cause']} at attempt {event['attempt']}: {', '.join(changes)}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m {rest:02d}s" if minutes else f"{rest}s"


def _number(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, int | float) else "-"


@runs_app.callback()
def runs_cmd(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Show the runs as a tree (each under the run it continued from): id, status,
    date, pairs, fitness, losses; ★ marks the one in service.

    JSON: a list of runs, oldest first (`id`, `parent`, `status`, `created`,
    `data_hash`, `config`, `metrics`, `fitness`, `folder`), with `promoted: true|false`.
    """
    if ctx.invoked_subcommand is not None:
        return
    from distill.runs import RunRegistry, settle_abandoned_runs

    with RunRegistry.from_settings(state(ctx).settings()) as registry:
        settle_abandoned_runs(registry)  # a killed run shows as failed, not training forever
        runs, promoted = registry.list(), registry.promoted()
    in_service = promoted.id if promoted else None
    if json_output:
        print_json([{**run.to_dict(), "promoted": run.id == in_service} for run in runs])
        return
    if not runs:
        console.print("no runs yet: `overlay train` makes one", highlight=False)
        return
    console.print(runs_tree(runs, in_service))


def runs_tree(runs: list[Run], in_service: str | None) -> Tree:
    """The runs under the base model, each under its parent."""
    root = Tree("base model" + (" ★" if in_service is None else ""))
    nodes: dict[str | None, Tree] = {None: root}
    for run in runs:  # oldest first, so a parent is always placed before its children
        under = nodes.get(run.parent, root)
        nodes[run.id] = under.add(_label(run, run.id == in_service))
    return root


def _label(run: Run, promoted: bool) -> str:
    m = run.metrics
    parts = [
        f"[bold]{run.id}[/bold]" + (" ★" if promoted else ""),
        run.status,
        run.created.astimezone().strftime("%Y-%m-%d %H:%M"),
        f"{run.config.get('pairs', '?')} pairs",
    ]
    if run.fitness is not None:
        parts.append(f"fitness {run.fitness:.3g}")
    if m.get("best_eval_loss") is not None:
        parts.append(f"held-out loss {m['best_eval_loss']:.3g}")
    elif m.get("final_loss") is not None:
        parts.append(f"loss {m['final_loss']:.3g}")
    if "error" in m:
        parts.append(f"error: {str(m['error'])[:60]}")
    return "  ".join(parts)


@runs_app.command("show")
def show_cmd(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="A run id or a unique prefix of it.")],
    json_output: JsonOption = False,
) -> None:
    """Show one run's record: parent, data, config, metrics and its whole log.

    JSON: the run with every field, `log` included.
    """
    from distill.runs import RunRegistry

    with RunRegistry.from_settings(state(ctx).settings()) as registry:
        run = registry.get(run_id)
    if json_output:
        print_json(run.to_dict())
        return
    out = [
        f"run {run.id}  {run.status}  created {run.created.astimezone():%Y-%m-%d %H:%M:%S}",
        f"parent: {run.parent or '-'}; data: {run.data_hash}; fitness: {run.fitness}",
        f"folder: {run.folder}",
        "config: " + ", ".join(f"{k}={v}" for k, v in run.config.items() if k != "pair_ids"),
        "metrics: " + ", ".join(f"{k}={v}" for k, v in run.metrics.items() if k != "losses"),
        "log:",
    ]
    out += [
        f"  {e['time'][:19]}  {e['event']}  "
        + ", ".join(f"{k}={v}" for k, v in e.items() if k not in ("time", "event"))
        for e in run.log
    ]
    for line in out:
        console.print(line, highlight=False, markup=False, soft_wrap=True)
