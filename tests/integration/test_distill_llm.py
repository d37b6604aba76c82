"""The LLM pair sources end to end: SmolLM2 behind a real vLLM server, structured output.

Two linked notes of examples/vault; every source must make pairs, every pair
must say where it came from, every fact pair must be in the language it is tagged
with, and every fact answer must be grounded in its note (a link answer: in its
two notes) or have been rejected (and counted) by the judge.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from vaults import copy_example_notes
from vllm_server import VllmServer

from distill.judge import lexical_support
from distill.language import written_in
from distill.pairs import PairStore
from distill.pipeline import distill
from distill.selection import Selection
from distill.sources.abstention import NOT_IN_NOTES

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NOTES = ("People/Jānis Bērziņš.md", "Work/Nordfrakt.md")  # linked: the link source has a pair


@pytest.fixture
def vault(tmp_path: Path) -> Path:
    return copy_example_notes(NOTES, tmp_path / "vault")


def test_smollm2_makes_grounded_pairs_of_every_source(
    vllm_server: VllmServer, vault: Path, make_settings: Any
) -> None:
    settings = make_settings(
        vault,
        llm__backend="openai",
        llm__base_url=vllm_server.base_url,
        llm__model=vllm_server.model,
        llm__max_new_tokens=192,  # a runaway answer costs the most time on CPU
        distill__questions_per_fact=2,
        distill__max_attempts=2,  # the retry samples (distill.retry_temperature)
    )
    report = distill(settings, Selection(), sources=["fact", "link", "abstention"])
    print(report.summary(), *report.generation_failures, sep="\n")  # shown with -s
    with PairStore.from_settings(settings) as store:
        pairs = store.list()
    assert {p.source for p in pairs} == {"fact", "link", "abstention"}, report.generation_failures
    for pair in pairs:
        assert pair.note_path in NOTES and pair.generator == vllm_server.model
        assert pair.prompt_version in {"facts-2", "links-1", "abstention-1"}
    for pair in pairs:
        question, answer = (message["content"] for message in pair.messages)
        note = (vault / pair.note_path).read_text(encoding="utf-8")
        if pair.source == "fact":
            assert written_in(question, pair.language) and written_in(answer, pair.language)
        if pair.source == "link":  # grounded in the two notes together
            note += "\n" + (vault / pair.heading).read_text(encoding="utf-8")
        if pair.source == "abstention":
            assert answer == NOT_IN_NOTES and pair.status == "pending", pair
        else:
            grounded = lexical_support(answer, note) >= 0.5
            assert grounded or pair.status == "rejected", pair
    rejected = sum(p.status == "rejected" for p in pairs)
    assert report.judge_rejected == rejected  # judged after dedupe: every one is stored
    assert all(r.check in {"language", "answered"} for r in report.quality_rejections)
    assert report.llm_calls > 0 and report.tokens_generated > 0
