"""The vault's memory over the Model Context Protocol, for Claude Desktop, Cursor, VS Code.

One MCP server (`vault_server(memory)`, the official SDK's low-level `Server`) offers
five tools — `search`, `read`, `related`, `ask`, `recent` — and every indexed note as
a resource `overlay://note/<path>`. Each tool calls the same `Memory` method as the
HTTP route of the same job, so privacy, errors and the conversation log are the
plugin API's: a private, excluded or outside-the-vault note is an error result with
the HTTP error's type and message.

Two transports serve it:
- streamable HTTP at `/mcp` on the daemon (`mount_mcp`), behind the API's bearer
  token, with DNS-rebinding protection allowing only the daemon's own host;
- stdio (`overlay mcp`), which serves a local Memory or relays to the daemon
  (`relay_server`).
"""

from __future__ import annotations

import hmac
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

import anyio
import mcp_types as types
from mcp.client.session import ClientSession
from mcp.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel, Field, ValidationError
from starlette.types import Receive, Scope, Send

from overlay.chat import ChatTurn
from overlay.config import Settings
from overlay.errors import OverlayError
from vault_schema import read_note

if TYPE_CHECKING:
    from overlay.memory import Memory

log = logging.getLogger("overlay.mcp")

NOTE_URI = "overlay://note/"
RESOURCE_PAGE = 100
SECONDS_PER_DAY = 86_400
INSTRUCTIONS = """\
Overlay is the user's Obsidian vault as memory: their notes on people, projects, places
and plans, in Russian and English. Use `search` to find what the notes say (answers cite
`[[note#heading]]`), `read` to open a note or one section, `related` to follow a note's
links and neighbours, `recent` to see what the user works on now, and `ask` for
Overlay's own cited answer from the local model."""


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


def wiki_link(note_path: str, heading_path: list[str] | tuple[str, ...]) -> str:
    target = note_path.removesuffix(".md")
    return f"[[{target}#{heading_path[-1]}]]" if heading_path else f"[[{target}]]"


def obsidian_url(vault_name: str, note_path: str) -> str:
    file = quote(note_path.removesuffix(".md"), safe="")
    return f"obsidian://open?vault={quote(vault_name, safe='')}&file={file}"


def note_uri(path: str) -> str:
    return NOTE_URI + quote(path)


# ---- the server ------------------------------------------------------------------------

Handler = Callable[..., Awaitable[Any]]


def vault_server(memory: Memory) -> Server[Any]:
    """The MCP server for one Memory; its blocking calls run on worker threads."""

    async def list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> Any:
        return types.ListToolsResult(tools=[spec.tool(name) for name, spec in TOOLS.items()])

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        return await anyio.to_thread.run_sync(
            call_tool_now, memory, params.name, params.arguments or {}
        )

    async def list_resources(
        ctx: Any, params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        cursor = params.cursor if params else None
        return await anyio.to_thread.run_sync(note_resources, memory, cursor)

    async def read_resource(
        ctx: Any, params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        return await anyio.to_thread.run_sync(read_note_resource, memory, str(params.uri))

    return Server(
        "overlay",
        version=_version(),
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_read_resource=read_resource,
    )


def call_tool_now(memory: Memory, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
    """A tool's result; a bad argument or an OverlayError is an error result, not a crash."""
    spec = TOOLS.get(name)
    if spec is None:
        return error_result("UnknownTool", f"no tool named {name!r}; tools: {', '.join(TOOLS)}")
    try:
        output = spec.run(memory, spec.input.model_validate(arguments))
    except ValidationError as invalid:
        return error_result("InvalidArguments", _first_problem(invalid))
    except OverlayError as error:
        return error_result(type(error).__name__, error.message)
    data = output.model_dump(mode="json")
    text = output.text if isinstance(output, NoteText) else json.dumps(data, ensure_ascii=False)
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)], structured_content=data
    )


def error_result(kind: str, message: str) -> types.CallToolResult:
    """The same `type: message` an HTTP client reads in `{"error": {"type", "message"}}`."""
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=f"{kind}: {message}")], is_error=True
    )


def _first_problem(invalid: ValidationError) -> str:
    problem = invalid.errors()[0]
    where = ".".join(str(part) for part in problem["loc"]) or "arguments"
    return f"{where}: {problem['msg']}"


