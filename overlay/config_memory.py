"""The memory loop's part of the settings tree (`overlay.config`): how notes become
pairs, how a LoRA is trained, how it is measured; and `Section`, the base of every part.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Section(BaseModel):
    """A settings section; unknown keys are typos, so they are errors."""

    model_config = ConfigDict(extra="forbid")


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
