"""Scenes: training examples the person wrote by hand, kept in their notes.

A scene is a fenced ```yaml block whose `kind` is `scene`, in any note:

    ```yaml
    kind: scene
    system: Ты — память Льва. Отвечай коротко.   # optional
    language: ru                                 # optional: ru or en
    tags: [anya, gifts]                          # optional
    turns:
      - user: Что подарить Ане на день рождения?
      - assistant: |
          Из того, что она называла сама: чернила цвета тёмной бирюзы…
    ```

`turns` alternate, starting with the user's message and ending with the
assistant's answer; more than one exchange makes a multi-turn example. Several
examples in one block go in a list under `examples:` (each with its own `turns`
and optional `system`, `language`, `tags`; the block's own `system`, `language`
and `tags` are their defaults); several blocks in one note work as well.
`scene.schema.json` (JSON Schema 2020-12, next to this module) is the format;
the turn order is the one rule it cannot say, checked here.

A note whose frontmatter says `overlay: scene` (or `kind: scene`) is a scene
note. Its frontmatter may itself be a scene: `turns` or `examples` there, with
the same keys as a block (`system`, `language`, `tags`); the note's other
properties (`created`, `aliases`, …) are its own and not checked:

    ---
    overlay: scene
    language: ru
    turns:
      - user: Чем кормить Фунтика?
      - assistant: Влажным кормом с индейкой, не с курицей.
    ---

Every ```yaml block of a scene note must be a scene and the note must hold at
least one scene, so a forgotten `kind: scene` is reported rather than silently
skipped. A note's frontmatter `language` (ru or en) is the default language of
its scenes; where no level says it, `Scene.language` is None and the reader
detects it.

An answer holding a code fence: open the scene with a longer fence (````yaml).
Every line number is a 1-based line of the file, frontmatter included: errors
point at the offending key or turn where YAML says where it is (for a
frontmatter scene, the frontmatter's line). Pure: nothing here reads a file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from importlib.resources import files
from typing import Any

import yaml
from jsonschema import Draft202012Validator, ValidationError

from vault_schema.dialogues import Role, Turn
from vault_schema.markdown import FENCE_OPEN, fence_ranges, quote_depth, unquoted
from vault_schema.notes import Note

SCHEMA: dict[str, Any] = json.loads(
    files("vault_schema").joinpath("scene.schema.json").read_text(encoding="utf-8")
)
SCHEMA_VERSION = "scene-1"  # the schema's version: bump with a change to the format
LANGUAGES: tuple[str, ...] = tuple(SCHEMA["$defs"]["language"]["enum"])
_VALIDATOR = Draft202012Validator(SCHEMA)
_MEANS_SCENE = re.compile(r"^[ \t]*kind[ \t]*:[ \t]*['\"]?scene['\"]?[ \t]*(?:#.*)?$", re.M | re.I)
_MARKS_SCENE_NOTE = re.compile(
    r"^(?:overlay|kind)[ \t]*:[ \t]*['\"]?scene['\"]?[ \t]*(?:#.*)?$", re.M | re.I
)
_SCENE_KEYS = tuple(SCHEMA["properties"])  # what a frontmatter scene takes from the properties
_MARKERS = ("overlay", "kind")  # frontmatter keys that make a note a scene note
_TURN_KEYS = {"user", "assistant"}


@dataclass(frozen=True, slots=True)
class Scene:
    """One hand-written example: the turns as written (trimmed), with its defaults applied."""

    path: str  # the note's vault-relative path
    line: int  # 1-based file line where the example starts
    turns: tuple[Turn, ...]  # alternating, user first, assistant last; no timestamps
    system: str | None = None
    language: str | None = None  # 'ru' or 'en' as written; None: not said, detect it
    tags: tuple[str, ...] = ()
    heading: str = ""  # the nearest heading above the block


@dataclass(frozen=True, slots=True)
class SceneError:
    """Why a scene (or a note marked as a scene note) cannot be used, and where."""

    path: str
    line: int  # 1-based file line
    message: str
    scene_line: int = 0  # where the broken scene (a block, or one example of a list) starts

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def is_scene_note(note: Note) -> bool:
    """Whether the note's frontmatter says `overlay: scene` (or `kind: scene`)."""
    return any(str(note.frontmatter.get(key, "")).strip().lower() == "scene" for key in _MARKERS)


