"""Property: whatever tree a vault holds, a sync ends, indexes every regular note inside
and nothing from outside.

Hypothesis builds trees with random names (raw bytes too, so names that are not
UTF-8), symlinks out of the vault and into it, loops, FIFOs, empty and over-size
notes. The embedder is `HashEmbedder`, a deterministic fake, because this tests
which files reach the store, not what their vectors mean (tests/test_vault_paths.py
does the same cases with the real model).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from indexer.embedders import HashEmbedder
from indexer.store import Store
from indexer.sync import Indexer
from overlay.config import Settings
from vault_schema.vault_paths import fs_path, stored_name

MAX_BYTES = 400
OUTSIDE_WORD = "zzoutsidezz"
KINDS = ["note", "note", "empty", "huge", "fifo", "link-out", "dir-out", "link-in", "loop", "up"]

names = st.binary(min_size=1, max_size=10).filter(
    lambda raw: b"/" not in raw and b"\x00" not in raw and not raw.startswith(b".")
)
entries = st.lists(st.tuples(names, st.sampled_from(KINDS), st.integers(0, 2)), max_size=12)


@dataclass
class Tree:
    """What was built: the notes a sync must index, by stored name."""

    notes: set[str] = field(default_factory=set)
    too_large: set[str] = field(default_factory=set)


def build(
    root: Path, outside: Path, folders: list[bytes], items: list[tuple[bytes, str, int]]
) -> Tree:
    tree, used = Tree(), {"anchor.md"}
    homes = [b""] + [name + b"/" for name in folders]
    for folder in homes[1:]:
        os.makedirs(os.fsencode(root) + b"/" + folder, exist_ok=True)
    for raw, kind, where in items:
        relative = homes[where % len(homes)] + raw + (b"" if kind in ("dir-out", "up") else b".md")
        stored = stored_name(os.fsdecode(relative))
        if stored.lower() in used or os.fsdecode(relative) in {os.fsdecode(f) for f in folders}:
            continue
        used.add(stored.lower())
        make(Path(os.fsdecode(os.fsencode(root) + b"/" + relative)), kind, outside, root)
        if kind in ("note", "empty", "link-in"):
            tree.notes.add(stored)
        elif kind == "huge":
            tree.too_large.add(stored)
    return tree


def make(path: Path, kind: str, outside: Path, root: Path) -> None:
    if kind == "note":
        path.write_text(
            f"# Note\nwords about {path.stem!r} and sailing.\n", errors="surrogateescape"
        )
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "huge":
        path.write_text("big " * MAX_BYTES)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "link-out":
        path.symlink_to(outside / "secret.md")
    elif kind == "dir-out":
        path.symlink_to(outside, target_is_directory=True)
    elif kind == "link-in":
        (root / "anchor.md").write_text("the anchor note")
        path.symlink_to(root / "anchor.md")
    elif kind == "loop":
        path.symlink_to(path.name)
    elif kind == "up":
        path.symlink_to("..", target_is_directory=True)


@pytest.mark.timeout(300)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(folders=st.lists(names, max_size=2, unique=True), items=entries)
@example(folders=[b"\x80"], items=[(b"%", "note", 1)])  # found by CI: a '%' under an escape
def test_a_sync_of_any_tree_indexes_every_note_inside_and_nothing_outside(
    folders: list[bytes], items: list[tuple[bytes, str, int]]
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        outside, root = base / "outside", base / "vault"
        outside.mkdir()
        root.mkdir()
        (outside / "secret.md").write_text(f"# Secret\n{OUTSIDE_WORD}\n")
        tree = build(root, outside, folders, items)
        if (root / "anchor.md").exists():
            tree.notes.add("anchor.md")
        config = Settings.model_validate(
            {"vault": root, "data_dir": base / "data", "parse": {"max_file_bytes": MAX_BYTES}}
        )
        store = Store.from_settings(config)
        try:
            report = Indexer(config, store, HashEmbedder()).sync()
            indexed = {note.path for note in store.notes()}
            texts = [chunk.embedding_text for chunk in store.chunks()]
        finally:
            store.close()
        assert indexed == tree.notes
        assert tree.too_large <= {path for path, _ in report.skipped}
        assert not any(OUTSIDE_WORD in text for text in texts)
        for path in indexed:
            assert fs_path(root, path).resolve().is_relative_to(root.resolve())
