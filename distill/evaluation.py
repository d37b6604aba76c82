"""Did the adapter learn the notes, and what did it forget? (DESIGN decision 10.)

Asked on the held-out questions (paraphrases the adapter never trained on,
`PairStore.held_out`), in Russian and in English apart:

- **closed-book recall** of the base model, of the adapter, and of the adapter in
  service (the incumbent the gates compare against, when one is promoted): the share
  of questions whose answer recalls the fact, with no notes in the prompt;
- **the RAG ceiling**: the base model answering with retrieval from the index, as
  chat does. `recovered` = (adapter − base) / (RAG − base) is the share of what
  retrieval adds that the adapter carries by itself;
- **forgetting**: the base model's own answers to general prompts (a versioned file,
  `distill/prompts/forgetting-<n>.txt`, kept apart from the replay prompts training
  sees) scored under the adapter: `exp(mean NLL under the adapter − mean NLL under
  the base) − 1`, how much more perplexing the base's behaviour has become. 0: none;
  0.25: a quarter more. Perplexity rather than comparing generated texts, because
  greedy decoding flips to another wording after one changed token, which makes
  text overlap jump on tiny changes; perplexity moves smoothly with the change, takes
  one forward pass per prompt, and is deterministic.

An answer recalls a fact when it holds at least `eval.recall_threshold` of the
reference answer's **key terms**: its words that are neither stopwords nor already
in the question (so "Your cat is called Фунтик" asked "What is my cat's name?" has
the one key term "фунтик"). Words match case- and ё-insensitively, and words of
four letters or more also when they differ only in the ending (Russian inflection:
"Казань"/"Казани"); numbers must match exactly. Lenient on wording, strict on the
fact; no LLM judge.

Every answer is generated the way chat makes it (`overlay.core.chat.Chat`, greedy,
`eval.max_new_tokens`), in this process with the transformers backend, whatever
backend serves chat.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distill.natural_questions import (
    PREFIX,
    NaturalQuestion,
    ask,
    load_questions,
    natural_metrics,
)
from distill.pairs import Pair, PairStore
from distill.recall_plot import plot_runs
from distill.runs import Run, RunRegistry
from overlay.config import Settings
from overlay.core.chat import Chat, ChatTurn
from overlay.errors import ConfigError, ModelUnavailable
from overlay.progress import Progress, Step
from vault_schema.words import stem

if TYPE_CHECKING:
    from overlay.core.llms.transformers_backend import TransformersLLM
    from overlay.core.retrieval import VaultRetriever

LANGUAGES = ("ru", "en")
PLOT_FILE = "recall.png"  # drawn by distill.recall_plot
DETAILS_FILE = "eval.json"
GENERAL_ANSWER_TOKENS = 64  # the base model's answers to general prompts: a few sentences

_WORD = re.compile(r"\w+")
STOPWORDS = frozenset(
    """
    a an the is are was were be been being am do does did done of in on at to for from by
    with and or but not no yes my your yours his her hers its our their i you he she it we
    they me him them us this that these those what which who whom whose when where why how
    called named name names s there here has have had will would can could should shall
    about as into than then so also just very much many some any all one
    и в во на с со к ко по о об от до из у за для при что чем это этот эта эти как а но
    или ли же бы не ни да то так там тут мой моя моё мое мои моего моей моих твой твоя
    его её ее их наш наша ваш ваша я ты он она оно мы вы они меня мне мной тебя тебе кто
    какой какая какое какие каком какого какую когда где почему зачем сколько зовут
    называется называют был была было были есть
    """.split()
)


# ---- scoring ----


def words(text: str) -> list[str]:
    """The words of `text`, casefolded, with ё read as е."""
    return _WORD.findall(text.casefold().replace("ё", "е"))


def same_word(a: str, b: str) -> bool:
    """Equal, or (both ≥ 4 letters, not numbers) forms of one word: the same stem by
    vault_schema.words, the rule search uses ('Фунтиком' is 'Фунтик')."""
    if a == b:
        return True
    if a.isdigit() or b.isdigit() or min(len(a), len(b)) < 4:
        return False
    return stem(a) == stem(b)


def key_terms(reference: str, question: str = "") -> list[str]:
    """The reference answer's words that carry the fact (see the module docstring)."""
    content = [w for w in dict.fromkeys(words(reference)) if w not in STOPWORDS]
    asked = words(question)
    fresh = [w for w in content if not any(same_word(w, q) for q in asked)]
    return fresh or content or list(dict.fromkeys(words(reference)))


