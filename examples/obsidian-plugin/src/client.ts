// The HTTP client of Overlay's plugin API (/api/v1): fetch + Server-Sent Events.
// No Obsidian imports, so node's test runner drives it against a real server.
// Streaming uses fetch (Obsidian's requestUrl cannot stream); the server's CORS
// allows app://obsidian.md, capacitor://localhost and http://localhost.

export interface ClientOptions {
  baseUrl: string; // e.g. http://127.0.0.1:8765
  token: string; // `overlay token`
  fetch?: typeof fetch; // for tests; default: the global fetch
}

/** "indexing": the vault's first index is being built; "syncing": an index that holds the
 * vault is brought up to date (after every edit, so it says nothing to the person). */
export type SyncState = "indexing" | "syncing" | "idle";

export interface Health {
  status: "ok";
  version: string;
  state: SyncState;
}

export interface IndexStatus {
  notes: number;
  chunks: number;
  links: number;
  unresolved_links?: number | null;
  embedder?: string | null;
  last_sync?: Record<string, unknown> | null;
  size_bytes?: number | null;
  [key: string]: unknown;
}

export interface Status {
  state: SyncState;
  vault: string;
  last_error: string | null;
  index: IndexStatus;
}

export interface SearchHit {
  note_path: string;
  heading_path: string[];
  chunk_id: string;
  snippet: string;
  score: number;
  dense: number | null;
  lexical: number | null;
  graph: number | null;
}

export interface RelatedNote {
  note_path: string;
  title: string;
  score: number;
  reasons: string[];
}

export interface Section {
  path: string;
  heading: string | null;
  text: string;
}

export interface Citation {
  n: number;
  note_path: string;
  heading_path: string[];
  snippet: string;
  cited?: boolean;
  target?: string;
}

export interface Answer {
  text: string;
  reasoning: string;
  citations: Citation[];
  model: string;
  question?: string;
  abstained?: boolean;
  log_id?: number | null; // its conversation-log entry: what `rate` names
}

export type Rating = "good" | "bad";

/** One answer in the conversation log (`GET /api/v1/log`). */
export interface LogEntry {
  id: number;
  asked: number; // epoch seconds
  interface: "cli" | "plugin" | "openai";
  question: string;
  searched: string;
  sources: { n: number; note_path: string; heading_path: string[]; score: number; cited: boolean }[];
  answer: string;
  reasoning: string;
  model: string;
  adapter: string; // "" for the base model
  rag: boolean;
  abstained: boolean;
  latency: number;
  tokens: number;
  rating: "" | Rating;
  correction: string;
  rated: number | null;
}

export interface RatingResult {
  entry: LogEntry;
  pair_id: string | null; // the correction's training pair, approved
  staled: number;
}

export interface AnswerOptions {
  rag?: boolean; // retrieve from the vault and cite (default true)
  think?: boolean; // let the model reason first, shown apart (default false)
  adapter?: string | null; // a LoRA adapter /v1/models lists; default: the promoted one
}

/** One model the daemon serves (`GET /v1/models`): the base model, then each adapter. */
export interface Model {
  id: string;
  parent?: string | null; // set for an adapter: its base model
  promoted?: boolean; // the adapter that answers when a request names none
  tainted?: boolean; // trained on a note forgotten since: out of service, never answers
}

/** What "test connection" found, in words a person can act on. */
export interface ConnectionReport {
  ok: boolean;
  message: string;
  fix: string; // "" when ok
}

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

export interface SyncResult {
  state: SyncState;
  finished: boolean;
  report: Record<string, unknown> | null;
  error: string | null;
}

export type ChatEvent =
  | { kind: "sources"; citations: Citation[] }
  | { kind: "token"; text: string }
  | { kind: "reasoning"; text: string }
  | { kind: "done"; answer: Answer };

export interface ServerSentEvent {
  event: string; // "message" when the frame names none
  data: string;
}

/** An error the server answered with: `type` is its class (Unauthorized, NoteNotFound, …). */
export class OverlayError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = "OverlayError";
  }
}

export class OverlayClient {
  private readonly baseUrl: string;
  private readonly token: string;
  private readonly fetcher: typeof fetch;

  constructor(options: ClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.token = options.token;
    this.fetcher = options.fetch ?? ((input, init) => fetch(input, init));
  }

  /** Needs no token: is the server up, and is it indexing? */
  health(): Promise<Health> {
    return this.json("GET", "/health");
  }

  status(): Promise<Status> {
    return this.json("GET", "/status");
  }

  async search(query: string, topK?: number): Promise<SearchHit[]> {
    const params: Record<string, string> = { q: query };
    if (topK !== undefined) params.top_k = String(topK);
    const result = await this.json<{ hits: SearchHit[] }>("GET", "/search", { params });
    return result.hits;
  }

