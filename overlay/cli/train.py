"""`overlay train` and `overlay runs [show RUN]`: train a LoRA adapter, inspect the runs."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
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
    max_minutes: Annotated[
        float | None,
        typer.Option(help="On a CPU, the longest the training may take (0: no limit)."),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar: a line a minute.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Train a LoRA adapter on the approved and edited pairs (never the held-out ones).

    How long: before the first step it measures one step on this machine and prints
    the steps and the estimate. On a CPU a run takes at most `train.max_minutes`
    (15 by default): the pairs most worth remembering fill it (notes asked about in
    chat, then newer notes) and the rest wait for the next run (`--parent RUN` takes
    them first). With SmolLM2-135M on 2 cores a step of 8 examples is ~7 s, so 15
    minutes hold ~80 pairs (and as many replay rows) with the size table's 6 epochs.
    The first run on a machine also makes the base model's replay answers (minutes;
    cached as they are made).

    Flags override the `train.*` settings for this run. The run is recorded with its
    config, log and loss curve in `<data dir>/runs/<id>/`; see `overlay runs`.
    JSON: the run (`id`, `status`, `parent`, `config` with `estimated_seconds` and
    `left_pairs`, `metrics` with `steps`, `seconds`, `first_loss`, `final_loss`,
    `best_eval_loss`, …, `folder`, `log`).
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
        "max_minutes": max_minutes,
    }
    settings = state(ctx).settings(**{f"train.{k}": v for k, v in flags.items()})
    bars = not (quiet or json_output) and sys.stderr.isatty()
    with _progress(bars=bars, lines=not json_output) as tell:
        run = train(settings, parent=parent, progress=tell)
    if json_output:
        print_json(run.to_dict())
        return
    for line in summary(run):
        console.print(line, highlight=False, markup=False)


@contextmanager
def _progress(*, bars: bool, lines: bool) -> Iterator[ProgressCallback | None]:
    """Progress as bars on a terminal, else (with `lines`) a line a minute on stderr;
    the plan before training is printed either way."""
    from overlay.cli.progress import stderr_bars
    from overlay.progress import Step

    minute = MinuteLines()
    with stderr_bars(enabled=bars) as shown:
        if shown is None and not lines:
            yield None
            return

        def hook(step: TrainProgress) -> None:
            if step.phase == "plan":
                for line in step.message.splitlines():
                    console.print(line, highlight=False, markup=False)
            elif shown is not None:
                shown(Step(step.phase, step.done, step.total or None, _describe(step)))
            else:
                minute(step)

        yield hook


class MinuteLines:
    """A progress line on stderr at most once a minute (and at each phase's end), for
    `--quiet` and runs without a terminal: a log that shows the run is alive."""

    def __init__(self, every: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.every, self.clock = every, clock
        self.last: dict[str, float] = {}

    def __call__(self, step: TrainProgress) -> None:
        now = self.clock()
        done = bool(step.total) and step.done >= step.total
        if not done and now - self.last.get(step.phase, -self.every) < self.every:
            return
        self.last[step.phase] = now
        print(f"{_describe(step)}: {step.done}/{step.total}", file=sys.stderr, flush=True)


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
        f"trained {run.id} in {_duration(m.get('seconds'))}{_estimated(c)}: "
        f"{c.get('pairs')} pairs + "
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
    if c.get("left_pairs"):
        lines.append(
            f"{c['left_pairs']} approved pairs did not fit in train.max_minutes and wait for "
            f"the next run: overlay train --parent {run.id}"
        )
    lines += [f"recovered: {_recovery(e)}" for e in run.log if e["event"] == "recovered"]
    lines.append(f"folder: {run.folder}")
    return lines


def _estimated(config: dict[str, Any]) -> str:
    estimate = config.get("estimated_seconds")
    return f" (estimated {_duration(estimate)})" if estimate is not None else ""


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
