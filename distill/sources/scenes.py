"""Scene pairs: the training examples the person wrote by hand, taken verbatim.

A scene (`vault_schema.scenes`: a ```yaml block of `kind: scene` in any note,
or the frontmatter of a note marked `overlay: scene`) becomes one pair: its
system prompt, when it has one, as the first (system) message, then its turns as
written. The person wrote them, so they are `approved` from the start; review
still lists them, to reject or edit. Near duplicate detection never drops them
(`distill.pipeline`). A scene without a stated language gets the detected one. A
broken scene gives no pair: its error comes back as a failure of the run
(`overlay scenes check` lists them all). No model is called.
"""

from __future__ import annotations

from datetime import datetime

from distill.language import detect_language
from distill.pairs import Message, Pair
from vault_schema import Note, Scene, read_scenes
from vault_schema.scenes import SCHEMA_VERSION

SOURCE = "scene"
PROMPT_VERSION = SCHEMA_VERSION  # the format they were read by
GENERATOR = "person"
STATUS = "approved"


def scene_pairs(note: Note, date: datetime) -> tuple[list[Pair], list[str]]:
    """The note's scenes as pairs dated `date`, and `path:line: message` for each
    broken one."""
    scenes, errors = read_scenes(note)
    pairs = {pair.id: pair for pair in (_pair(note, scene, date) for scene in scenes)}
    return list(pairs.values()), [str(error) for error in errors]


def _pair(note: Note, scene: Scene, date: datetime) -> Pair:
    messages: list[Message] = [{"role": "system", "content": scene.system}] if scene.system else []
    messages += [{"role": str(turn.role), "content": turn.text} for turn in scene.turns]
    said = "\n".join(turn.text for turn in scene.turns)
    return Pair.make(
        messages,
        note_path=note.path,
        source=SOURCE,
        heading=scene.heading,
        content_hash=note.content_hash,
        generator=GENERATOR,
        prompt_version=PROMPT_VERSION,
        language=scene.language or detect_language(said),
        note_date=date,
        status=STATUS,
    )
