"""Dialogue pairs: the chat transcripts already in the notes, taken as written.

Each user turn and the assistant turn that answers it make one pair; a note with
more than one exchange also gives the whole conversation as one multi-turn pair,
since later questions there lean on earlier answers. Markup that means nothing
outside Obsidian is removed; headings, lists and tables stay. No model is called.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from itertools import pairwise

from distill.language import detect_language
from distill.pairs import Message, Pair
from overlay.config import ParseSettings
from vault_schema import Note, Role, Turn, extract_dialogue, note_date

SOURCE = "dialogue"
PROMPT_VERSION = "dialogue-1"  # bump when the cleaning rules change: pairs get new ids
GENERATOR = "none"

_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_SPEAKER_LINE = re.compile(r"^\*\*(?:User|Assistant)\*\*(?:\s*-.*)?$", re.MULTILINE)
_FOOTNOTE_DEFINITION = re.compile(r"^\[\^[^\]]+\]:.*$", re.MULTILINE)
_FOOTNOTE_REF = re.compile(r"[ \t]*\[\^[^\]]+\]")
_EMBED = re.compile(r"!\[\[[^\]]*\]\]")
_WIKI_LINK = re.compile(r"\[\[([^\]|#]*)(?:#[^\]|]*)?(?:\|([^\]]*))?\]\]")
_BLOCK_ID = re.compile(r"[ \t]+\^[A-Za-z0-9-]+$", re.MULTILINE)
_BLANK_LINES = re.compile(r"\n{3,}")


def clean_markup(text: str) -> str:
    """The text without Obsidian-only markup: comments, footnotes, link brackets, embeds."""
    text = _COMMENT.sub("", text)
    text = _SPEAKER_LINE.sub("", text)
    text = _FOOTNOTE_DEFINITION.sub("", text)
    text = _FOOTNOTE_REF.sub("", text)
    text = _EMBED.sub("", text)
    text = _WIKI_LINK.sub(lambda m: (m.group(2) or m.group(1)).strip(), text)
    text = _BLOCK_ID.sub("", text)
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


def dialogue_pairs(note: Note, parse: ParseSettings) -> list[Pair]:
    """The note's exchanges as pairs, plus the whole conversation when it has several."""
    dialogue = extract_dialogue(note, parse.user_callouts, parse.assistant_callouts)
    if dialogue is None:
        return []
    fallback = note_date(
        note, user_callouts=parse.user_callouts, assistant_callouts=parse.assistant_callouts
    )
    exchanges = _exchanges(dialogue.turns)
    pairs = [_pair(note, exchange, fallback) for exchange in exchanges]
    if len(exchanges) > 1:
        pairs.append(_pair(note, [turn for exchange in exchanges for turn in exchange], fallback))
    return pairs


def _exchanges(turns: Sequence[Turn]) -> list[list[Turn]]:
    """[user turn, assistant turn] lists, in order; consecutive turns of one role merge,
    a question left unanswered and an answer to nothing are dropped."""
    merged: list[Turn] = []
    for turn in turns:
        text = clean_markup(turn.text)
        if not text:
            continue
        if merged and merged[-1].role == turn.role:
            last = merged.pop()
            turn = Turn(turn.role, f"{last.text}\n\n{text}", last.timestamp, last.line, last.uid)
        else:
            turn = Turn(turn.role, text, turn.timestamp, turn.line, turn.uid)
        merged.append(turn)
    return [
        [question, answer]
        for question, answer in pairwise(merged)
        if question.role is Role.USER and answer.role is Role.ASSISTANT
    ]


def _pair(note: Note, turns: Sequence[Turn], fallback: datetime) -> Pair:
    messages: list[Message] = [{"role": str(turn.role), "content": turn.text} for turn in turns]
    return Pair.make(
        messages,
        note_path=note.path,
        source=SOURCE,
        heading="",  # the headings around a transcript belong to its commentary
        content_hash=note.content_hash,
        generator=GENERATOR,
        prompt_version=PROMPT_VERSION,
        language=detect_language("\n".join(m["content"] for m in messages)),
        note_date=turns[0].timestamp or fallback,
    )
