"""Vaults for benchmarks, built from public data in ../shared/data (never copied into the repo).

- `build_hotpotqa_vault(dest)`: the 994 HotpotQA passages of hotpotqa-100 as one note each,
  named after the passage title (characters a file name cannot hold become spaces; the
  exact title is then an alias), with a wiki-link wherever a passage mentions another
  passage's title (first mention only; a title's "(disambiguation)" part may be left out
  when the rest is unambiguous). Returns title -> note path, for gold answers.
- `build_generated_vault(dest, notes)`: a large vault grown from the public Obsidian
  vaults: copy k of every note lives under `<vault>-<k>/` with the name `<stem> ~k`, its
  wiki-links rewritten to the same copy, and every heading and paragraph varied (so
  copies share almost no chunk, and content-addressing cannot flatter the benchmark).

    .venv/bin/python -m benchmarks.vaults hotpotqa /tmp/hotpotqa-vault
    .venv/bin/python -m benchmarks.vaults generated /tmp/big-vault --notes 10000
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# the public data sets; a git worktree elsewhere names them with OVERLAY_SHARED_DATA
SHARED_DATA = Path(os.environ.get("OVERLAY_SHARED_DATA", REPO / ".." / "shared" / "data"))
HOTPOT_CORPUS = SHARED_DATA / "hotpotqa-100" / "corpus.json"
PUBLIC_VAULTS = (
    "kepano-obsidian",
    "sorobby-obsidian-starter-vault",
    "groepl-zettelkasten-starter-kit",
    "tanepiper-obsidian-garden",
    "lixelv-itmo-notes-ru",
)
UNSAFE = re.compile(r'[\\/:*?"<>|#^\[\]]+')
DISAMBIGUATION = re.compile(r"\s*\([^()]*\)$")
HEADING = re.compile(r"\s{0,3}#{1,6}\s")
WIKI_LINK = re.compile(r"(!?\[\[)([^\]|#^]+)")


def note_name(title: str, taken: set[str]) -> str:
    """A file stem for `title` that Obsidian accepts and no other note has (any case)."""
    base = re.sub(r"\s+", " ", UNSAFE.sub(" ", title)).strip(" .") or "untitled"
    name, n = base, 2
    while name.lower() in taken:
        name, n = f"{base} ({n})", n + 1
    taken.add(name.lower())
    return name


def build_hotpotqa_vault(
    dest: Path, corpus: Path = HOTPOT_CORPUS, *, links: bool = True
) -> dict[str, str]:
    """Write one note per passage into `dest`; returns title -> vault-relative path."""
    passages: dict[str, list[str]] = json.loads(Path(corpus).read_text(encoding="utf-8"))
    taken: set[str] = set()
    names = {title: note_name(title, taken) for title in passages}
    surfaces = _surfaces(list(passages)) if links else {}
    pattern = _mention_pattern(surfaces)
    dest.mkdir(parents=True, exist_ok=True)
    for title, sentences in passages.items():
        text = "".join(sentences).strip()
        if pattern is not None:
            text = _link_mentions(text, title, pattern, surfaces, names)
        front = f"---\naliases:\n  - {json.dumps(title, ensure_ascii=False)}\n---\n"
        head = front if names[title] != title else ""
        (dest / f"{names[title]}.md").write_text(head + text + "\n", encoding="utf-8")
    return {title: f"{name}.md" for title, name in names.items()}


def _surfaces(titles: Sequence[str]) -> dict[str, str]:
    """Text that names a passage -> its title: the title, and the title without its
    '(...)' part when no other title shares that shorter form."""
    short = {title: DISAMBIGUATION.sub("", title) for title in titles}
    counts = Counter(short.values())
    surfaces = {title: title for title in titles if len(title) >= 4}
    for title, form in short.items():
        if form != title and counts[form] == 1 and len(form) >= 4 and form not in surfaces:
            surfaces[form] = title
    return surfaces


def _mention_pattern(surfaces: dict[str, str]) -> re.Pattern[str] | None:
    if not surfaces:
        return None
    ordered = sorted(surfaces, key=len, reverse=True)  # longest first: 'New York City' wins
    return re.compile(r"(?<!\w)(" + "|".join(map(re.escape, ordered)) + r")(?!\w)")


def _link_mentions(
    text: str,
    own: str,
    pattern: re.Pattern[str],
    surfaces: dict[str, str],
    names: dict[str, str],
) -> str:
    linked: set[str] = set()

    def link(match: re.Match[str]) -> str:
        surface = match.group(1)
        title = surfaces[surface]
        if title == own or title in linked:
            return surface
        linked.add(title)
        return f"[[{names[title]}]]" if names[title] == surface else f"[[{names[title]}|{surface}]]"

    return pattern.sub(link, text)


def public_notes(sources: Sequence[str] = PUBLIC_VAULTS) -> list[tuple[str, str, str]]:
    """(vault name, vault-relative path, text) of every note of the public vaults."""
    from vault_schema.files import iter_note_paths

    notes = []
    for name in sources:
        root = SHARED_DATA / name
        if not root.is_dir():
            continue
        for path in iter_note_paths(root, exclude=["SOURCE.md"]):
            text = (root / path).read_text(encoding="utf-8", errors="replace")
            notes.append((name, path, text))
    return notes


def build_generated_vault(dest: Path, notes: int, sources: Sequence[str] = PUBLIC_VAULTS) -> int:
    """Write `notes` notes into `dest` (copies of the public vaults' notes); returns the
    number written."""
    originals = public_notes(sources)
    if not originals:
        raise FileNotFoundError(f"no public vaults under {SHARED_DATA}")
    stems = {name: {Path(p).stem.lower() for n, p, _ in originals if n == name} for name in sources}
    written = 0
    for copy, (name, path, text) in _cycle(originals, notes):
        relative = Path(f"{name}-{copy}") / path
        target = dest / relative.with_name(f"{relative.stem} ~{copy}.md")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_variant(text, copy, stems[name]), encoding="utf-8")
        written += 1
    return written


def _cycle(
    originals: list[tuple[str, str, str]], limit: int
) -> Iterator[tuple[int, tuple[str, str, str]]]:
    count, copy = 0, 0
    while True:
        for note in originals:
            if count >= limit:
                return
            yield copy, note
            count += 1
        copy += 1


def _variant(text: str, copy: int, stems: set[str]) -> str:
    """The note with links to its own vault pointing into copy `copy`, and each heading
    and each paragraph's last line marked with the copy number."""

    def relink(match: re.Match[str]) -> str:
        target = match.group(2).strip()
        if Path(target).stem.lower() not in stems:
            return match.group(0)
        return f"{match.group(1)}{target.removesuffix('.md')} ~{copy}"

    lines = WIKI_LINK.sub(relink, text).split("\n")
    out, fenced, front = [], False, bool(lines and lines[0] == "---")
    for index, line in enumerate(lines):
        if front:
            front = not (index > 0 and line == "---")
        elif line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        elif (
            not fenced
            and line.strip()
            and (
                HEADING.match(line)
                or index + 1 == len(lines)
                or not lines[index + 1].strip()
                or HEADING.match(lines[index + 1])
            )
        ):
            line = f"{line} (copy {copy})"
        out.append(line)
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description="Build a benchmark vault.")
    parser.add_argument("kind", choices=["hotpotqa", "generated"])
    parser.add_argument("dest", type=Path)
    parser.add_argument("--notes", type=int, default=10_000)
    args = parser.parse_args()
    if args.kind == "hotpotqa":
        print(f"{len(build_hotpotqa_vault(args.dest))} notes in {args.dest}")
    else:
        print(f"{build_generated_vault(args.dest, args.notes)} notes in {args.dest}")


if __name__ == "__main__":
    main()
