"""Chat transcripts kept as callouts (`dialogues.extract_dialogue`)."""

from __future__ import annotations

from datetime import datetime

import pytest
from vaults import SAMPLES, needs_samples

from vault_schema import Role, extract_dialogue, parse_note, read_note

TRANSCRIPT = """\
>[!nexus_user] **User** - 26.07.2025 at 9:43
> What is a **LoRA**?
>
> Explain briefly.
<!-- UID: u-1 -->

### Commentary written later
See [[LoRA]], not part of any turn.

> [!nexus_agent] **Assistant** - 26.07.2025 at 9:45
> A low-rank adapter:
> > nested quote
> | a | b |
<!-- UID: a-1 -->

> [!note] An ordinary callout
> not a turn
"""


def test_turns_with_roles_timestamps_text_and_uids() -> None:
    dialogue = extract_dialogue(parse_note("chat.md", TRANSCRIPT))
    assert dialogue is not None
    assert [(t.role, t.timestamp, t.line, t.uid) for t in dialogue.turns] == [
        (Role.USER, datetime(2025, 7, 26, 9, 43), 1, "u-1"),
        (Role.ASSISTANT, datetime(2025, 7, 26, 9, 45), 10, "a-1"),
    ]
    assert dialogue.turns[0].text == "What is a **LoRA**?\n\nExplain briefly."
    assert dialogue.turns[1].text == "A low-rank adapter:\n> nested quote\n| a | b |"
    assert all("Commentary" not in t.text and "not a turn" not in t.text for t in dialogue.turns)
    assert dialogue.started == datetime(2025, 7, 26, 9, 43)


def test_callout_types_are_parameters() -> None:
    text = "> [!Me] 2025-01-02 10:00\n> hi\n\n> [!Bot] no date here\n> hello\n"
    note = parse_note("chat.md", text)
    assert extract_dialogue(note) is None  # the default types are not in this note
    dialogue = extract_dialogue(note, user_callouts=["me"], assistant_callouts=["BOT"])
    assert dialogue is not None
    assert [(t.role, t.text, t.timestamp, t.uid) for t in dialogue.turns] == [
        (Role.USER, "hi", datetime(2025, 1, 2, 10, 0), None),
        (Role.ASSISTANT, "hello", None, None),
    ]


def test_a_callout_inside_code_is_no_turn() -> None:
    note = parse_note("a.md", "```\n>[!nexus_user] **User** - 26.07.2025 at 9:43\n> hi\n```\n")
    assert extract_dialogue(note) is None


def test_frontmatter_shifts_turn_lines_and_uid_lookup() -> None:
    note = parse_note("a.md", "---\nk: v\n---\n" + TRANSCRIPT)
    dialogue = extract_dialogue(note)
    assert dialogue is not None
    assert [(t.line, t.uid) for t in dialogue.turns] == [(4, "u-1"), (13, "a-1")]


@needs_samples
@pytest.mark.parametrize(
    ("name", "when", "uids", "lines"),
    [
        (
            "05_я_видел_кмрилл_каждый.md",
            datetime(2025, 7, 26, 9, 43),
            ("79e31710-5fc2-4ffd-923b-483ebaa822e9", "65966786-5c9a-4678-b75b-1e452a11d83b"),
            (1, 73),
        ),
        (
            "02_что_нам_полезного.md",
            datetime(2025, 7, 28, 17, 35),
            ("a2ae305a-754c-444c-969b-a3fcf819c522", "b69ea0d8-491e-4a86-bad7-8a3e650de15a"),
            (1, 63),
        ),
    ],
)
def test_real_transcripts(
    name: str, when: datetime, uids: tuple[str, str], lines: tuple[int, int]
) -> None:
    note = read_note(SAMPLES, name)
    dialogue = extract_dialogue(note)
    assert dialogue is not None
    assert [t.role for t in dialogue.turns] == [Role.USER, Role.ASSISTANT]
    assert [t.timestamp for t in dialogue.turns] == [when, when]
    assert tuple(t.uid for t in dialogue.turns) == uids
    assert tuple(t.line for t in dialogue.turns) == lines
    user, assistant = dialogue.turns
    assert not user.text.startswith(">") and "\n>" not in user.text
    assert "#### Sources" not in user.text + assistant.text  # the commentary is no turn
    assert "UID" not in assistant.text


@needs_samples
def test_real_transcript_texts() -> None:
    dialogue = extract_dialogue(read_note(SAMPLES, "02_что_нам_полезного.md"))
    assert dialogue is not None
    assert dialogue.turns[0].text == "что нам полезного?"
    assert dialogue.turns[1].text.startswith("Вот **что конкретно может быть полезно тебе**")
    assert dialogue.turns[1].text.endswith("Скажи, в каком направлении хочешь двинуться?")