def extract_scenes(note: Note) -> list[Scene]:
    """The note's valid scenes, in file order; broken ones are left out (see check_scenes)."""
    return read_scenes(note)[0]


def check_scenes(note: Note) -> list[SceneError]:
    """What is wrong with the note's scenes, in file order; empty when all are fine."""
    return read_scenes(note)[1]


def read_scenes(note: Note) -> tuple[list[Scene], list[SceneError]]:
    """The note's valid scenes and the errors of the broken ones, in one pass.

    A broken example of an `examples:` list costs only itself; any other error
    (YAML syntax, a key of the block) costs the whole block.
    """
    scenes: list[Scene] = []
    errors: list[SceneError] = []
    scene_note = is_scene_note(note)
    blocks = [
        block for block in _yaml_blocks(note) if scene_note or _MEANS_SCENE.search(block.text)
    ]
    frontmatter = _frontmatter_scene(note)
    for block in [frontmatter, *blocks] if frontmatter else blocks:
        found, wrong = _Block(note, block).read()
        scenes += found
        errors += wrong
    if scene_note and not scenes and not errors:
        message = (
            "marked as a scene note but holds no scene: give it `turns` in the frontmatter "
            "or a ```yaml block with `kind: scene`"
        )
        errors.append(SceneError(note.path, _marker_line(note), message))
    return scenes, errors


def _frontmatter_scene(note: Note) -> _Fenced | None:
    """The frontmatter as a scene: a scene note's frontmatter holding `turns` or
    `examples`, or one marked as a scene note whose YAML did not load (to say why)."""
    holds = is_scene_note(note) and any(key in note.frontmatter for key in ("turns", "examples"))
    unreadable = not note.frontmatter and _MARKS_SCENE_NOTE.search(note.frontmatter_text)
    if holds or unreadable:
        return _Fenced(note.frontmatter_text, 1, "", frontmatter=True)
    return None


def _marker_line(note: Note) -> int:
    """The file line of the frontmatter's `overlay: scene` (line 1 if not found)."""
    for index, line in enumerate(note.frontmatter_text.split("\n")):
        if _MARKS_SCENE_NOTE.match(line):
            return index + 2  # the frontmatter starts on line 2, after `---`
    return 1


@dataclass(frozen=True, slots=True)
class _Fenced:
    text: str  # the YAML, quote prefixes removed
    line: int  # file line of the opening fence (the frontmatter's: its `---`, line 1)
    heading: str
    frontmatter: bool = False  # the note's properties: only their scene keys are the scene


def _yaml_blocks(note: Note) -> Iterator[_Fenced]:
    """The note's fenced blocks marked `yaml` or `yml`, closing fence left out."""
    lines = note.body.split("\n")
    for first, last in fence_ranges(lines):
        opening = FENCE_OPEN.match(unquoted(lines[first]))
        assert opening is not None  # fence_ranges starts every range at an opening fence
        info = unquoted(lines[first])[opening.end() :].split()
        if not info or info[0].lower() not in ("yaml", "yml"):
            continue
        fence = opening.group(1)
        closing = unquoted(lines[last]).strip()
        closed = last > first and closing == fence[0] * len(closing) and len(closing) >= len(fence)
        content = lines[first + 1 : last if closed else last + 1]
        if quote_depth(lines[first]):
            content = [unquoted(line) for line in content]
        line = note.body_line_offset + first + 1
        yield _Fenced("\n".join(content), line, _heading_above(note, line))


def _heading_above(note: Note, line: int) -> str:
    above = [heading.text for heading in note.headings if heading.line < line]
    return above[-1] if above else ""


KeyPath = tuple[str | int, ...]  # keys and list indexes from the block's top


