"""Files of a vault on disk: which ones are notes, and reading one safely.

Reading never writes and never stops a run: a file Overlay cannot or should
not read raises `SkippedFile`, whose `warning` says why ('binary': a NUL byte
in the first 8 KiB; 'too-large': over `max_bytes`; 'unreadable': an OS error
or a path outside the vault; 'vanished': deleted between listing and reading).
Text that is not UTF-8 is decoded with replacement characters and the note
carries a ParseWarning(code='encoding').
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import replace
from fnmatch import fnmatchcase
from pathlib import Path

from vault_schema.notes import Note, ParseWarning
from vault_schema.parser import parse_note
from vault_schema.vault_paths import RefusedPath, VaultListing, is_hidden, list_vault, open_regular

BINARY_SNIFF_BYTES = 8192


class SkippedFile(Exception):
    """A file left out of a load, with the reason as a ParseWarning."""

    def __init__(self, warning: ParseWarning) -> None:
        super().__init__(f"{warning.path}: {warning.message}")
        self.warning = warning


def read_note(vault: Path, path: str, *, max_bytes: int = 5_000_000) -> Note:
    """Read and parse the note at vault-relative `path`; raises SkippedFile."""
    data, mtime = _read_bytes(vault, path, max_bytes)
    if b"\x00" in data[:BINARY_SNIFF_BYTES]:
        raise SkippedFile(ParseWarning(path, "binary", "looks binary (NUL bytes); skipped"))
    digest = hashlib.sha256(data).hexdigest()
    try:
        text, warning = data.decode("utf-8"), None
    except UnicodeDecodeError as error:
        text = data.decode("utf-8", errors="replace")
        warning = ParseWarning(
            path,
            "encoding",
            f"not valid UTF-8 (first bad byte at "
            f"{error.start}); decoded with replacement characters",
        )
    note = parse_note(path, text, mtime=mtime, content_hash=digest)
    if warning is None:
        return note
    return _with_warning(note, warning)


def _read_bytes(vault: Path, path: str, max_bytes: int) -> tuple[bytes, float]:
    try:
        handle = open_regular(vault, path)  # refuses links out, loops, FIFOs, `../`
    except RefusedPath as refused:
        raise SkippedFile(ParseWarning(path, refused.code, refused.reason)) from refused
    try:
        with handle:
            stat = os.fstat(handle.fileno())
            if stat.st_size > max_bytes:
                raise SkippedFile(
                    ParseWarning(
                        path,
                        "too-large",
                        f"{stat.st_size} bytes, over the {max_bytes}-byte limit; skipped",
                    )
                )
            return handle.read(max_bytes + 1), stat.st_mtime
    except OSError as error:
        raise SkippedFile(
            ParseWarning(path, "unreadable", f"cannot read: {error.strerror or error}")
        ) from error


def _with_warning(note: Note, warning: ParseWarning) -> Note:
    return replace(note, warnings=(warning, *note.warnings))


def iter_vault_files(vault: Path, exclude: Sequence[str] = ()) -> Iterator[str]:
    """Every file of the vault, as sorted vault-relative POSIX paths.

    Hidden files and folders (`.obsidian/`, `.trash/`, `.git/`) are skipped, as
    are paths matching an `exclude` glob (`fnmatch` on the vault-relative path;
    `*` crosses folders; a pattern naming a folder skips what is inside it), and
    whatever `vault_paths.list_vault` refuses (links out, loops, FIFOs).
    """
    return iter(list_vault_files(vault, exclude).files)


def list_vault_files(
    vault: Path, exclude: Sequence[str] = (), under: str | None = None
) -> VaultListing:
    """The vault's files (at or below `under`) and the ones refused, with the reasons."""
    return list_vault(vault, lambda path: is_hidden(path) or is_excluded(path, exclude), under)


def iter_note_paths(vault: Path, exclude: Sequence[str] = ()) -> Iterator[str]:
    """The vault's notes (`*.md`), like `iter_vault_files`."""
    return (path for path in iter_vault_files(vault, exclude) if path.endswith(".md"))


def is_excluded(path: str, patterns: Sequence[str]) -> bool:
    """Whether a vault-relative path matches one of the exclude globs."""
    for pattern in patterns:
        pattern = pattern.strip().strip("/")
        if not pattern:
            continue
        if fnmatchcase(path, pattern) or fnmatchcase(path, pattern.removeprefix("**/")):
            return True
    return False