  async related(notePath: string, topK = 10): Promise<RelatedNote[]> {
    const params = { path: notePath, top_k: String(topK) };
    const result = await this.json<{ related: RelatedNote[] }>("GET", "/notes/related", {
      params,
    });
    return result.related;
  }

  /** What a citation points to: a note, or one heading's section of it. */
  section(path: string, heading?: string | null): Promise<Section> {
    const params: Record<string, string> = { path };
    if (heading) params.heading = heading;
    return this.json("GET", "/notes/section", { params });
  }

  sync(paths?: string[], wait = false): Promise<SyncResult> {
    return this.json("POST", "/sync", { body: { paths: paths ?? null, wait } });
  }

  /** The whole answer; with `think`, the model's reasoning is in `reasoning`, not `text`. */
  answer(messages: ChatMessage[], options: AnswerOptions = {}): Promise<Answer> {
    return this.json("POST", "/chat", { body: chatBody(messages, options, false) });
  }

  /** The models that can answer: the base model, then each trained adapter. */
  async models(): Promise<Model[]> {
    const list = await this.json<{ data: Model[] }>("GET", "/v1/models", { root: true });
    return list.data;
  }

  /** The answer as it is written: sources first, then (with `think`) reasoning, then
   * tokens, then the whole answer. Reasoning never comes as a token. */
  async *streamAnswer(
    messages: ChatMessage[],
    options: AnswerOptions & { signal?: AbortSignal } = {},
  ): AsyncGenerator<ChatEvent> {
    const body = chatBody(messages, options, true);
    const response = await this.request("POST", "/chat", { body, signal: options.signal });
    if (!response.body) throw new OverlayError("NoBody", "the server sent no stream", 0);
    for await (const frame of parseEventStream(response.body)) {
      yield toChatEvent(frame);
    }
  }

  /** Rate a logged answer; a correction becomes an approved training pair. */
  rate(logId: number, rating: Rating, correction?: string): Promise<RatingResult> {
    const body = correction === undefined ? { rating } : { rating, correction };
    return this.json("POST", `/log/${logId}/rating`, { body });
  }

  logEntry(logId: number): Promise<LogEntry> {
    return this.json("GET", `/log/${logId}`);
  }

  /** The conversation log, newest first. */
  async log(filters: { q?: string; rating?: string; limit?: number } = {}): Promise<LogEntry[]> {
    const params: Record<string, string> = {};
    for (const [key, value] of Object.entries(filters)) {
      if (value !== undefined) params[key] = String(value);
    }
    const page = await this.json<{ entries: LogEntry[] }>("GET", "/log", { params });
    return page.entries;
  }

  private async json<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.request(method, path, options);
    return (await response.json()) as T;
  }

  private async request(
    method: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<Response> {
    const query = options.params ? "?" + new URLSearchParams(options.params).toString() : "";
    const url = `${this.baseUrl}${options.root ? "" : "/api/v1"}${path}${query}`;
    const headers: Record<string, string> = { Authorization: `Bearer ${this.token}` };
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    let response: Response;
    try {
      response = await this.fetcher(url, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: options.signal,
      });
    } catch (error) {
      if ((error as Error).name === "AbortError") throw error;
      throw new OverlayError("Unreachable", `cannot reach Overlay at ${this.baseUrl}`, 0);
    }
    if (!response.ok) throw await errorOf(response);
    return response;
  }
}

interface RequestOptions {
  root?: boolean; // a path outside /api/v1 (the OpenAI-compatible /v1/models)
  params?: Record<string, string>;
  body?: unknown;
  signal?: AbortSignal;
}

function chatBody(messages: ChatMessage[], options: AnswerOptions, stream: boolean): object {
  const body: Record<string, unknown> = {
    messages,
    rag: options.rag ?? true,
    think: options.think ?? false,
    stream,
  };
  if (options.adapter) body.adapter = options.adapter;
  return body;
}

/** Health, then the token, then the index: the first thing that fails, with its fix. */
export async function testConnection(client: OverlayClient, baseUrl: string): Promise<ConnectionReport> {
  try {
    await client.health();
  } catch {
    return {
      ok: false,
      message: `Nothing answers at ${baseUrl}.`,
      fix:
        "Start `overlay serve` there. From a phone or another machine the daemon must listen " +
        "on the network (`overlay serve --host 0.0.0.0` with server.token set) and the URL " +
        "must be its LAN address, e.g. http://192.168.1.20:8765.",
    };
  }
  try {
    const status = await client.status();
    const state = status.state === "indexing" ? ", indexing your vault for the first time" : "";
    return { ok: true, message: `Connected: ${status.index.notes} notes indexed${state}.`, fix: "" };
  } catch (error) {
    if (error instanceof OverlayError && error.status === 401) {
      return {
        ok: false,
        message: "The daemon answers, but the token is wrong.",
        fix: "Run `overlay token` on the daemon's machine and paste what it prints.",
      };
    }
    return { ok: false, message: describeError(error), fix: "See the daemon's log." };
  }
}

