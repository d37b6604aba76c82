"""Replay: the base model's own answers to general prompts, mixed into training to limit
forgetting (distill/replay.py); the share they make up, the prompts, cut-off answers.
The generation on the real model is in tests/test_training.py and tests/test_budget.py.
"""

from __future__ import annotations

import pytest

from distill.replay import complete_sentences, load_replay_prompts
from distill.training_data import replay_count
from overlay.errors import ConfigError


def test_replay_makes_up_its_share_of_the_training_set() -> None:
    assert replay_count(80, 0.2) == 20  # 20 of 100 examples
    assert replay_count(4, 0.2) == 1
    assert replay_count(10, 0.0) == 0
    assert replay_count(0, 0.5) == 0


def test_replay_prompts_are_in_english_and_russian() -> None:
    prompts = load_replay_prompts("general-1")

    assert len(prompts) == 40
    assert sum(any("а" <= ch <= "я" for ch in p.lower()) for p in prompts) == 20
    assert not any(p.startswith("#") for p in prompts)
    with pytest.raises(ConfigError, match="general-99"):
        load_replay_prompts("general-99")


def test_a_cut_off_replay_answer_keeps_its_complete_sentences() -> None:
    assert complete_sentences("Paris is the capital. It has the Louvre and the Eif") == (
        "Paris is the capital."
    )
    assert complete_sentences("Небо голубое! Потому что рассеива") == "Небо голубое!"
    assert complete_sentences("no sentence ends here") == ""
