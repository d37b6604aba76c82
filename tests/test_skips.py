"""Files skipped for what they hold (a scan with no text, a broken or encrypted PDF, binary
bytes, contents over a parser's budget) are remembered and not read again until they
change; skips that follow from settings are decided afresh. Real files, HashEmbedder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner
from vaults import encrypted, pdf_bytes

from indexer import sync as sync_module
from indexer.embedders import HashEmbedder
from indexer.store import Store
from indexer.sync import Indexer, SyncReport
from overlay.cli import app
from overlay.config import Settings

SKIPPED_FOR_CONTENT = {
    "Scans/receipt.pdf": "no-text",
    "Scans/broken.pdf": "broken-pdf",
    "Scans/locked.pdf": "encrypted",
    "Scans/bad%FFscan.pdf": "no-text",  # a file name that is not UTF-8, stored escaped
    "blob.md": "binary",
    "deep.canvas": "over-budget",  # nested past what the parser takes on
}


class ReadCounter:
    """Syncs through a fresh Store and Indexer each time (like a restart), recording the
    paths the real `read_note` is asked to read."""

    def __init__(self, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
        self.settings, self.reads = settings, list[str]()
        real = sync_module.read_note

        def counting(vault: Path, path: str, **options: Any) -> Any:
            self.reads.append(path)
            return real(vault, path, **options)

        monkeypatch.setattr(sync_module, "read_note", counting)

    def sync(self, paths: list[str] | None = None) -> SyncReport:
        self.reads.clear()
        with Store.from_settings(self.settings) as store:
            return Indexer(self.settings, store, HashEmbedder()).sync(paths)

    def remembered(self) -> dict[str, str]:
        with Store.from_settings(self.settings) as store:
            return {path: skip.code for path, skip in store.skipped_files().items()}


def skip_codes(report: SyncReport) -> dict[str, str]:
    return {path: reason.split(":")[0] for path, reason in report.skipped}


def test_a_file_skipped_for_what_it_holds_is_not_read_again_until_it_changes(
    tmp_path: Path, make_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = tmp_path / "vault"
    (vault / "Scans").mkdir(parents=True)
    (vault / "Garden.md").write_text("The tomatoes need water every evening.\n")
    (vault / "blob.md").write_bytes(b"\x00\x01\x02 not text")
    (vault / "deep.canvas").write_text("[" * 100_000 + "]" * 100_000)
    (vault / "Scans" / "receipt.pdf").write_bytes(pdf_bytes(["", ""]))
    (vault / "Scans" / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf\n")
    (vault / "Scans" / "locked.pdf").write_bytes(encrypted(pdf_bytes(["A locked page."])))
    (vault / "Scans" / os.fsdecode(b"bad\xffscan.pdf")).write_bytes(pdf_bytes([""]))
    settings = make_settings(vault)
    counter = ReadCounter(settings, monkeypatch)

    first = counter.sync()
    assert skip_codes(first) == SKIPPED_FOR_CONTENT
    assert len(counter.reads) == 7

    again = counter.sync()
    assert counter.reads == []  # nothing changed: not one file is read
    assert counter.remembered() == SKIPPED_FOR_CONTENT
    assert sorted(again.skipped) == sorted(first.skipped)  # each still listed, same reason
    assert again.unchanged == 1 and again.summary().startswith("notes: 0 added")
    with Store.from_settings(settings) as store:
        last = store.last_sync()
    assert last is not None and sorted(map(tuple, last["skipped_files"])) == sorted(first.skipped)

    scoped = counter.sync(["Scans/receipt.pdf", "Scans/bad%FFscan.pdf"])  # a watcher's event
    assert counter.reads == []
    assert skip_codes(scoped) == {"Scans/receipt.pdf": "no-text", "Scans/bad%FFscan.pdf": "no-text"}

    receipt = vault / "Scans" / "receipt.pdf"
    later = receipt.stat().st_mtime + 10
    os.utime(receipt, (later, later))
    touched = counter.sync()
    assert counter.reads == ["Scans/receipt.pdf"]  # changed: read again, still a scan
    assert skip_codes(touched) == SKIPPED_FOR_CONTENT
    counter.sync()
    assert counter.reads == []  # remembered again, with its new mtime

    (vault / "Scans" / "broken.pdf").write_bytes(pdf_bytes(["Now a page about spring tides."]))
    os.remove(vault / "Scans" / "locked.pdf")
    fixed = counter.sync()
    assert counter.reads == ["Scans/broken.pdf"]
    assert fixed.added == ["Scans/broken.pdf"]  # it gained text: indexed
    assert counter.remembered() == {
        "Scans/receipt.pdf": "no-text",
        "Scans/bad%FFscan.pdf": "no-text",
        "blob.md": "binary",
        "deep.canvas": "over-budget",
    }
    assert set(skip_codes(fixed)) == set(counter.remembered())

    counter.reads.clear()
    data = str(settings.resolved_data_dir())
    rebuilt = CliRunner().invoke(
        app,
        ["--data-dir", data, "index", str(vault), "--rebuild", "--json", "--quiet"],
        env={"OVERLAY_INDEX__EMBEDDER": "hash"},
    )
    assert rebuilt.exit_code == 0, rebuilt.output
    assert sorted(counter.reads) == sorted(["Garden.md", "Scans/broken.pdf", *counter.remembered()])
    assert len(counter.reads) == 6  # `--rebuild` starts from nothing: every file is read


def test_skips_that_follow_from_settings_are_decided_afresh(
    tmp_path: Path, make_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = tmp_path / "vault"
    (vault / "Big").mkdir(parents=True)
    (vault / "Big" / "scan.pdf").write_bytes(pdf_bytes(["", "", ""]))
    (vault / "Diary.md").write_text("#private\nA secret entry.\n")
    size = (vault / "Big" / "scan.pdf").stat().st_size

    def counter(**overrides: Any) -> ReadCounter:
        return ReadCounter(make_settings(vault, **overrides), monkeypatch)

    small = counter(parse__max_file_bytes=size - 1)
    assert skip_codes(small.sync()) == {"Big/scan.pdf": "too-large", "Diary.md": "private"}
    assert small.remembered() == {}  # the cap and private_tags can change
    small.sync()
    assert sorted(small.reads) == ["Big/scan.pdf", "Diary.md"]

    roomy = counter()
    assert skip_codes(roomy.sync())["Big/scan.pdf"] == "no-text"
    assert roomy.remembered() == {"Big/scan.pdf": "no-text"}
    roomy.sync()
    assert roomy.reads == ["Diary.md"]

    lowered = counter(parse__max_file_bytes=size - 1)  # the cap in force decides
    assert skip_codes(lowered.sync())["Big/scan.pdf"] == "too-large"
    assert lowered.remembered() == {}

    assert skip_codes(roomy.sync())["Big/scan.pdf"] == "no-text"
    excluded = counter(parse__exclude=["Big/**"])
    assert "Big/scan.pdf" not in skip_codes(excluded.sync())
    assert excluded.remembered() == {}  # the vault no longer lists it
