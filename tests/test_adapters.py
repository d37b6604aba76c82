"""Gates, promotion, rollback and serving adapters, with real LoRA adapters on SmolLM2."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from lora import blank_adapter, random_adapter, registered_run
from typer.testing import CliRunner

from distill.promotion import (
    RunCatalog,
    adapter_name,
    check_gates,
    promote,
    rollback,
    service_stack,
)
from distill.runs import RunRegistry
from overlay.cli import app
from overlay.config import EvalSettings, Settings, default_models_dir
from overlay.core.chat import ChatTurn
from overlay.core.memory import Memory
from overlay.core.model_files import BUNDLED, ensure_converted
from overlay.daemon.daemon import schedule_jobs
from overlay.daemon.schedule import Scheduler
from overlay.errors import ConfigError
from server.app import create_app

runner = CliRunner()
QUESTION = [ChatTurn("user", "What is the capital of France?")]


@pytest.fixture(scope="module")
def smollm2() -> Path:
    return ensure_converted(BUNDLED["smollm2-135m-instruct"], default_models_dir())


@pytest.fixture(scope="module")
def adapters(smollm2: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two real adapters: one that changes nothing, one that changes every answer."""
    root = tmp_path_factory.mktemp("adapters")
    return {
        "blank": blank_adapter(smollm2, root / "blank"),
        "random": random_adapter(smollm2, root / "random"),
    }


@pytest.fixture
def settings(make_vault: Any, make_settings: Any, smollm2: Path) -> Settings:
    vault = make_vault({"Notes/boat.md": "# The boat\n\nMy boat is called Kittiwake.\n"})
    return make_settings(  # type: ignore[no-any-return]
        vault, llm__model=str(smollm2), llm__max_new_tokens=12, eval__min_recall_gain=0.1
    )


@pytest.fixture
def registry(settings: Settings) -> Iterator[RunRegistry]:
    with RunRegistry.from_settings(settings) as runs:
        yield runs


def measured(recall: float, against: float, *, incumbent: str = "base", **more: Any) -> dict:
    """Metrics as `overlay eval` records them."""
    return {
        "recall_adapter": recall,
        "recall_incumbent": against,
        "incumbent": incumbent,
        "forgetting": 0.05,
        "questions": 12,
        **more,
    }


# ---- the gates ----


def test_a_run_that_gains_recall_within_the_budget_is_promoted(
    settings: Settings, registry: RunRegistry, adapters: dict[str, Path]
) -> None:
    run = registry_run = registered_run(
        registry, adapters["blank"], status="evaluated", metrics=measured(0.5, 0.1)
    )

    verdict = promote(settings, run.id)

    assert verdict.promote and verdict.reasons == [] and verdict.gain == pytest.approx(0.4)
    assert registry.promoted() is not None and registry.promoted().id == registry_run.id  # type: ignore[union-attr]
    assert registry.get(run.id).status == "promoted"
    assert registry.get(run.id).log[-1]["event"] == "promoted"


def test_a_rejected_run_leaves_the_adapter_in_service(
    settings: Settings, registry: RunRegistry, adapters: dict[str, Path]
) -> None:
    first = registered_run(
        registry, adapters["blank"], status="evaluated", metrics=measured(0.5, 0.1)
    )
    promote(settings, first.id)
    weak = registered_run(
        registry, adapters["random"], status="evaluated",
        metrics=measured(0.55, 0.5, incumbent=first.id),
    )  # fmt: skip

    verdict = promote(settings, weak.id)

    assert not verdict.promote
    assert re.search(r"gain of \+5%.*asks for \+10%", verdict.reasons[0])
    assert registry.promoted().id == first.id  # type: ignore[union-attr]
    assert registry.get(weak.id).status == "rejected"
    event = registry.get(weak.id).log[-1]
    assert event["event"] == "rejected" and event["reasons"] == verdict.reasons


def test_forgetting_over_the_budget_is_refused_however_much_is_learned(
    registry: RunRegistry, adapters: dict[str, Path]
) -> None:
    run = registered_run(
        registry, adapters["random"], status="evaluated", metrics=measured(0.9, 0.1, forgetting=0.8)
    )
    verdict = check_gates(run, None, EvalSettings(forgetting_budget=0.25))
    assert not verdict.promote
    assert verdict.reasons == ["forgetting 80%, the budget is 25%"]


