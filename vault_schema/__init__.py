"""The vault's language: notes, links, chunks, dialogues and scenes, read from Markdown,
canvases and PDFs.

Pure parsing: nothing here touches the index store, the network or a model.
"""

from vault_schema.budgets import CONTENT_BUDGET, ContentBudget
from vault_schema.canvas import parse_canvas
from vault_schema.chunks import Chunk, chunk_id, chunk_note, count_tokens, properties_text
from vault_schema.dates import note_date, note_dates
from vault_schema.dialogues import Dialogue, Role, Turn, extract_dialogue
from vault_schema.files import (
    FILE_KINDS,
    SkippedFile,
    file_kind,
    iter_note_paths,
    iter_vault_files,
    note_name,
    read_note,
    templates_folder,
    vault_excludes,
)
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
from vault_schema.pdfs import iter_pdf_pages, read_pdf
from vault_schema.privacy_rule import is_private
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
    "CONTENT_BUDGET",
    "FILE_KINDS",
    "Block",
    "Callout",
    "Chunk",
    "ContentBudget",
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
    "file_kind",
    "is_private",
    "is_scene_note",
    "iter_note_paths",
    "iter_pdf_pages",
    "iter_vault_files",
    "load_vault",
    "note_date",
    "note_dates",
    "note_name",
    "parse_canvas",
    "parse_note",
    "properties_text",
    "read_note",
    "read_pdf",
    "read_scenes",
    "resolve_links",
    "templates_folder",
    "vault_excludes",
]