def recall_score(answer: str, reference: str, question: str = "") -> float:
    """The share of the reference's key terms found in `answer` (0 to 1)."""
    terms = key_terms(reference, question)
    if not terms:
        return 0.0
    said = set(words(answer))
    return sum(any(same_word(term, w) for w in said) for term in terms) / len(terms)


# ---- the questions ----


@dataclass(frozen=True)
class Question:
    """A held-out question with its reference answer."""

    pair_id: str
    question: str
    reference: str
    language: str
    fact: str
    note_path: str

    @classmethod
    def of(cls, pair: Pair) -> Question:
        asked = next(m["content"] for m in reversed(pair.messages) if m["role"] == "user")
        fact = pair.fact or hashlib.sha256(pair.messages[-1]["content"].encode()).hexdigest()[:12]
        return cls(
            pair.id, asked, pair.messages[-1]["content"], pair.language, fact, pair.note_path
        )


def held_out_questions(settings: Settings) -> list[Question]:
    """Every held-out question of the pair store (never trained on)."""
    with PairStore.from_settings(settings) as store:
        return [Question.of(pair) for pair in store.held_out()]


def question_set_id(questions: Iterable[Question]) -> str:
    """A short hash of which questions were asked: runs evaluated alike share it."""
    ids = sorted(q.pair_id for q in questions)
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()[:12]


# ---- the evaluation ----


@dataclass
class Evaluation:
    """What `evaluate` measured for one run."""

    run_id: str
    metrics: dict[str, Any]
    answers: list[dict[str, Any]] = field(default_factory=list)  # one row per question
    plot: Path | None = None

    @property
    def fitness(self) -> float:
        """The adapter's closed-book recall on what the gate compares (`eval.gate`): all
        held-out questions, or all natural questions."""
        prefix = PREFIX if self.metrics.get("gate") == "questions" else ""
        return float(self.metrics[f"{prefix}recall_adapter"] or 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run_id,
            "metrics": self.metrics,
            "fitness": self.fitness,
            "plot": str(self.plot) if self.plot else None,
        }


def evaluate(
    settings: Settings,
    run_id: str,
    *,
    llm: TransformersLLM | None = None,
    retriever: VaultRetriever | None = None,
    progress: Progress | None = None,
    plot: bool = True,
    questions_file: Path | None = None,
) -> Evaluation:
    """Measure a trained run, record the metrics in the registry (status `evaluated`
    unless it is promoted or retired) and redraw the plot across runs.

    `llm` is the base model in this process (default: `llm.model` with the
    transformers backend); `retriever` the index to measure the RAG ceiling with
    (without it, the ceiling is not measured); `questions_file` natural questions to
    ask too (default `eval.questions`; `distill.natural_questions`).
    """
    started = time.monotonic()
    natural = _natural_questions(settings, questions_file)
    with RunRegistry.from_settings(settings) as registry:
        run = registry.get(run_id)
        _require_adapter(run)
        questions = held_out_questions(settings)
        if len(questions) < settings.eval.min_questions and settings.eval.gate == "held_out":
            raise ConfigError(
                f"{len(questions)} held-out question(s); an evaluation needs at least "
                f"{settings.eval.min_questions}: distill facts first (overlay distill --source fact)"
            )
        base = base_llm(settings, llm)
        incumbent = registry.promoted()
        models = _models(base, run, incumbent)
        answers = _answer_all(questions, models, retriever, progress)
        metrics = _metrics(questions, answers, settings.eval.recall_threshold)
        metrics["incumbent"] = incumbent.id if incumbent and incumbent.id != run.id else "base"
        chats = {name: Chat(None, model) for name, model in models.items()}  # type: ignore[arg-type]
        asked = ask(natural, chats, progress) if natural else []
        if natural:
            metrics |= natural_metrics(natural, asked, list(models))
        prefixes = ("", PREFIX) if natural else ("",)
        for prefix in prefixes if incumbent is None or incumbent.id == run.id else ():
            for suffix in ("", "_ru", "_en"):
                base_recall = metrics.get(f"{prefix}recall_base{suffix}")
                metrics[f"{prefix}recall_incumbent{suffix}"] = base_recall
        metrics["gate"] = settings.eval.gate
        metrics["forgetting"] = forgetting(settings, base, models["adapter"])
        metrics["eval_seconds"] = round(time.monotonic() - started, 1)
        evaluation = Evaluation(run.id, metrics, answers + asked)
        _record(registry, run, evaluation)
        if plot:
            evaluation.plot = plot_runs(registry.list(), registry.runs_dir / PLOT_FILE)
    return evaluation