def test_the_gate_can_compare_recall_on_natural_questions_instead(
    registry: RunRegistry, adapters: dict[str, Path]
) -> None:
    natural = {"natural_recall_adapter": 0.1, "natural_recall_incumbent": 0.1}
    run = registered_run(
        registry,
        adapters["blank"],
        status="evaluated",
        metrics=measured(0.9, 0.1, natural_questions=112, **natural),
    )

    on_templates = check_gates(run, None, EvalSettings())
    on_questions = check_gates(run, None, EvalSettings(gate="questions"))

    assert on_templates.promote  # the held-out restatements gained 80 points
    assert not on_questions.promote and on_questions.gain == 0.0
    assert on_questions.reasons == [
        "natural recall 10% against 10% for base: a gain of +0%, the gate asks for +5%"
    ]


def test_a_run_measured_against_another_incumbent_must_be_evaluated_again(
    registry: RunRegistry, adapters: dict[str, Path]
) -> None:
    in_service = registered_run(registry, adapters["blank"], status="promoted")
    run = registered_run(
        registry, adapters["random"], status="evaluated", metrics=measured(0.9, 0.1)
    )

    verdict = check_gates(run, in_service, EvalSettings())

    assert not verdict.promote
    assert f"{in_service.id} is in service now" in verdict.reasons[0]
    assert f"overlay eval {run.id}" in verdict.reasons[0]


def test_runs_without_an_evaluation_or_an_adapter_are_not_promoted(
    settings: Settings, registry: RunRegistry, adapters: dict[str, Path]
) -> None:
    unevaluated = registered_run(registry, adapters["blank"])
    failed = registered_run(registry, None, status="failed")

    assert "not evaluated" in promote(settings, unevaluated.id).reasons[0]
    assert "no adapter" in promote(settings, failed.id).reasons[0]
    assert registry.promoted() is None
    assert registry.get(failed.id).status == "failed"  # a failed run stays failed


def test_a_dry_run_changes_nothing(
    settings: Settings, registry: RunRegistry, adapters: dict[str, Path]
) -> None:
    good = registered_run(
        registry, adapters["blank"], status="evaluated", metrics=measured(0.5, 0.1)
    )
    bad = registered_run(
        registry, adapters["blank"], status="evaluated", metrics=measured(0.1, 0.1)
    )

    assert promote(settings, good.id, dry_run=True).promote
    assert not promote(settings, bad.id, dry_run=True).promote
    assert registry.promoted() is None
    assert [registry.get(r.id).status for r in (good, bad)] == ["evaluated", "evaluated"]


# ---- rollback ----


def test_rollback_restores_the_previous_adapter_then_the_base(
    settings: Settings, registry: RunRegistry, adapters: dict[str, Path]
) -> None:
    first = registered_run(
        registry, adapters["blank"], status="evaluated", metrics=measured(0.4, 0.1)
    )
    promote(settings, first.id)
    second = registered_run(
        registry, adapters["random"], status="evaluated",
        metrics=measured(0.8, 0.4, incumbent=first.id),
    )  # fmt: skip
    promote(settings, second.id)
    assert registry.promoted().id == second.id  # type: ignore[union-attr]

    assert rollback(settings) == (second.id, first.id)
    assert registry.promoted().id == first.id  # type: ignore[union-attr]
    assert registry.get(second.id).status == "retired"
    assert registry.get(second.id).log[-1]["event"] == "rolled back"

    assert rollback(settings) == (first.id, None)
    assert registry.promoted() is None
    with pytest.raises(ConfigError, match="nothing to roll back"):
        rollback(settings)


def test_the_service_stack_undoes_rollbacks() -> None:
    history = [(0, "a", None), (1, "b", "a"), (2, "a", "b"), (3, "c", "a")]
    assert service_stack(history) == [None, "a", "c"]
    assert service_stack([]) == [None]


# ---- the command line ----


def test_the_cli_lists_promotes_and_rolls_back(
    settings: Settings, registry: RunRegistry, adapters: dict[str, Path]
) -> None:
    good = registered_run(
        registry, adapters["blank"], status="evaluated", metrics=measured(0.5, 0.1)
    )
    bad = registered_run(
        registry, adapters["random"], status="evaluated", metrics=measured(0.1, 0.1)
    )
    where = ["--vault", str(settings.vault), "--data-dir", str(settings.data_dir)]

    refused = runner.invoke(app, [*where, "adapters", "promote", bad.id[:5]])
    promoted = runner.invoke(app, [*where, "adapters", "promote", good.id[:5]])
    listed = runner.invoke(app, [*where, "adapters", "list", "--json"])
    rolled = runner.invoke(app, [*where, "adapters", "rollback", "--json"])

    assert refused.exit_code == 1 and "rejected; the adapter in service stays" in refused.output
    assert promoted.exit_code == 0 and "promoted" in promoted.output
    listing = json.loads(listed.output)
    assert listing["in_service"] == adapter_name(good.id)
    assert [(a["run"], a["promoted"], a["status"]) for a in listing["adapters"]] == [
        (good.id, True, "promoted"),
        (bad.id, False, "rejected"),
    ]
    assert json.loads(rolled.output) == {"from": good.id, "to": None}