/** The model that answers when none is chosen: the promoted adapter, else the base model. */
export function answeringModel(models: Model[]): string {
  const serving = models.filter((m) => !m.tainted);
  return (serving.find((m) => m.promoted) ?? serving.find((m) => !m.parent) ?? serving[0])?.id ?? "";
}

/** How the model picker names a model: adapters say so, the answering one is starred, and a
 * tainted one says why it cannot be chosen. */
export function modelLabel(model: Model): string {
  if (model.tainted) return `${model.id} (tainted: trained on a forgotten note, out of service)`;
  const label = model.parent ? `${model.id} (adapter)` : model.id;
  return model.promoted ? `${label} ★` : label;
}

async function errorOf(response: Response): Promise<OverlayError> {
  const text = await response.text();
  try {
    const { error } = JSON.parse(text) as { error: { type: string; message: string } };
    return new OverlayError(error.type, error.message, response.status);
  } catch {
    return new OverlayError("HttpError", `HTTP ${response.status}: ${text.slice(0, 200)}`, response.status);
  }
}

function toChatEvent(frame: ServerSentEvent): ChatEvent {
  const data = JSON.parse(frame.data);
  switch (frame.event) {
    case "sources":
      return { kind: "sources", citations: data.citations as Citation[] };
    case "token":
    case "reasoning":
      return { kind: frame.event, text: data.text as string };
    case "done":
      return { kind: "done", answer: data as Answer };
    case "error":
      throw new OverlayError(data.type, data.message, 200);
    default:
      throw new OverlayError("BadStream", `unexpected event '${frame.event}'`, 200);
  }
}

/**
 * Server-Sent Events from a byte stream (the WHATWG rules that matter here): UTF-8
 * decoded across chunk boundaries, LF / CRLF / CR line ends (a CRLF split between two
 * chunks included), `event:` and multi-line `data:`, comments (`:`) ignored; a frame
 * ends at an empty line.
 */
export async function* parseEventStream(
  body: ReadableStream<Uint8Array>,
): AsyncGenerator<ServerSentEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder("utf-8");
  const frames = new FrameBuilder();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      const held = !done && buffer.endsWith("\r") ? 1 : 0; // maybe half of a CRLF
      const lines = buffer.slice(0, buffer.length - held).split(/\r\n|\r|\n/);
      buffer = (done ? "" : (lines.pop() ?? "")) + buffer.slice(buffer.length - held);
      for (const line of lines) {
        const frame = frames.push(line);
        if (frame) yield frame;
      }
      if (done) break;
    }
    const last = frames.push(""); // a stream that ends without the final empty line
    if (last) yield last;
  } finally {
    reader.releaseLock();
  }
}

class FrameBuilder {
  private event = "";
  private data: string[] = [];

  /** Take one line; return the frame an empty line completes. */
  push(line: string): ServerSentEvent | null {
    if (line === "") {
      const frame = this.data.length
        ? { event: this.event || "message", data: this.data.join("\n") }
        : null;
      this.event = "";
      this.data = [];
      return frame;
    }
    if (line.startsWith(":")) return null;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") this.event = value;
    else if (field === "data") this.data.push(value);
    return null;
  }
}

/** Obsidian's link text for a citation: `path#heading` without `.md`, as openLinkText wants.
 * The server's `target` wins when it names one (a PDF page, a canvas). */
export function citationLink(citation: Pick<Citation, "note_path" | "heading_path" | "target">): string {
  if (citation.target) return citation.target.replace(/\.md(?=#|$)/, "");
  const note = citation.note_path.replace(/\.md$/, "");
  const heading = citation.heading_path[citation.heading_path.length - 1];
  return heading ? `${note}#${heading}` : note;
}

/** A message for people, from whatever a call threw. */
export function describeError(error: unknown): string {
  if (error instanceof OverlayError) {
    if (error.type === "Unreachable") return `${error.message}; is \`overlay serve\` running?`;
    if (error.status === 401) return "the token is wrong; paste `overlay token` into the settings";
    return error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

/** The answer's `[n]` markers as links to their notes (`\[[[path#heading|n]]\]`). */
export function linkCitations(answer: Pick<Answer, "text" | "citations">): string {
  const byNumber = new Map(answer.citations.map((c) => [c.n, c]));
  return answer.text.replace(/\[(\d{1,2})\]/g, (marker, n: string) => {
    const citation = byNumber.get(Number(n));
    return citation ? `\\[[[${citationLink(citation)}|${n}]]\\]` : marker;
  });
}

/** The status bar's text: the first index is named as such; a sync after an edit is not news. */
export function statusText(status: Status, model: string | null): string {
  const notes = `${status.index.notes} notes`;
  const answering = model ? ` · ${model.split("/").pop()}` : "";
  return status.state === "indexing"
    ? `Overlay: indexing your vault for the first time… ${notes} so far${answering}`
    : `Overlay: ${notes}${answering}`;
}
