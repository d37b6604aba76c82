"""The vault as a set of regular files reached without leaving its real path.

Everything that lists or opens a vault file goes through here, so one set of rules
holds for a full sync, the watcher, a `/sync` request and every route:

- a symlink is resolved: one pointing outside the vault, a loop, a broken one, a
  symlinked folder (its target is walked where it really is, so a link to `..` or
  to a sibling folder never duplicates notes) and a link into a hidden or excluded
  path are left out, each with the reason;
- FIFOs, sockets and devices are left out before anything opens them (opening a
  FIFO for reading blocks until a writer comes);
- a file name that is not valid UTF-8 (zip files, rsync) is kept under a lossless,
  reversible name: the file system gives Python surrogate-escaped text, which
  neither SQLite nor Chroma nor JSON accept, so the bad bytes (and `%`) of such a
  name are percent-escaped (`bad\\xffname.md` -> `bad%FFname.md`) for storage and
  display; `fs_path` turns the stored name back into the file's real name.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BufferedReader
from pathlib import Path
from urllib.parse import unquote_to_bytes

SURROGATES = range(0xDC80, 0xDD00)  # what surrogateescape makes of bytes 0x80-0xFF


class RefusedPath(Exception):
    """A vault path Overlay will not open; `code` is a ParseWarning code."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


@dataclass
class VaultListing:
    """The regular files of a vault (stored names, sorted) and what was left out, why."""

    files: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (stored name, reason)


# ---- names ----


def stored_name(name: str) -> str:
    """A file system name or path (surrogate-escaped where not UTF-8) as it is stored and
    shown, a component at a time as `fs_path` reads it back: a component that is valid
    UTF-8 stays as it is, even under a folder whose name is escaped."""
    return "/".join(_stored_part(part) for part in name.split("/"))


def _stored_part(part: str) -> str:
    if not any(ord(char) in SURROGATES for char in part):
        return part
    return "".join(_escape(char) for char in part)


def _escape(char: str) -> str:
    if ord(char) in SURROGATES:
        return f"%{ord(char) - 0xDC00:02X}"
    return "%25" if char == "%" else char


def fs_path(vault: Path, stored: str) -> Path:
    """The file system path of a stored vault-relative name (the inverse of `stored_name`).

    A component is read literally when a file of that literal name exists (a name
    like `100%FF.md` is valid UTF-8 and stored as it is), else as an escape.
    """
    path = vault
    for part in stored.split("/"):
        literal = path / part
        path = literal if os.path.lexists(literal) else path / _unescape(part)
    return path


def _unescape(part: str) -> str:
    if "%" not in part:
        return part
    raw = unquote_to_bytes(part)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return os.fsdecode(raw)
    return part  # an escape always holds a byte that is not UTF-8: this one is literal


# ---- listing ----


def list_vault(
    vault: Path,
    is_left_out: Callable[[str], bool] = lambda path: False,
    under: str | None = None,
) -> VaultListing:
    """The vault's regular files (at or below the stored path `under`), and what was skipped.

    `is_left_out(stored path)` says which paths to leave out silently (hidden ones,
    exclude globs); it is asked for every folder and file on the way.
    """
    walker = _Walker(vault.resolve(), is_left_out)
    if under is None:
        walker.walk_folder(walker.root, "")
    else:
        walker.visit_path(under)
    walker.listing.files.sort()
    walker.listing.skipped.sort()
    return walker.listing


