"""The run registry: runs as a tree with data, config, metrics, a log, and promotions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from distill.runs import RunNotFound, RunRegistry
from overlay.errors import ConfigError, StoreError


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RunRegistry]:
    with RunRegistry(tmp_path / "runs.sqlite3", tmp_path / "runs") as runs:
        yield runs


def test_a_new_run_is_training_with_its_folder_and_config(registry: RunRegistry) -> None:
    run = registry.create(parent=None, data_hash="abc", config={"rank": 8, "lr": 2e-4})

    assert run.status == "training"
    assert run.id.startswith("r0001-")
    assert run.adapter == run.folder / "adapter"
    record = json.loads((run.folder / "config.json").read_text())
    assert record["config"] == {"rank": 8, "lr": 2e-4}
    assert record["id"] == run.id and record["data_hash"] == "abc"
    assert registry.get(run.id) == run


def test_ids_sort_in_creation_order_and_prefixes_find_runs(registry: RunRegistry) -> None:
    runs = [registry.create(parent=None, data_hash=str(n), config={}) for n in range(3)]

    assert [r.id for r in registry.list()] == sorted(r.id for r in runs)
    assert registry.get(runs[1].id[:5]).id == runs[1].id


def test_unknown_or_ambiguous_ids_are_a_clear_error(registry: RunRegistry) -> None:
    registry.create(parent=None, data_hash="a", config={})
    registry.create(parent=None, data_hash="b", config={})

    with pytest.raises(RunNotFound, match="no run"):
        registry.get("r9999")
    with pytest.raises(RunNotFound, match="more than one"):
        registry.get("r000")
    with pytest.raises(RunNotFound):
        registry.get("")
    with pytest.raises(RunNotFound):
        registry.create(parent="r9999", data_hash="c", config={})


def test_updates_merge_metrics_and_reject_unknown_statuses(registry: RunRegistry) -> None:
    run = registry.create(parent=None, data_hash="a", config={})
    registry.update(run.id, metrics={"eval_loss": 1.5, "steps": 4})

    updated = registry.update(run.id, status="trained", metrics={"eval_loss": 1.2}, fitness=0.7)

    assert updated.status == "trained"
    assert updated.metrics == {"eval_loss": 1.2, "steps": 4}
    assert updated.fitness == 0.7
    with pytest.raises(ConfigError, match="unknown run status"):
        registry.update(run.id, status="done")
    assert registry.get(run.id).status == "trained"


def test_events_are_kept_in_order_in_the_registry_and_the_folder(registry: RunRegistry) -> None:
    run = registry.create(parent=None, data_hash="a", config={})
    registry.log_event(run.id, "started", pairs=5)
    registry.log_event(run.id, "recovered", cause="out of memory", batch_size=4, new_batch_size=2)

    log = registry.get(run.id).log

    assert [e["event"] for e in log] == ["started", "recovered"]
    assert log[1]["new_batch_size"] == 2 and "time" in log[1]
    lines = (run.folder / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["started", "recovered"]


def test_children_point_at_their_parent(registry: RunRegistry) -> None:
    root = registry.create(parent=None, data_hash="a", config={})
    child = registry.create(parent=root.id[:6], data_hash="b", config={})

    assert child.parent == root.id
    assert [r.parent for r in registry.list()] == [None, root.id]


def test_promotion_retires_the_previous_run_and_keeps_history(registry: RunRegistry) -> None:
    first = registry.create(parent=None, data_hash="a", config={})
    second = registry.create(parent=first.id, data_hash="b", config={})
    assert registry.promoted() is None

    registry.set_promoted(first.id)
    registry.set_promoted(second.id)
    registry.set_promoted(second.id)  # already in service: nothing changes

    promoted = registry.promoted()
    assert promoted is not None and promoted.id == second.id
    assert promoted.status == "promoted"
    assert registry.get(first.id).status == "retired"
    history = registry.promotion_history()
    assert [(run, previous) for _, run, previous in history] == [
        (first.id, None),
        (second.id, first.id),
    ]
    assert history[0][0] <= history[1][0]


def test_promoting_none_serves_the_base_model_again(registry: RunRegistry) -> None:
    run = registry.create(parent=None, data_hash="a", config={})
    registry.set_promoted(run.id)

    registry.set_promoted(None)

    assert registry.promoted() is None
    assert registry.get(run.id).status == "retired"
    assert registry.promotion_history()[-1][1:] == (None, run.id)


def test_the_registry_survives_reopening(tmp_path: Path, make_settings: Any) -> None:
    settings = make_settings()
    with RunRegistry.from_settings(settings) as registry:
        run = registry.create(parent=None, data_hash="a", config={"epochs": 2})
        registry.log_event(run.id, "started")
        registry.set_promoted(run.id)

    with RunRegistry.from_settings(settings) as again:
        assert again.get(run.id).log[0]["event"] == "started"
        promoted = again.promoted()
        assert promoted is not None and promoted.config == {"epochs": 2}
    assert (settings.resolved_data_dir() / "runs" / run.id / "config.json").is_file()


def test_a_reader_sees_what_another_connection_wrote(tmp_path: Path) -> None:
    with (
        RunRegistry(tmp_path / "runs.sqlite3", tmp_path / "runs") as reader,
        RunRegistry(tmp_path / "runs.sqlite3", tmp_path / "runs") as writer,
    ):
        assert reader.list() == []
        run = writer.create(parent=None, data_hash="a", config={})
        writer.update(run.id, status="trained")
        assert reader.get(run.id).status == "trained"


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite3"
    path.write_bytes(b"not a database at all" * 100)

    with pytest.raises(StoreError, match="run registry"):
        RunRegistry(path, tmp_path / "runs")
    assert path.read_bytes() == b"not a database at all" * 100  # left as it was