# ---- serving ----


@pytest.mark.slow  # the real SmolLM2
def test_chat_answers_with_the_promoted_adapter_and_switches_live(
    settings: Settings, registry: RunRegistry, adapters: dict[str, Path]
) -> None:
    memory = Memory(settings, adapter_catalog=RunCatalog(settings))
    base_answer = memory.answer(QUESTION, rag=False)
    run = registered_run(
        registry, adapters["random"], status="evaluated", metrics=measured(0.5, 0.1)
    )
    name = adapter_name(run.id)
    scheduler = Scheduler(schedule_jobs(settings, memory), started=0)

    promote(settings, run.id)
    assert memory.answer(QUESTION, rag=False).model == settings.llm.model  # not yet seen
    assert scheduler.tick(5.0) == ["adapters"]  # the daemon's next tick
    promoted_answer = memory.answer(QUESTION, rag=False)

    assert promoted_answer.model == name and promoted_answer.text != base_answer.text
    # Naming the base model asks it without the adapter in service (a client comparing).
    asked_base = memory.answer(QUESTION, rag=False, adapter=settings.llm.model)
    assert (asked_base.model, asked_base.text) == (settings.llm.model, base_answer.text)
    rollback(settings)
    scheduler.tick(10.0)
    assert memory.answer(QUESTION, rag=False).text == base_answer.text
    memory.close()


@pytest.mark.slow  # the real SmolLM2
def test_the_http_api_lists_adapters_and_answers_with_the_one_named(
    settings: Settings, registry: RunRegistry, adapters: dict[str, Path]
) -> None:
    blank = registered_run(
        registry, adapters["blank"], status="evaluated", metrics=measured(0.5, 0.1)
    )
    noisy = registered_run(registry, adapters["random"], status="evaluated")
    promote(settings, blank.id)
    with TestClient(create_app(settings)) as client:
        client.headers["Authorization"] = (
            f"Bearer {(settings.data_dir / 'token').read_text().strip()}"  # type: ignore[operator]
        )
        models = client.get("/v1/models").json()["data"]
        ask = {"messages": [{"role": "user", "content": QUESTION[0].content}]}
        default = client.post("/api/v1/chat", json={**ask, "rag": False, "stream": False}).json()
        named = client.post(
            "/api/v1/chat",
            json={**ask, "rag": False, "stream": False, "adapter": adapter_name(noisy.id)},
        ).json()
        openai = client.post(
            "/v1/chat/completions",
            json={**ask, "model": adapter_name(noisy.id), "overlay": {"rag": False}},
        ).json()
        unknown = client.post(
            "/api/v1/chat", json={**ask, "adapter": "overlay-r9999", "stream": False}
        )

    assert [(m["id"], m["promoted"], m["parent"]) for m in models] == [
        (settings.llm.model, False, None),
        (adapter_name(blank.id), True, settings.llm.model),
        (adapter_name(noisy.id), False, settings.llm.model),
    ]
    assert default["model"] == adapter_name(blank.id)
    assert named["model"] == adapter_name(noisy.id) and named["text"] != default["text"]
    assert openai["model"] == adapter_name(noisy.id)
    assert openai["choices"][0]["message"]["content"] == named["text"]
    assert unknown.status_code == 404


@pytest.mark.slow  # the real SmolLM2
def test_the_cli_asks_the_adapter_it_names(
    settings: Settings, registry: RunRegistry, adapters: dict[str, Path]
) -> None:
    noisy = registered_run(registry, adapters["random"], status="evaluated")
    where = ["--vault", str(settings.vault), "--data-dir", str(settings.data_dir)]
    ask = [*where, "ask", QUESTION[0].content, "--no-rag", "--json"]

    base = runner.invoke(app, ask)
    named = runner.invoke(app, [*ask, "--adapter", adapter_name(noisy.id)])
    unknown = runner.invoke(app, [*ask, "--adapter", "overlay-r9999"])

    assert base.exit_code == 0 and named.exit_code == 0, base.output + named.output
    base_answer, named_answer = json.loads(base.stdout), json.loads(named.stdout)
    assert base_answer["model"] in settings.llm.model  # the base, by its folder's name
    assert named_answer["model"] == adapter_name(noisy.id)
    assert named_answer["text"] != base_answer["text"]
    assert isinstance(unknown.exception, ConfigError)
    assert "no adapter named 'overlay-r9999'" in str(unknown.exception)