class _Walker:
    def __init__(self, root: Path, is_left_out: Callable[[str], bool]) -> None:
        self.root, self.is_left_out = root, is_left_out
        self.listing = VaultListing()

    def visit_path(self, stored: str) -> None:
        """One path (a file or a folder) of an incremental sync, with the full walk's rules."""
        parts = [part for part in stored.strip("/").split("/") if part]
        if not parts or any(part in (".", "..") for part in parts):
            return
        folder, prefix = self.root, ""
        for part in parts[:-1]:  # every folder on the way must be a real one, not a link
            prefix += part
            if self.is_left_out(prefix):
                return
            folder = fs_path(folder, part)
            if folder.is_symlink() or not folder.is_dir():
                return  # the full walk would not go in either (a link is reported there)
            prefix += "/"
        full = fs_path(folder, parts[-1])
        if os.path.lexists(full):
            self.visit_entry(full, prefix + parts[-1])

    def walk_folder(self, folder: Path, prefix: str) -> None:
        try:
            names = sorted(os.listdir(folder))
        except OSError as error:
            if prefix:
                self.skip(prefix.rstrip("/"), f"unreadable folder: {error.strerror or error}")
            return
        taken = set(names)
        for name in names:
            stored = stored_name(name)
            if stored != name and stored in taken:
                self.skip(prefix + stored, "name-collision: another file has this escaped name")
            else:
                self.visit_entry(folder / name, prefix + stored)

    def visit_entry(self, full: Path, stored: str) -> None:
        if self.is_left_out(stored):
            return
        try:
            mode = os.lstat(full).st_mode
        except OSError:
            return  # vanished since listing
        if stat.S_ISLNK(mode):
            self.visit_link(full, stored)
        elif stat.S_ISDIR(mode):
            self.walk_folder(full, stored + "/")
        elif stat.S_ISREG(mode):
            self.listing.files.append(stored)
        else:
            self.skip(stored, f"special: {file_kind(mode)}, not a regular file")

    def visit_link(self, full: Path, stored: str) -> None:
        try:
            target = Path(os.path.realpath(full, strict=True))
            mode = os.stat(target).st_mode
        except OSError as error:
            loop = error.errno == errno.ELOOP
            self.skip(stored, "symlink: a loop" if loop else "symlink: broken (no target)")
            return
        if not target.is_relative_to(self.root):
            self.skip(stored, "symlink: points outside the vault")
        elif stat.S_ISDIR(mode):
            where = stored_name(target.relative_to(self.root).as_posix()) or "the vault itself"
            self.skip(stored, f"symlink: a folder inside the vault ({where}), indexed there")
        elif self.is_left_out(stored_name(target.relative_to(self.root).as_posix())):
            self.skip(stored, "symlink: points to a hidden or excluded file")
        elif stat.S_ISREG(mode):
            self.listing.files.append(stored)
        else:
            self.skip(stored, f"special: a symlink to a {file_kind(mode)}, not a regular file")

    def skip(self, stored: str, reason: str) -> None:
        self.listing.skipped.append((stored, reason))


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "folder" if stat.S_ISDIR(mode) else "special file"


# ---- opening ----


def inside_vault(vault: Path, stored: str) -> Path:
    """The real path of a stored vault-relative name, refused when it leaves the vault."""
    if "\x00" in stored:
        raise RefusedPath("unreadable", "a path cannot hold a NUL character; skipped")
    parts = stored.split("/")
    if stored.startswith("/") or ".." in parts or Path(stored).is_absolute():
        raise RefusedPath("unreadable", "a path outside the vault; skipped")
    root = vault.resolve()
    try:
        real = Path(os.path.realpath(fs_path(root, stored), strict=True))
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise RefusedPath("unreadable", "a symlink loop; skipped") from error
        raise RefusedPath("vanished", "deleted before it could be read") from error
    if not real.is_relative_to(root):
        raise RefusedPath("unreadable", "a symlink that points outside the vault; skipped")
    return real


def open_regular(vault: Path, stored: str) -> BufferedReader:
    """Open a vault file for reading: inside the vault, and a regular file.

    The open never blocks (O_NONBLOCK: a FIFO swapped in after the check cannot
    hang it), and the opened file is checked again.
    """
    real = inside_vault(vault, stored)
    try:
        descriptor = os.open(real, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError as error:
        raise RefusedPath("vanished", "deleted before it could be read") from error
    except OSError as error:
        raise RefusedPath("unreadable", f"cannot read: {error.strerror or error}") from error
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        raise RefusedPath("unreadable", f"{file_kind(mode)}, not a regular file; skipped")
    os.set_blocking(descriptor, True)
    return os.fdopen(descriptor, "rb")


def is_hidden(stored: str) -> bool:
    """Whether any part of a vault-relative path starts with a dot (`.obsidian/`, `.git/`)."""
    return any(part.startswith(".") for part in stored.split("/"))


def vault_relative(vault: Path, stored: str) -> str:
    """The stored name of the file `stored` reaches, refused (RefusedPath) when it leaves
    the vault, loops, or is not there (code 'vanished')."""
    real = inside_vault(vault, stored)
    return stored_name(real.relative_to(vault.resolve()).as_posix())
