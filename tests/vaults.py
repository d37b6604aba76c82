"""The vaults tests read: the repository's example vault and the person's real samples.

`../shared/vault-samples` (real notes, not in the repository) is named here once. A
test that needs it is marked `needs_samples` (or takes the `samples` fixture): where
the folder is missing it is skipped on a developer's machine and fails, saying why,
under CI=true, so CI never passes by skipping it.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from fpdf import FPDF
from pypdf import PdfReader, PdfWriter

from overlay.config import Settings

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO / ".." / "shared"
SAMPLES = SHARED / "vault-samples"
EXAMPLE_VAULT = REPO / "examples" / "vault"

needs_samples = pytest.mark.needs_samples

# The signatures of conftest's `make_vault` and `make_settings` fixtures, for test modules
# to annotate with (a test module never imports conftest: two of them share that name).
MakeVault = Callable[[Mapping[str, str | bytes]], Path]
MakeSettings = Callable[..., Settings]


def require_samples() -> Path:
    """SAMPLES, or skip (locally) / fail (under CI=true) with the reason."""
    if SAMPLES.is_dir():
        return SAMPLES
    reason = f"{SAMPLES} is absent (the real notes of the person)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI must provide it", pytrace=False)
    pytest.skip(reason)


def copy_vault(source: Path, destination: Path) -> Path:
    """A private copy of the vault `source` at `destination`: tests may edit it."""
    return Path(shutil.copytree(source, destination))


@dataclass(frozen=True)
class IndexedVault:
    """A vault and the data dir that indexes it, neither of them open."""

    vault: Path
    data_dir: Path

    def copy_to(self, folder: Path) -> IndexedVault:
        """A private copy at folder/vault and folder/data: a sync of it embeds nothing (the
        files keep their mtimes and contents), where indexing anew takes ~15 s."""
        data_dir = Path(shutil.copytree(self.data_dir, folder / "data"))
        return IndexedVault(copy_vault(self.vault, folder / "vault"), data_dir)


def copy_example_notes(notes: Iterable[str], destination: Path) -> Path:
    """A vault at `destination` holding copies of these examples/vault notes alone."""
    for note in notes:
        (destination / note).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(EXAMPLE_VAULT / note, destination / note)
    return destination


def pdf_bytes(pages: list[str]) -> bytes:
    """A PDF of these pages (an empty one gets a drawing and no text, as a scan has)."""
    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for text in pages:
        pdf.add_page()
        if text:
            pdf.multi_cell(0, 6, text)
        else:  # a drawing and no text: how a scan looks to a text extractor
            pdf.rect(20, 20, 100, 60)
    return bytes(pdf.output())


def encrypted(data: bytes) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt("secret", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
