"""One way to write a results file: `write_results(figures, args)` from a benchmark's main().

It writes `benchmarks/results/<name>.json` (name: the script's, unless one is given) holding
the figures and, under "run", how they were made: the exact command line with every argument
(the argparse namespace, defaults included), the date, and the machine (cores, platform,
Python, the load average when the script started and when it wrote). README.md quotes
figures only through `python -m benchmarks.readme`, which renders them from these files;
no results file is edited by hand.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
# taken on import: a benchmark imports this before it measures anything
LOAD_AT_START = os.getloadavg()[0]


def script_name() -> str:
    """The running benchmark's name (`python -m benchmarks.x` and `benchmarks/x.py` alike)."""
    return Path(sys.argv[0]).stem


def command_line() -> str:
    """The command that ran this benchmark, as one to paste: `python -m benchmarks.x ...`."""
    return shlex.join(["python", "-m", f"benchmarks.{script_name()}", *sys.argv[1:]])


def run_record(args: argparse.Namespace) -> dict[str, Any]:
    """How the figures were made: command, arguments, date and machine."""
    return {
        "command": command_line(),
        "arguments": json.loads(json.dumps(vars(args), default=str)),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_at_start": round(LOAD_AT_START, 2),
            "load_average_at_end": round(os.getloadavg()[0], 2),
        },
    }


def write_results(
    figures: Mapping[str, Any],
    args: argparse.Namespace,
    name: str | None = None,
    folder: Path = RESULTS,
) -> Path:
    """Write the figures with their run record to <folder>/<name>.json; return the path."""
    path = folder / f"{name or script_name()}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    report = {"run": run_record(args), **figures}
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"written to {path}", file=sys.stderr)
    return path
