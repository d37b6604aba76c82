"""The vault's language: notes, links, chunks, dialogues and scenes, read from Markdown.

Pure parsing: nothing here touches the index store, the network or a model.
"""

from vault_schema.chunks import Chunk, chunk_id, chunk_note, count_tokens
from vault_schema.dates import note_date, note_dates
from vault_schema.dialogues import Dialogue, Role, Turn, extract_dialogue
from vault_schema.files import SkippedFile, iter_note_paths, iter_vault_files, read_note
from vault_schema.links import LinkResolver, resolve_links
from vault_schema.notes import (
    Block,
    Callout,
    Footnote,
    Heading,
    Link,
    LinkKind,
    Note,
    ParseWarning,
)
from vault_schema.parser import parse_note
from vault_schema.privacy import is_private
from vault_schema.scenes import (
    Scene,
    SceneError,
    check_scenes,
    extract_scenes,
    is_scene_note,
    read_scenes,
)
from vault_schema.vault import Vault, load_vault

__all__ = [
    "Block",
    "Callout",
    "Chunk",
    "Dialogue",
    "Footnote",
    "Heading",
    "Link",
    "LinkKind",
    "LinkResolver",
    "Note",
    "ParseWarning",
    "Role",
    "Scene",
    "SceneError",
    "SkippedFile",
    "Turn",
    "Vault",
    "check_scenes",
    "chunk_id",
    "chunk_note",
    "count_tokens",
    "extract_dialogue",
    "extract_scenes",
    "is_private",
    "is_scene_note",
    "iter_note_paths",
    "iter_vault_files",
    "load_vault",
    "note_date",
    "note_dates",
    "parse_note",
    "read_note",
    "read_scenes",
    "resolve_links",
]