def _natural_questions(settings: Settings, given: Path | None) -> list[NaturalQuestion]:
    """The natural questions to ask: `given`, else `eval.questions`; required by that gate."""
    path = given or settings.eval.questions
    if path is None and settings.eval.gate == "questions":
        raise ConfigError(
            "eval.gate is 'questions' but no question file is given: pass --questions FILE "
            "or set eval.questions"
        )
    return load_questions(path) if path else []


def _require_adapter(run: Run) -> None:
    if not (run.adapter / "adapter_config.json").is_file():
        raise ConfigError(f"the run {run.id} has no adapter to evaluate (status: {run.status})")


def base_llm(settings: Settings, llm: TransformersLLM | None) -> TransformersLLM:
    """The base model, greedy, with the evaluation's answer length."""
    from overlay.core.llms.transformers_backend import TransformersLLM

    if llm is None:
        llm = TransformersLLM(
            model=settings.llm.model,
            models_dir=settings.llm.models_dir,
            context_window=settings.llm.context_window,
        )
    base = llm.with_adapter(None)
    base.max_new_tokens = settings.eval.max_new_tokens
    base.temperature = 0.0
    base.thinking = False
    return base


def _models(base: TransformersLLM, run: Run, incumbent: Run | None) -> dict[str, TransformersLLM]:
    from distill.promotion import adapter_name

    models = {"base": base, "adapter": base.with_adapter(run.adapter, adapter_name(run.id))}
    if incumbent is not None and incumbent.id != run.id:
        models["incumbent"] = base.with_adapter(incumbent.adapter, adapter_name(incumbent.id))
    return models


def _answer_all(
    questions: Sequence[Question],
    models: dict[str, TransformersLLM],
    retriever: VaultRetriever | None,
    progress: Progress | None,
) -> list[dict[str, Any]]:
    """Each question answered closed-book by every model, and with retrieval by the base."""
    chats = {name: Chat(retriever, llm) for name, llm in models.items()}  # type: ignore[arg-type]
    rows = []
    for done, question in enumerate(questions, 1):
        turn = [ChatTurn("user", question.question)]
        row: dict[str, Any] = {
            "pair": question.pair_id,
            "question": question.question,
            "reference": question.reference,
            "language": question.language,
            "fact": question.fact,
        }
        for name, chat in chats.items():
            row[name] = chat.answer(turn, rag=False).text
        if retriever is not None:
            row["rag"] = chats["base"].answer(turn, rag=True).text
        rows.append(row)
        if progress is not None:
            progress(Step("asking the held-out questions", done, len(questions)))
    return rows


def _metrics(
    questions: Sequence[Question], answers: Sequence[dict[str, Any]], threshold: float
) -> dict[str, Any]:
    metrics: dict[str, Any] = {
        "questions": len(questions),
        "facts": len({q.fact for q in questions}),
        "question_set": question_set_id(questions),
        "recall_threshold": threshold,
    }
    for row in answers:
        for name in ("base", "adapter", "incumbent", "rag"):
            if name in row:
                score = recall_score(row[name], row["reference"], row["question"])
                row[f"{name}_score"] = round(score, 3)
                row[f"{name}_recalled"] = score >= threshold
    for language in (None, *LANGUAGES):
        rows = [r for r in answers if language is None or r["language"] == language]
        suffix = f"_{language}" if language else ""
        if language:
            metrics[f"questions{suffix}"] = len(rows)
        for name in ("base", "adapter", "incumbent", "rag"):
            recalled = [r[f"{name}_recalled"] for r in rows if f"{name}_recalled" in r]
            metrics[f"recall_{name}{suffix}"] = (
                round(sum(recalled) / len(recalled), 4) if recalled else None
            )
        metrics[f"recovered{suffix}"] = recovered(
            metrics[f"recall_base{suffix}"],
            metrics[f"recall_adapter{suffix}"],
            metrics[f"recall_rag{suffix}"],
        )
    return metrics


