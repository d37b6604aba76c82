"""Files of a vault on disk: which ones are notes, and reading one safely.

Three kinds of file are read as notes (`FILE_KINDS`): Markdown (`md`), canvases
(`canvas`, see `canvas.py`) and PDFs (`pdf`, see `pdfs.py`); every other file is
an attachment, which links resolve to but which holds no text. The folder that
Obsidian's core Templates plugin names in `.obsidian/templates.json` is left
out by default (`templates_folder`): template placeholders are not facts.

Reading never writes and never stops a run: a file Overlay cannot or should
not read raises `SkippedFile`, whose `warning` says why ('binary': a NUL byte
in the first 8 KiB; 'too-large': over `max_bytes`; 'unreadable': an OS error
or a path outside the vault; 'vanished': deleted between listing and reading).
Text that is not UTF-8 is decoded with replacement characters and the note
carries a ParseWarning(code='encoding'). PDFs add 'encrypted', 'broken-pdf'
and 'no-text' (see `pdfs.py`), and every kind adds 'over-budget': a file that
holds more than its parser takes on (see `budgets.py`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import replace
from fnmatch import fnmatchcase
from io import BufferedReader
from pathlib import Path

from vault_schema.budgets import CONTENT_BUDGET, OVER_BUDGET, ContentBudget
from vault_schema.canvas import parse_canvas
from vault_schema.notes import Note, ParseWarning, SkippedFile
from vault_schema.parser import parse_note
from vault_schema.pdfs import read_pdf
from vault_schema.vault_paths import (
    RefusedPath,
    VaultListing,
    is_hidden,
    list_vault,
    open_regular,
    stored_name,
    vault_relative,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "FILE_KINDS",
    "SkippedFile",
    "file_kind",
    "is_excluded",
    "iter_note_paths",
    "iter_vault_files",
    "note_name",
    "read_note",
    "templates_folder",
    "vault_excludes",
]

BINARY_SNIFF_BYTES = 8192
DEFAULT_MAX_BYTES = 50_000_000
FILE_KINDS = ("md", "canvas", "pdf")  # the kinds of file read as notes, by extension


def file_kind(path: str) -> str | None:
    """'md', 'canvas' or 'pdf' by the path's extension (any case); None for an attachment."""
    extension = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    return extension if extension in FILE_KINDS else None


def note_name(vault: Path, path: str) -> str:
    """The stored vault-relative name of a note a person names (relative to the vault, or
    absolute inside it): a file of a kind read as a note (`FILE_KINDS`) that does not
    leave the vault. A note no longer on disk keeps the name given. Raises RefusedPath."""
    given, root = Path(path), vault.resolve()
    if given.is_absolute():
        if not given.is_relative_to(root):
            raise RefusedPath("unreadable", "a path outside the vault")
        path = given.relative_to(root).as_posix()
    try:
        stored = vault_relative(root, stored_name(path.strip("/")))
    except RefusedPath as refused:
        if refused.code != "vanished":
            raise
        stored = stored_name(path.strip("/"))
    if file_kind(stored) is None:
        kinds = ", ".join(f".{kind}" for kind in FILE_KINDS)
        raise RefusedPath("unreadable", f"not a note: only {kinds} files are notes")
    return stored


def read_note(
    vault: Path,
    path: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    budget: ContentBudget = CONTENT_BUDGET,
) -> Note:
    """Read and parse the note, canvas or PDF at vault-relative `path`; raises SkippedFile."""
    if file_kind(path) == "pdf":
        return _read_pdf(vault, path, max_bytes, budget)
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
    parse = parse_canvas if file_kind(path) == "canvas" else parse_note
    note = parse(path, text, mtime=mtime, content_hash=digest, budget=budget)
    over = next((w for w in note.warnings if w.code == OVER_BUDGET), None)
    if over is not None:
        raise SkippedFile(over)
    if warning is None:
        return note
    return _with_warning(note, warning)


def _read_pdf(vault: Path, path: str, max_bytes: int, budget: ContentBudget) -> Note:
    """A PDF is hashed in one pass and parsed page by page from the open file."""
    with _open(vault, path, max_bytes) as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
        handle.seek(0)
        mtime = os.fstat(handle.fileno()).st_mtime
        return read_pdf(path, handle, mtime=mtime, content_hash=digest, budget=budget)


def _read_bytes(vault: Path, path: str, max_bytes: int) -> tuple[bytes, float]:
    with _open(vault, path, max_bytes) as handle:
        try:
            return handle.read(max_bytes + 1), os.fstat(handle.fileno()).st_mtime
        except OSError as error:
            raise SkippedFile(
                ParseWarning(path, "unreadable", f"cannot read: {error.strerror or error}")
            ) from error


def _open(vault: Path, path: str, max_bytes: int) -> BufferedReader:
    """The file opened for reading, once it is known to be a regular file inside the vault
    (no link out, no loop, no FIFO, no `../`) and small enough."""
    try:
        handle = open_regular(vault, path)
    except RefusedPath as refused:
        raise SkippedFile(ParseWarning(path, refused.code, refused.reason)) from refused
    size = os.fstat(handle.fileno()).st_size
    if size > max_bytes:
        handle.close()
        raise SkippedFile(
            ParseWarning(
                path, "too-large", f"{size} bytes, over the {max_bytes}-byte limit; skipped"
            )
        )
    return handle


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


def iter_note_paths(
    vault: Path, exclude: Sequence[str] = (), kinds: Sequence[str] = ("md",)
) -> Iterator[str]:
    """The vault's files of these `kinds` (Markdown notes alone by default), like
    `iter_vault_files`."""
    return (path for path in iter_vault_files(vault, exclude) if file_kind(path) in kinds)


def templates_folder(vault: Path) -> str | None:
    """The folder named by Obsidian's Templates plugin (`.obsidian/templates.json`), if any.
    (Not a top-level `Templates/` without it: kepano's vault keeps the `.base` files its
    notes embed there, which links must still resolve to.)"""
    try:
        settings = json.loads((vault / ".obsidian" / "templates.json").read_text("utf-8"))
    except (OSError, ValueError):
        settings = None
    folder = settings.get("folder") if isinstance(settings, dict) else None
    if isinstance(folder, str) and folder.strip("/ "):
        return folder.strip("/ ")
    return None


def vault_excludes(vault: Path, exclude: Sequence[str], *, templates: bool = True) -> list[str]:
    """`exclude`, plus the Templates folder when `templates` is true and the vault names one."""
    folder = templates_folder(vault) if templates else None
    return [*exclude, folder] if folder else list(exclude)


def is_excluded(path: str, patterns: Sequence[str]) -> bool:
    """Whether a vault-relative path matches one of the exclude globs."""
    for pattern in patterns:
        pattern = pattern.strip().strip("/")
        if not pattern:
            continue
        if fnmatchcase(path, pattern) or fnmatchcase(path, pattern.removeprefix("**/")):
            return True
    return False