class _Block:
    """One ```yaml block meant as a scene: loaded, validated, turned into scenes."""

    def __init__(self, note: Note, fenced: _Fenced) -> None:
        self.note, self.fenced = note, fenced
        self.root: yaml.Node | None = None

    def read(self) -> tuple[list[Scene], list[SceneError]]:
        try:
            data = self._load()
        except yaml.YAMLError as error:
            return [], [self._syntax_error(error)]
        if not isinstance(data, dict):
            return [], [self._error((), "a scene is a mapping of keys: kind, turns, …")]
        if self.fenced.frontmatter:
            data = _scene_properties(data)
        if "kind" not in data:  # only a scene note's blocks get here without one
            return [], [
                self._error(
                    (),
                    "every ```yaml block of a scene note is a scene: this one needs `kind: scene`",
                )
            ]
        found = [pair for error in _VALIDATOR.iter_errors(data) for pair in self._explain(error)]
        paths, errors = [path for path, _ in found], [error for _, error in found]
        whole_block = any(not _under(path, ("examples",)) or len(path) < 2 for path in paths)
        scenes = []
        for prefix, example in _examples(data):
            turns_path = (*prefix, "turns")
            if any(_under(path, turns_path) for path in paths) or not _has_turns(example):
                continue
            order = list(_turn_order(example["turns"]))
            errors += [self._error((*turns_path, i), message) for i, message in order]
            if not (order or whole_block or any(_under(path, prefix) for path in paths)):
                scenes.append(self._scene(prefix, example, data))
        return scenes, sorted(errors, key=_by_line)

    def _load(self) -> Any:
        loader = yaml.SafeLoader(self.fenced.text)
        try:
            self.root = loader.get_single_node()
            return loader.construct_document(self.root) if self.root is not None else None
        finally:
            loader.dispose()

    def _scene(self, prefix: KeyPath, example: dict[str, Any], block: dict[str, Any]) -> Scene:
        turns = tuple(
            Turn(Role(role), text.strip(), None, self._line((*prefix, "turns", index)))
            for index, turn in enumerate(example["turns"])
            for role, text in turn.items()
        )
        system = example.get("system", block.get("system"))
        stated = self.note.frontmatter.get("language")
        language = example.get(
            "language", block.get("language", stated if stated in LANGUAGES else None)
        )
        tags = dict.fromkeys(
            tag.strip() for tag in [*block.get("tags", ()), *example.get("tags", ())]
        )
        return Scene(
            self.note.path,
            self._line(prefix),
            turns,
            system.strip() if system else None,
            language,
            tuple(tags),
            self.fenced.heading,
        )

    # ---- where and why ----

    def _line(self, path: KeyPath, *, at_key: bool = False) -> int:
        """The file line of the node at `path` (of the last key itself with `at_key`),
        or of the deepest node on the way there."""
        node = self.root
        for index, step in enumerate(path):
            child = _child(node, step, key=at_key and index == len(path) - 1)
            if child is None:
                break
            node = child
        offset = node.start_mark.line if node is not None else 0
        return self.fenced.line + 1 + offset

    def _error(self, path: KeyPath, message: str, *, at_key: bool = False) -> SceneError:
        where = _location(path[:-1] if at_key else path)
        text = f"{where}: {message}" if where else message
        scene = path[:2] if _under(path, ("examples",)) and len(path) > 1 else ()
        # a key's line, not its value's: a block list or mapping starts on the next line
        line = self._line(path, at_key=bool(path) and isinstance(path[-1], str))
        return SceneError(self.note.path, line, text, self._line(scene))

    def _syntax_error(self, error: yaml.YAMLError) -> SceneError:
        first = self.fenced.line + 1
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error).split("\n", 1)[0]
        message = f"not valid YAML: {problem}"
        context, context_mark = (
            getattr(error, "context", None),
            getattr(error, "context_mark", None),
        )
        if context and context_mark is not None:
            message += f" ({context} on line {first + context_mark.line})"
        if problem == "mapping values are not allowed here":
            message += "; a message holding ': ' needs quotes or a `|` block"
        return SceneError(self.note.path, first + (mark.line if mark else 0), message, first)

    def _explain(self, error: ValidationError) -> Iterator[tuple[KeyPath, SceneError]]:
        """(path, error) for one schema error; an unknown key points at the key."""
        path: KeyPath = tuple(error.absolute_path)
        if error.validator == "additionalProperties":
            allowed = error.schema.get("properties", {})
            for key in (key for key in error.instance if key not in allowed):
                where = (*path, str(key))
                yield where, self._error(where, _unknown_key(key, allowed), at_key=True)
            return
        yield path, self._error(path, _explanation(error, path))