def recovered(base: float | None, adapter: float | None, rag: float | None) -> float | None:
    """(adapter − base) / (RAG − base): the share of the RAG ceiling's gain the adapter
    holds by itself; None when there is no gain to recover (or nothing was measured)."""
    if base is None or adapter is None or rag is None or rag <= base:
        return None
    return round((adapter - base) / (rag - base), 4)


# ---- forgetting ----


def forgetting(settings: Settings, base: TransformersLLM, adapter: TransformersLLM) -> float:
    """How much more perplexing the base model's answers to general prompts are under
    the adapter: exp(mean NLL adapter − mean NLL base) − 1, token-weighted."""
    pairs = general_answers(settings, base)
    if not pairs:
        raise ModelUnavailable("the base model gave no usable answer to any general prompt")
    base_nll = answer_nll(base, pairs)
    adapter_nll = answer_nll(adapter, pairs)
    return round(math.exp(adapter_nll - base_nll) - 1.0, 4)


def general_answers(settings: Settings, base: TransformersLLM) -> list[tuple[str, str]]:
    """(prompt, the base model's greedy answer) for the forgetting prompts, cached per base
    model and prompt version (with the replay cache's machinery)."""
    from distill.replay import ReplaySet, load_replay_prompts, replay_cache_path
    from overlay.core.model_files import resolve_model

    version = settings.eval.general_prompts
    prompts = load_replay_prompts(version)
    source = resolve_model(base.model, base.models_dir)
    models = settings.llm.resolved_models_dir()
    path = replay_cache_path(models, source, version, GENERAL_ANSWER_TOKENS)
    answers = ReplaySet(path, source, prompts, max_new_tokens=GENERAL_ANSWER_TOKENS).ensure(prompts)
    return [(prompt, answers[prompt]) for prompt in prompts if answers.get(prompt)]


def answer_nll(llm: TransformersLLM, pairs: Sequence[tuple[str, str]]) -> float:
    """The mean negative log-likelihood per answer token of `pairs` under `llm`."""
    import torch

    total, count = 0.0, 0
    for prompt, answer in pairs:
        rendered = llm.render([{"role": "user", "content": prompt}])
        with llm.active() as (model, tokenizer):
            head = tokenizer(rendered, add_special_tokens=False)["input_ids"]
            tail = tokenizer(answer, add_special_tokens=False)["input_ids"]
            ids = torch.tensor([head + tail], device=model.device)
            labels = ids.clone()
            labels[0, : len(head)] = -100
            with torch.inference_mode():
                loss = model(input_ids=ids, labels=labels).loss
        total += float(loss) * len(tail)
        count += len(tail)
    return total / max(count, 1)


# ---- recording and plotting ----


def _record(registry: RunRegistry, run: Run, evaluation: Evaluation) -> None:
    keep = run.status in ("promoted", "retired")  # a re-evaluation does not take it out of service
    registry.update(
        run.id,
        metrics=evaluation.metrics,
        fitness=evaluation.fitness,
        status=None if keep else "evaluated",
    )
    registry.log_event(
        run.id,
        "evaluated",
        recall_adapter=evaluation.metrics["recall_adapter"],
        recall_base=evaluation.metrics["recall_base"],
        forgetting=evaluation.metrics["forgetting"],
    )
    details = {"metrics": evaluation.metrics, "answers": evaluation.answers}
    (run.folder / DETAILS_FILE).write_text(
        json.dumps(details, ensure_ascii=False, indent=2), encoding="utf-8"
    )
