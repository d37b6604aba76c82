"""A whole vault read at once: every note parsed, every link resolved."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vault_schema.files import (
    DEFAULT_MAX_BYTES,
    FILE_KINDS,
    SkippedFile,
    file_kind,
    iter_vault_files,
    read_note,
    vault_excludes,
)
from vault_schema.links import LinkResolver, resolve_links
from vault_schema.notes import Note, ParseWarning


@dataclass
class Vault:
    """The notes of a vault by vault-relative path, and the files left out (with why)."""

    root: Path
    notes: dict[str, Note] = field(default_factory=dict)
    skipped: list[ParseWarning] = field(default_factory=list)
    resolver: LinkResolver = field(default_factory=lambda: LinkResolver(()))

    @property
    def warnings(self) -> list[ParseWarning]:
        """Skipped files first, then what notes were read around (bad YAML, encoding)."""
        return [*self.skipped, *(w for note in self.notes.values() for w in note.warnings)]


def load_vault(
    root: Path,
    *,
    exclude: Sequence[str] = (),
    max_bytes: int = DEFAULT_MAX_BYTES,
    kinds: Sequence[str] = FILE_KINDS,
    exclude_templates: bool = True,
) -> Vault:
    """Read every note, canvas and PDF (those of `kinds`) under `root` (see
    `files.iter_vault_files` for what is skipped; the Templates folder is too,
    unless `exclude_templates` is false).

    One bad file never stops the load: it lands in `Vault.skipped`. Links resolve
    against all files, so links to attachments (`![[image.png]]`) resolve too.
    Raises NotADirectoryError when `root` is not a folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a folder")
    files = list(iter_vault_files(root, vault_excludes(root, exclude, templates=exclude_templates)))
    notes: dict[str, Note] = {}
    skipped: list[ParseWarning] = []
    for path in files:
        if file_kind(path) not in kinds:
            continue
        try:
            notes[path] = read_note(root, path, max_bytes=max_bytes)
        except SkippedFile as skip:
            skipped.append(skip.warning)
    resolver = LinkResolver(files, {path: note.aliases for path, note in notes.items()})
    resolved = {path: resolve_links(note, resolver) for path, note in notes.items()}
    return Vault(root, resolved, skipped, resolver)
