"""README.md's figures are rendered from benchmarks/results/*.json, never typed by hand."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import pytest

from benchmarks.readme import README, Results, differences, render
from benchmarks.record import RESULTS, write_results


def copied_results(tmp_path: Path) -> Path:
    return Path(shutil.copytree(RESULTS, tmp_path / "results"))


def test_readme_quotes_what_the_results_files_hold() -> None:
    """Fails when a results file changed and `python -m benchmarks.readme` was not run,
    or when README.md's figures were edited by hand."""
    assert differences(README.read_text(encoding="utf-8"), Results()) == []


def test_a_figure_changed_in_a_results_file_is_named_with_its_block(tmp_path: Path) -> None:
    folder = copied_results(tmp_path)
    path = folder / "parse_speed.json"
    parse = json.loads(path.read_text(encoding="utf-8"))
    parse["notes_per_second"] = 123456.0
    path.write_text(json.dumps(parse), encoding="utf-8")
    found = differences(README.read_text(encoding="utf-8"), Results(folder))
    assert len(found) == 1
    assert "'benchmarks'" in found[0] and "+| `parse_speed` | 123,456 notes/s" in found[0]


def test_a_block_is_rendered_between_its_markers_and_the_text_around_it_stays() -> None:
    text = "Before.\n<!-- results:mcp_search -->\nold figures\n<!-- /results -->\nAfter.\n"
    mcp = Results()["mcp_search"]
    rendered = render(text, Results())
    assert rendered.startswith("Before.\n<!-- results:mcp_search -->\n")
    assert rendered.endswith("<!-- /results -->\nAfter.\n")
    assert "old figures" not in rendered
    assert f"{mcp['mcp_search']['p50_ms']:,.0f} ms at the median" in rendered


def test_a_figure_missing_from_its_results_file_asks_for_a_rerun(tmp_path: Path) -> None:
    folder = copied_results(tmp_path)
    (folder / "mcp_search.json").write_text(json.dumps({"calls": 2}), encoding="utf-8")
    text = "<!-- results:mcp_search -->\n<!-- /results -->\n"
    with pytest.raises(SystemExit, match=r"'mcp_search' quotes 'mcp_search'.*re-run"):
        render(text, Results(folder))


def test_an_unknown_block_is_refused() -> None:
    with pytest.raises(SystemExit, match="unknown results block 'nonesuch'"):
        render("<!-- results:nonesuch -->\n<!-- /results -->\n", Results())


def test_a_results_file_records_its_command_arguments_date_and_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["/repo/benchmarks/load.py", "--searches", "5"])
    args = argparse.Namespace(searches=5, rounds=10, work=tmp_path)
    path = write_results({"search_p50_s": 0.1}, args, folder=tmp_path)
    written = json.loads(path.read_text(encoding="utf-8"))
    assert path.name == "load.json" and written["search_p50_s"] == 0.1
    run = written["run"]
    assert run["command"] == "python -m benchmarks.load --searches 5"
    assert run["arguments"] == {"searches": 5, "rounds": 10, "work": str(tmp_path)}
    assert run["date"] and run["machine"]["cpus"] >= 1
    assert {"load_average_at_start", "load_average_at_end"} <= set(run["machine"])