def note_resources(
    memory: Memory, cursor: str | None, page_size: int = RESOURCE_PAGE
) -> types.ListResourcesResult:
    """One page of indexed notes; the cursor is the offset of the next page."""
    start = int(cursor) if cursor and cursor.isdigit() else 0
    notes = memory.store.notes()
    page = notes[start : start + page_size]
    following = start + page_size
    return types.ListResourcesResult(
        resources=[
            types.Resource(
                uri=note_uri(n.path), name=n.path, title=n.title, mime_type="text/markdown"
            )
            for n in page
        ],
        next_cursor=str(following) if following < len(notes) else None,
    )


def read_note_resource(memory: Memory, uri: str) -> types.ReadResourceResult:
    if not uri.startswith(NOTE_URI):
        raise MCPError(types.INVALID_PARAMS, f"not an Overlay note: {uri}")
    try:
        section = memory.read_note(unquote(uri.removeprefix(NOTE_URI)))
    except OverlayError as error:
        raise MCPError(types.INVALID_PARAMS, f"{type(error).__name__}: {error.message}") from error
    return types.ReadResourceResult(
        contents=[types.TextResourceContents(uri=uri, text=section.text, mime_type="text/markdown")]
    )


def _version() -> str:
    from importlib.metadata import version

    return version("overlay")


# ---- streamable HTTP on the daemon -----------------------------------------------------


def session_manager(memory: Memory, settings: Settings) -> StreamableHTTPSessionManager:
    """The `/mcp` endpoint's sessions; its `run()` belongs in the app's lifespan."""
    return StreamableHTTPSessionManager(
        app=vault_server(memory),
        json_response=True,  # one answer per call: no need to hold an event stream open
        security_settings=own_host_only(settings),
        max_request_body_size=settings.server.max_body_bytes,
    )


def own_host_only(settings: Settings) -> TransportSecuritySettings:
    """DNS-rebinding protection: the Host must name this machine as the daemon is reached
    (loopback, the bind address, or this host's names for a wildcard bind); the Origin,
    when a browser sends one, must be one of those or one the API allows for CORS."""
    names = [*LOOPBACK_NAMES, *_bind_names(settings.server.host)]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"{name}:*" for name in names],
        allowed_origins=[f"http://{name}:*" for name in names] + settings.server.cors_origins,
    )


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
WILDCARD_BINDS = ("0.0.0.0", "::", "[::]")


def _bind_names(host: str) -> list[str]:
    if host in WILDCARD_BINDS:
        return sorted({socket.gethostname(), socket.getfqdn()})
    if host in LOOPBACK_NAMES or host == "::1":
        return []
    return [f"[{host}]" if ":" in host and not host.startswith("[") else host]


class TokenGuard:
    """The `/mcp` ASGI endpoint: the API's bearer token first, then the MCP session."""

    def __init__(self, manager: StreamableHTTPSessionManager, token: Callable[[], str]) -> None:
        self.manager, self.token = manager, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers") or [])
        scheme, _, given = headers.get(b"authorization", b"").partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(
            given.strip(), self.token().encode()
        ):
            await self.manager.asgi_app(scope, receive, send)
            return
        body = json.dumps(
            {
                "error": {
                    "type": "Unauthorized",
                    "message": "missing or wrong bearer token; `overlay token` prints the right one",
                }
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", b"Bearer"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


# ---- relay: stdio in front of the daemon's /mcp ----------------------------------------


def relay_server(upstream: ClientSession) -> Server[Any]:
    """An MCP server that forwards every call to the daemon's, so `overlay mcp` holds no
    second copy of the index or the models."""

    async def list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> Any:
        return await upstream.list_tools(params=params)

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        return await upstream.call_tool(params.name, params.arguments)

    async def list_resources(ctx: Any, params: types.PaginatedRequestParams | None) -> Any:
        return await upstream.list_resources(params=params)

    async def read_resource(ctx: Any, params: types.ReadResourceRequestParams) -> Any:
        return await upstream.read_resource(str(params.uri))

    return Server(
        "overlay",
        version=_version(),
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_read_resource=read_resource,
    )