def _scene_properties(properties: dict[str, Any]) -> dict[str, Any]:
    """The scene keys of a note's properties, `kind: scene` implied; `tags` as Obsidian
    also takes them (one text, or left empty)."""
    data = {key: properties[key] for key in _SCENE_KEYS if key in properties}
    data.setdefault("kind", "scene")
    tags = data.get("tags")
    if tags is None:
        data.pop("tags", None)
    elif isinstance(tags, str):
        data["tags"] = [tag for tag in re.split(r"[,\s]+", tags) if tag]
    return data


def _examples(data: dict[str, Any]) -> Iterator[tuple[KeyPath, Any]]:
    if "examples" not in data:
        yield (), data
    elif isinstance(data["examples"], list):
        for index, example in enumerate(data["examples"]):
            yield ("examples", index), example


def _has_turns(example: Any) -> bool:
    return (
        isinstance(example, dict)
        and isinstance(example.get("turns"), list)
        and bool(example["turns"])
    )


def _under(path: KeyPath, prefix: KeyPath) -> bool:
    return path[: len(prefix)] == prefix


def _by_line(error: SceneError) -> int:
    return error.line


def _child(node: yaml.Node | None, step: str | int, *, key: bool = False) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value in node.value:
            if key_node.value == str(step):
                found: yaml.Node = key_node if key else value
                return found
    if isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
        child: yaml.Node = node.value[step]
        return child
    return None


def _location(path: KeyPath) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else f".{step}" if text else str(step)
    return text


def _unknown_key(key: object, allowed: Iterable[str]) -> str:
    if set(allowed) == _TURN_KEYS:
        return f"unknown key {key!r} in a turn: write `- user: …` or `- assistant: …`"
    return f"unknown key {key!r}; known keys here: {', '.join(allowed)}"


def _explanation(error: ValidationError, path: KeyPath) -> str:
    """A message a person can act on, for the schema errors a scene can have."""
    kind, value, instance = error.validator, error.validator_value, error.instance
    if kind == "required":
        missing = [key for key in value if key not in instance]
        if missing == ["kind"]:
            return "missing `kind: scene` (every ```yaml block of a scene note is a scene)"
        return f"missing `{'`, `'.join(missing)}`"
    if kind == "oneOf":
        both = "turns" in instance and "examples" in instance
        return "a scene holds `turns` (one example) or `examples` (several), " + (
            "not both" if both else "and this has neither"
        )
    if kind == "type":
        return _wrong_type(value, instance)
    if kind == "pattern":
        return "is empty"
    if kind == "const":
        return "must be `scene`"
    if kind == "enum":
        return f"{instance!r} is not one of: {', '.join(str(v) for v in value)}"
    if kind == "minItems" and path[-1:] == ("turns",):
        return "an example needs a question and its answer: at least two turns"
    if kind == "maxProperties":
        return "one message per turn: give each its own `- user: …` or `- assistant: …`"
    if kind == "minProperties":
        return "an empty turn: write `- user: …` or `- assistant: …`"
    return str(error.message)


def _wrong_type(expected: str, instance: object) -> str:
    if instance is None:
        return "is empty"
    if expected == "string" and isinstance(instance, bool | int | float | date):
        read_as = "a yes/no value" if isinstance(instance, bool) else type(instance).__name__
        return f"is not text (YAML read it as {read_as}): put it in quotes"
    names = {"string": "text", "array": "a list, e.g. [a, b]", "object": "a mapping of keys"}
    return f"must be {names.get(expected, expected)}"


def _turn_order(turns: Sequence[dict[str, str]]) -> Iterator[tuple[int, str]]:
    """(turn index, message) for each break of the order: user first, then alternating,
    the assistant last."""
    roles = [next(iter(turn)) for turn in turns]
    if roles[0] != "user":
        yield 0, "the first turn must be the user's"
    for index in range(1, len(roles)):
        if roles[index] == roles[index - 1]:
            yield index, f"two {roles[index]} turns in a row: turns alternate user, assistant"
    if roles[-1] != "assistant":
        yield len(roles) - 1, "the last turn must be the assistant's answer"
