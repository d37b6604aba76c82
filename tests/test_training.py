"""LoRA training: which pairs are trained, the loss mask, replay, recovery from
out-of-memory and a NaN loss, the run's record, and the `overlay train`/`runs` CLI.

The training tests run the real SmolLM2-135M (converted once into
$OVERLAY_MODELS_DIR, which `make test` sets) on a handful of pairs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from factories import qa_pair
from typer.testing import CliRunner

from distill.callbacks import InjectedNaNLoss, InjectedOutOfMemory, TrainProgress
from distill.fitting import (
    Attempt,
    build_trainer,
    parameter_count,
)
from distill.pairs import Pair, PairStore
from distill.replay import ReplaySet
from distill.runs import Run, RunNotFound, RunRegistry
from distill.training import train
from distill.training_data import (
    TrainingData,
    collect_data,
    data_hash,
    held_out_pairs,
    replay_set,
    training_pairs,
)
from overlay.cli import app
from overlay.cli.train import summary
from overlay.config import Settings
from overlay.core.model_files import resolve_model
from overlay.errors import ConfigError, TrainingFailed

SMOLLM2 = "smollm2-135m-instruct"
FACTS = [
    ("What is my cat's name?", "Your cat is called Barsik."),
    ("Как зовут моего кота?", "Твоего кота зовут Барсик."),
    ("What is my favourite tea?", "Your favourite tea is Darjeeling."),
    ("Какой мой любимый чай?", "Твой любимый чай — дарджилинг."),
]
HELD_OUT_QUESTION = "What's the name of my cat?"


def make_pair(question: str, answer: str, *, status: str = "approved", **rest: Any) -> Pair:
    return qa_pair(
        question,
        answer,
        note=rest.pop("note_path", "About me.md"),
        status=status,
        **rest,
    )


def fill_store(store: PairStore) -> dict[str, Pair]:
    """The four facts approved, plus one pair of every kind that must not be trained."""
    pairs = {f"fact{n}": make_pair(q, a) for n, (q, a) in enumerate(FACTS)}
    pairs |= {
        "held_out": make_pair(HELD_OUT_QUESTION, FACTS[0][1], status="pending", held_out=True),
        "held_out_rejected": make_pair("Cat name?", "Murzik.", status="rejected", held_out=True),
        "held_out_approved": make_pair("My cat is?", FACTS[0][1], held_out=True),
        "pending": make_pair("What is my dog's name?", "Sharik.", status="pending"),
        "rejected": make_pair("Where do I live?", "On the Moon.", status="rejected"),
        "stale": make_pair("My old car?", "A Lada.", status="stale"),
    }
    store.add(pairs.values())
    return pairs


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with PairStore(tmp_path / "pairs.sqlite3") as pairs:
        yield pairs


# ---- which pairs are trained (no model) ----


def test_only_approved_and_edited_pairs_that_are_not_held_out_are_trained(
    store: PairStore,
) -> None:
    pairs = fill_store(store)
    store.edit(
        pairs["fact1"].id,
        [*pairs["fact1"].messages[:1], {"role": "assistant", "content": "Барсик."}],
        "me",
    )

    trained = {pair.id for pair in training_pairs(store)}

    assert trained == {pairs[f"fact{n}"].id for n in range(4)}


def test_held_out_pairs_nobody_rejected_are_the_evaluation_set(store: PairStore) -> None:
    pairs = fill_store(store)

    assert {p.id for p in held_out_pairs(store)} == {
        pairs["held_out"].id,
        pairs["held_out_approved"].id,
    }


def test_the_data_hash_follows_the_pairs_not_their_order(store: PairStore) -> None:
    pairs = fill_store(store)
    trained = training_pairs(store)
    before = data_hash(trained)

    assert data_hash(list(reversed(trained))) == before
    store.edit(
        pairs["fact2"].id,
        [*pairs["fact2"].messages[:1], {"role": "assistant", "content": "Assam."}],
        "me",
    )
    assert data_hash(training_pairs(store)) != before


def test_without_approved_pairs_training_says_what_to_do(tmp_path: Path) -> None:
    settings = Settings.model_validate({"data_dir": tmp_path / "data"})

    with pytest.raises(ConfigError, match="no approved pairs"):
        train(settings)
    with RunRegistry.from_settings(settings) as registry:
        assert registry.list() == []  # nothing recorded for a run that never started


# ---- the model's size (on the real model) ----


@pytest.mark.slow
def test_the_model_size_is_counted_without_loading_weights(base_model: Path) -> None:
    assert 130e6 < parameter_count(base_model) < 140e6  # SmolLM2-135M


# ---- the real model ----


@pytest.fixture(scope="module")
def base_model() -> Path:
    base = resolve_model(SMOLLM2)
    assert isinstance(base, Path)
    return base


@pytest.mark.slow
def test_the_loss_falls_on_the_answer_only(base_model: Path, tmp_path: Path) -> None:
    settings = Settings.model_validate({"data_dir": tmp_path / "data", "train": {"max_length": 96}})
    question, answer = FACTS[0]
    data = TrainingData(
        train=[
            {
                "prompt": [
                    {"role": "system", "content": "Answer from my notes."},
                    {"role": "user", "content": question},
                ],
                "completion": [{"role": "assistant", "content": answer}],
            }
        ],
        held_out=[],
        pair_ids=["a"],
        replay=0,
        data_hash="x",
    )

    trainer: Any = build_trainer(
        base_model, data, settings, Attempt(1, 1, 1, 1e-4), tmp_path / "out"
    )

    example, tokenizer = trainer.train_dataset[0], trainer.processing_class
    printers = [
        c for c in trainer.callback_handler.callbacks if type(c).__name__ == "PrinterCallback"
    ]
    assert not printers  # it would print each log line into `overlay train --json`
    learned = [
        t for t, label in zip(example["input_ids"], example["labels"], strict=True) if label != -100
    ]
    assert tokenizer.decode(learned).strip() == answer + "<|im_end|>"
    assert question in tokenizer.decode(example["input_ids"])


@pytest.mark.slow
def test_replay_answers_are_generated_once_and_cached(base_model: Path, tmp_path: Path) -> None:
    path = tmp_path / "replay" / "general-1.jsonl"
    prompts = ["What is the capital of France?", "Какая столица у России?"]
    replay = ReplaySet(path, base_model, prompts, max_new_tokens=12)

    rows = replay.rows(3)

    cached = replay.cached()
    assert set(cached) == set(prompts)  # an answer cut off mid-sentence is cached as ''
    answered = [p for p in prompts if cached[p]]
    assert [row["prompt"][0]["content"] for row in rows] == [
        answered[n % len(answered)] for n in range(3)
    ]
    assert all(row["completion"][0]["content"] for row in rows)
    assert "Paris" in cached[prompts[0]]
    # a second set on the same cache never loads the model: a bogus base proves it
    again = ReplaySet(path, tmp_path / "no-such-model", prompts, max_new_tokens=12)
    assert again.rows(3) == rows


@pytest.fixture(scope="module")
def heard() -> list[TrainProgress]:
    """What the progress callback (the bar of `overlay train`) heard during `trained`."""
    return []


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory, base_model: Path, heard: list[TrainProgress]
) -> tuple[Settings, Run]:
    """One tiny real training run that meets an injected OOM, then an injected NaN loss."""
    data_dir = tmp_path_factory.mktemp("training") / "data"
    settings = Settings.model_validate(
        {
            "data_dir": data_dir,
            "train": {
                "epochs": 2,
                "max_length": 64,
                "rank": 8,
                "alpha": 16,
                "batch_size": 4,
                "learning_rate": 2e-3,
                "replay_share": 0.2,
                "replay_max_tokens": 16,
                "gradient_checkpointing": False,  # faster; the continuation test keeps it on
            },
        }
    )
    with PairStore.from_settings(settings) as store:
        fill_store(store)
    # The answers are cached beside the models for every test: made anew here, so the
    # progress test sees them being made.
    replay_set(settings, base_model).path.unlink(missing_ok=True)
    faults = [InjectedOutOfMemory(above_batch_size=2), InjectedNaNLoss(above_learning_rate=1.5e-3)]
    return settings, train(settings, faults=faults, progress=heard.append)


@pytest.mark.slow
def test_training_produces_an_adapter_that_changes_the_model(
    trained: tuple[Settings, Run], base_model: Path
) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from overlay.core.llms.causal_lm import attach_adapter

    _, run = trained
    assert run.status == "trained"
    assert (run.adapter / "adapter_config.json").is_file()
    assert not (run.folder / "checkpoints").exists()
    tokenizer = AutoTokenizer.from_pretrained(base_model)
    inputs = tokenizer(FACTS[0][0], return_tensors="pt")
    model = AutoModelForCausalLM.from_pretrained(base_model).eval()
    with torch.no_grad():
        before = model(**inputs).logits
        adapted = attach_adapter(model, run.adapter).eval()
        after = adapted(**inputs).logits
    assert not torch.allclose(before, after, atol=1e-4)
    assert run.metrics["sample"].strip()  # the trained model generated an answer


@pytest.mark.slow
def test_the_training_loss_falls(trained: tuple[Settings, Run]) -> None:
    metrics = trained[1].metrics

    assert metrics["steps"] == len(metrics["losses"]) >= 2
    first_epoch, second_epoch = metrics["epoch_losses"]  # the same examples, seen again
    assert second_epoch < first_epoch
    assert metrics["seconds_per_step"] > 0
    # the median step, not the fit's time (loading, evaluations, checkpoints) per step
    assert metrics["seconds_per_step"] < metrics["seconds"] / metrics["steps"]


@pytest.mark.slow
def test_held_out_pairs_are_evaluated_never_trained(trained: tuple[Settings, Run]) -> None:
    settings, run = trained
    with PairStore.from_settings(settings) as store:
        held_out = {p.id for p in held_out_pairs(store)}
        data = collect_data(settings, store, resolve_model(SMOLLM2))

    assert held_out and not held_out & set(run.config["pair_ids"])
    assert len(run.config["pair_ids"]) == len(FACTS)
    assert run.config["held_out_pairs"] == 2
    assert len(run.metrics["eval_losses"]) == 2  # one per epoch
    questions = [row["prompt"][-1]["content"] for row in data.train]
    assert HELD_OUT_QUESTION not in questions
    assert data.replay == run.config["replay_pairs"] == 1


@pytest.mark.slow
def test_out_of_memory_is_recovered_with_a_smaller_batch(trained: tuple[Settings, Run]) -> None:
    recoveries = [e for e in trained[1].log if e["event"] == "recovered"]

    first = recoveries[0]
    assert first["cause"] == "out of memory"
    assert (first["old_batch_size"], first["new_batch_size"]) == (4, 2)
    assert (first["old_gradient_accumulation"], first["new_gradient_accumulation"]) == (1, 2)
    assert trained[1].metrics["batch_size"] == 2


@pytest.mark.slow
def test_a_nan_loss_is_recovered_with_a_lower_learning_rate(trained: tuple[Settings, Run]) -> None:
    _, run = trained
    recoveries = [e for e in run.log if e["event"] == "recovered"]

    second = recoveries[1]
    assert second["cause"] == "diverging loss" and "nan" in second["detail"]
    assert (second["old_learning_rate"], second["new_learning_rate"]) == (2e-3, 1e-3)
    assert run.metrics["attempts"] == 3
    assert run.metrics["learning_rate"] == 1e-3
    assert all(math.isfinite(loss) for loss in run.metrics["losses"])


@pytest.mark.slow
def test_the_run_is_recorded_in_the_registry_and_its_folder(trained: tuple[Settings, Run]) -> None:
    settings, run = trained
    with RunRegistry.from_settings(settings) as registry:
        recorded = registry.get(run.id)

    assert recorded.status == "trained" and recorded.parent is None
    assert [e["event"] for e in recorded.log] == ["started", "recovered", "recovered", "trained"]
    assert json.loads((run.folder / "config.json").read_text())["config"]["rank"] == 8
    lines = (run.folder / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["event"] for line in lines][-1] == "trained"
    assert (run.folder / "loss.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
def test_a_run_continues_from_its_parents_adapter(trained: tuple[Settings, Run]) -> None:
    settings, parent = trained
    again = settings.model_copy(
        update={
            "train": settings.train.model_copy(
                update={"epochs": 1, "rank": 4, "batch_size": 8, "gradient_checkpointing": True}
            )
        }
    )

    child = train(again, parent=parent.id[:5])

    assert child.status == "trained" and child.parent == parent.id
    assert child.config["starts_from"] == f"adapter of {parent.id}"
    adapter_config = json.loads((child.adapter / "adapter_config.json").read_text())
    assert adapter_config["r"] == 8  # the parent's adapter, not a fresh rank-4 one
    assert child.data_hash == parent.data_hash
    assert child.metrics["steps"] == 1 and child.metrics["sample"].strip()


@pytest.mark.slow
def test_out_of_memory_at_batch_size_one_fails_the_run(trained: tuple[Settings, Run]) -> None:
    settings, _ = trained
    tiny = settings.model_copy(
        update={"train": settings.train.model_copy(update={"batch_size": 1})}
    )

    with pytest.raises(TrainingFailed, match="batch size 1"):
        train(tiny, faults=[InjectedOutOfMemory(above_batch_size=0)])

    with RunRegistry.from_settings(settings) as registry:
        failed = registry.list()[-1]
        assert failed.status == "failed"
        assert "batch size 1" in failed.metrics["error"]
        assert registry.get(failed.id).log[-1]["event"] == "failed"


# ---- the CLI ----


@pytest.mark.slow
def test_overlay_runs_shows_the_tree_and_a_runs_record(trained: tuple[Settings, Run]) -> None:
    settings, run = trained
    runner = CliRunner()
    data_dir = ["--data-dir", str(settings.data_dir)]

    tree = runner.invoke(app, [*data_dir, "runs"])
    shown = runner.invoke(app, [*data_dir, "runs", "show", run.id[:5]])
    listed = runner.invoke(app, [*data_dir, "runs", "--json"])

    assert tree.exit_code == 0, tree.output
    assert "base model" in tree.output and run.id in tree.output
    assert "trained" in tree.output and "4 pairs" in tree.output
    assert shown.exit_code == 0, shown.output
    assert "recovered" in shown.output and "out of memory" in shown.output
    records = json.loads(listed.output)
    assert records[0]["id"] == run.id and records[0]["promoted"] is False


@pytest.mark.slow
def test_overlay_train_shows_progress_and_closes_with_a_summary(
    trained: tuple[Settings, Run], heard: list[TrainProgress]
) -> None:
    run = trained[1]
    steps = [step for step in heard if step.phase == "train"]
    last = steps[-1]

    assert heard[0].phase == "replay"  # the base model's answers are generated first
    assert {step.attempt for step in steps} >= {2, 3}  # the bar says which attempt runs
    assert (last.done, last.total, last.attempt) == (run.metrics["steps"],) * 2 + (3,)
    assert last.loss is not None and last.eval_loss is not None
    lines = summary(run)
    assert lines[0] == (  # every sized setting was given, so nothing was chosen
        "chosen for a 135M model: nothing "
        "(set explicitly: learning_rate, epochs, rank, replay_share)"
    )
    assert lines[1].startswith(f"trained {run.id} in ") and "4 pairs + 1 replay" in lines[1]
    assert (
        "recovered: out of memory at attempt 1: batch_size 4 → 2, gradient_accumulation 1 → 2"
        in lines
    )
    assert lines[-1] == f"folder: {run.folder}"


def test_overlay_runs_show_names_an_unknown_run(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--data-dir", str(tmp_path), "runs", "show", "r9999"])

    assert isinstance(result.exception, RunNotFound)
    assert "no run with id 'r9999'" in str(result.exception)


def test_overlay_train_without_pairs_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--data-dir", str(tmp_path), "train", "--epochs", "1"])

    assert isinstance(result.exception, ConfigError)
    assert "no approved pairs" in str(result.exception)
