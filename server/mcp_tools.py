"""The MCP tools: what each takes and gives, and the `Memory` call behind it.

Names and inputs are a contract with the models that call them; the descriptions are
written for a model choosing a tool. Each tool calls the `Memory` method the HTTP route
of the same job calls, so a refused path or a private note fails the same way
(`PathOutsideVault`, `NoteNotFound`). `server.mcp` serves them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import mcp_types as types
import yaml
from pydantic import BaseModel, Field

from overlay.core.chat import ChatTurn
from overlay.core.note_links import obsidian_url, wiki_link
from vault_schema import read_note

if TYPE_CHECKING:
    from overlay.core.memory import Memory

SECONDS_PER_DAY = 86_400


# ---- inputs ----------------------------------------------------------------------------


class SearchInput(BaseModel):
    query: str = Field(
        min_length=1, max_length=4000, description="What to look for, in any language."
    )
    top_k: int = Field(8, ge=1, le=100, description="How many passages to return.")
    folder: str | None = Field(
        None, description="Only notes under this vault folder, e.g. 'Projects'."
    )
    tags: list[str] | None = Field(
        None, description="Only notes with all of these tags (without '#'; 'a' matches 'a/b')."
    )


class ReadInput(BaseModel):
    path: str = Field(
        min_length=1, max_length=1024, description="Vault-relative path, e.g. 'Projects/X.md'."
    )
    heading: str | None = Field(
        None, max_length=1024, description="One heading of the note; omit for the whole note."
    )


class RelatedInput(BaseModel):
    path: str = Field(min_length=1, max_length=1024, description="Vault-relative note path.")
    top_k: int = Field(8, ge=1, le=100, description="How many notes.")


class AskInput(BaseModel):
    question: str = Field(min_length=1, max_length=100_000, description="The question.")
    rag: bool = Field(True, description="Answer from the notes with citations; false: model only.")


class RecentInput(BaseModel):
    days: float = Field(7, gt=0, le=3650, description="How many days back to look.")


# ---- outputs ---------------------------------------------------------------------------


class Hit(BaseModel):
    note_path: str = Field(description="Vault-relative path of the note.")
    heading_path: list[str] = Field(description="Headings above the passage, outermost first.")
    snippet: str = Field(description="The start of the passage.")
    score: float = Field(description="The fused rank score; higher is better.")
    dense: float | None = Field(description="Cosine similarity to the query (null: not found).")
    lexical: float | None = Field(description="BM25 score of the query's words (null: none).")
    graph: float | None = Field(description="Link-graph PageRank of the note, relative to best.")
    link: str = Field(description="Obsidian wiki-link to the passage, `[[note#heading]]`.")
    url: str = Field(description="`obsidian://open` URL that opens the note in Obsidian.")


class SearchOutput(BaseModel):
    query: str
    hits: list[Hit]


class NoteText(BaseModel):
    path: str
    heading: str | None = Field(description="The section read, or null for the whole note.")
    properties: dict[str, Any] = Field(description="The note's frontmatter properties.")
    text: str = Field(description="The Markdown of the note (or the section).")

    def markdown(self) -> str:
        """The text as a note file holds it: its properties as YAML frontmatter first."""
        if not self.properties:
            return self.text
        front = yaml.safe_dump(self.properties, allow_unicode=True, sort_keys=False)
        return f"---\n{front}---\n\n{self.text}"


class RelatedNote(BaseModel):
    note_path: str
    title: str
    score: float = Field(description="Higher is closer.")
    reasons: list[str] = Field(description="'links to it', 'linked from it', 'similar: …'.")


class RelatedOutput(BaseModel):
    note_path: str
    related: list[RelatedNote]


class Citation(BaseModel):
    n: int = Field(description="The number the answer cites it by, as [n].")
    note_path: str
    heading_path: list[str]
    link: str = Field(description="`[[note#heading]]`.")


class AskOutput(BaseModel):
    text: str = Field(description="The answer, citing sources as [n].")
    citations: list[Citation]
    model: str = Field(description="The model (or adapter) that answered.")
    log_id: int | None = Field(description="Its entry in the conversation log.")


class RecentNote(BaseModel):
    path: str
    title: str
    modified: str = Field(description="When the file last changed (ISO 8601, UTC).")


class RecentOutput(BaseModel):
    days: float
    notes: list[RecentNote] = Field(description="Newest first.")


# ---- the tools -------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolSpec:
    description: str
    input: type[BaseModel]
    output: type[BaseModel]
    run: Callable[[Memory, Any], BaseModel]

    def tool(self, name: str) -> types.Tool:
        return types.Tool(
            name=name,
            description=self.description,
            input_schema=self.input.model_json_schema(),
            output_schema=self.output.model_json_schema(),
            annotations=types.ToolAnnotations(read_only_hint=True, open_world_hint=False),
        )


def search(memory: Memory, args: SearchInput) -> SearchOutput:
    filtered = bool(args.folder or args.tags)
    found = memory.search(args.query, 100 if filtered else args.top_k)
    hits = [h for h in found if _in_scope(memory, h.note_path, args.folder, args.tags)]
    vault = memory.vault.name
    return SearchOutput(
        query=args.query,
        hits=[
            Hit(
                **{k: v for k, v in hit.to_dict().items() if k != "chunk_id"},
                link=wiki_link(hit.note_path, hit.heading_path),
                url=obsidian_url(vault, hit.note_path),
            )
            for hit in hits[: args.top_k]
        ],
    )


def _in_scope(memory: Memory, path: str, folder: str | None, tags: list[str] | None) -> bool:
    if folder and not path.startswith(folder.strip("/") + "/"):
        return False
    if not tags:
        return True
    held = memory.store.note_tags(path)
    return all(any(t == w or t.startswith(w + "/") for t in held) for w in _tag_names(tags))


def _tag_names(tags: list[str]) -> list[str]:
    return [tag.strip().lstrip("#").casefold() for tag in tags if tag.strip()]


def read(memory: Memory, args: ReadInput) -> NoteText:
    section = memory.read_note(args.path, args.heading)  # refuses private and outside paths
    note = read_note(memory.vault, section.path, max_bytes=memory.settings.parse.max_file_bytes)
    properties = json.loads(json.dumps(note.frontmatter, default=_plain))
    return NoteText(
        path=section.path, heading=section.heading, properties=properties, text=section.text
    )


def _plain(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def related(memory: Memory, args: RelatedInput) -> RelatedOutput:
    path = memory.vault_path(args.path)
    found = memory.related(path, args.top_k)
    return RelatedOutput(
        note_path=path, related=[RelatedNote.model_validate(r.to_dict()) for r in found]
    )


def ask(memory: Memory, args: AskInput) -> AskOutput:
    answer = memory.answer([ChatTurn("user", args.question)], rag=args.rag, interface="mcp")
    return AskOutput(
        text=answer.text,
        citations=[
            Citation(
                n=c.n,
                note_path=c.note_path,
                heading_path=list(c.heading_path),
                link=wiki_link(c.note_path, c.heading_path),
            )
            for c in answer.citations
        ],
        model=answer.model,
        log_id=answer.log_id,
    )


def recent(memory: Memory, args: RecentInput) -> RecentOutput:
    since = time.time() - args.days * SECONDS_PER_DAY
    notes = sorted((n for n in memory.store.notes() if n.mtime >= since), key=lambda n: -n.mtime)
    return RecentOutput(
        days=args.days,
        notes=[
            RecentNote(
                path=n.path,
                title=n.title,
                modified=datetime.fromtimestamp(n.mtime, UTC).isoformat(timespec="seconds"),
            )
            for n in notes
        ],
    )


TOOLS: dict[str, ToolSpec] = {
    "search": ToolSpec(
        "Search the user's Obsidian notes by meaning, words and links (fused dense + BM25 + "
        "link-graph retrieval; Russian and English both match). Use it first for anything "
        "the user may have written down: people, places, projects, plans, past decisions. "
        "Each hit gives the note, its heading, a snippet, the scores and a [[note#heading]] "
        "link to cite.",
        SearchInput,
        SearchOutput,
        search,
    ),
    "read": ToolSpec(
        "Read one note of the user's vault, or one section of it (by heading), as Markdown "
        "with its frontmatter properties. Use it after `search` to see the whole context. "
        "Private notes and paths outside the vault are refused.",
        ReadInput,
        NoteText,
        read,
    ),
    "related": ToolSpec(
        "Notes related to a note by links (links to it, linked from it) and by meaning, "
        "each with the reasons why.",
        RelatedInput,
        RelatedOutput,
        related,
    ),
    "ask": ToolSpec(
        "Overlay's own answer to a question, written by the user's local model from their "
        "notes, with numbered citations. Slower than `search`; prefer `search` + `read` when "
        "you can answer yourself.",
        AskInput,
        AskOutput,
        ask,
    ),
    "recent": ToolSpec(
        "Notes changed in the last `days` days (path, title, modified time), newest first: "
        "what the user is working on now.",
        RecentInput,
        RecentOutput,
        recent,
    ),
}
