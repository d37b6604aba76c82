"""A PDF read as a `Note`: its text, page by page, each page a section `page=N`.

Each page's text is one section whose heading is `page=N`, so a chunk never
spans two pages and a citation `[[paper.pdf#page=N]]` opens the page in
Obsidian. Pages are extracted one at a time (`iter_pdf_pages`), with pypdf:
pure Python, BSD-licensed, and fast enough that the embedder, not extraction,
sets the pace (see benchmarks/pdf_throughput.py and the README).

A PDF Overlay cannot use raises `SkippedFile` with the reason: 'encrypted'
(a password is needed), 'broken-pdf' (not readable as a PDF, or pypdf failed on
it in any way: a library bug on a hostile file must not stop a sync), 'no-text'
(no page has a text layer: a scan), 'over-budget' (more pages or characters of
text than the content budget allows, see `budgets.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import BinaryIO, NoReturn

from pypdf import PdfReader
from pypdf.errors import PyPdfError

from vault_schema.budgets import CONTENT_BUDGET, OVER_BUDGET, ContentBudget
from vault_schema.notes import Heading, Note, ParseWarning, SkippedFile

logging.getLogger("pypdf").setLevel(logging.ERROR)  # broken PDFs are reported as skips


def page_heading(number: int) -> str:
    """The heading of page `number` (1-based): what follows '#' in a citation."""
    return f"page={number}"


def iter_pdf_pages(
    path: str, handle: BinaryIO, budget: ContentBudget = CONTENT_BUDGET
) -> Iterator[tuple[int, str]]:
    """(page number from 1, text) of each page, one page extracted at a time."""
    try:
        reader = PdfReader(handle)
        if reader.is_encrypted and not _opens_without_password(reader):
            raise SkippedFile(
                ParseWarning(path, "encrypted", "encrypted PDF (needs a password); skipped")
            )
        if len(reader.pages) > budget.pdf_pages:
            _over_budget(
                path, f"{len(reader.pages)} pages, over the {budget.pdf_pages}-page budget"
            )
        chars = 0
        for number, page in enumerate(reader.pages, start=1):
            text = _clean(page.extract_text() or "")
            chars += len(text)
            if chars > budget.pdf_chars:
                _over_budget(path, f"past the {budget.pdf_chars}-character budget by page {number}")
            yield number, text
    except SkippedFile:
        raise
    except Exception as error:  # pypdf on a hostile file may raise anything at all
        raise SkippedFile(
            ParseWarning(path, "broken-pdf", f"not a readable PDF ({error!r}); skipped")
        ) from error


def _over_budget(path: str, reason: str) -> NoReturn:
    raise SkippedFile(ParseWarning(path, OVER_BUDGET, f"{reason}; skipped"))


def read_pdf(
    path: str,
    handle: BinaryIO,
    *,
    mtime: float = 0.0,
    content_hash: str = "",
    budget: ContentBudget = CONTENT_BUDGET,
) -> Note:
    """The PDF at `path` (open in `handle`) as a Note; raises SkippedFile."""
    lines: list[str] = []
    headings: list[Heading] = []
    for number, text in iter_pdf_pages(path, handle, budget):
        if not text:
            continue
        headings.append(Heading(1, page_heading(number), len(lines) + 1))
        lines += [f"# {page_heading(number)}", text, ""]
    if not headings:
        raise SkippedFile(
            ParseWarning(path, "no-text", "no text layer on any page (a scan?); skipped")
        )
    return Note(
        path=path,
        title=path.rsplit("/", 1)[-1],
        body="\n".join(lines),
        headings=tuple(headings),
        content_hash=content_hash,
        mtime=mtime,
    )


def _opens_without_password(reader: PdfReader) -> bool:
    """Many PDFs are 'encrypted' with an empty user password only to forbid printing."""
    try:
        return bool(reader.decrypt(""))
    except (PyPdfError, NotImplementedError, ValueError):
        return False


def _clean(text: str) -> str:
    """Page text with NULs gone and blank runs squeezed, so packing sees paragraphs."""
    text = text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")
    kept: list[str] = []
    for line in text.split("\n"):
        line = line.rstrip()
        if line or (kept and kept[-1]):
            kept.append(line)
    return "\n".join(kept).strip()
