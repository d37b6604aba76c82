// Conversations kept across sessions, and questions about a note or a selection.
// The daemon's log holds every answer (question, answer, sources); the plugin keeps only
// which log entries make up each conversation, so reopening one reads the log again.
// No Obsidian imports: node's test runner drives this against a real daemon.

import { Answer, ChatMessage, Citation, LogEntry, OverlayClient } from "./client";

export interface Conversation {
  id: string;
  title: string; // the first question
  logIds: number[]; // its answers in the daemon's log, oldest first
  updated: number; // epoch milliseconds
}

/** A note, or a selection in it, given to the model with a question and cited as [0]. */
export interface NoteContext {
  kind: "note" | "selection";
  notePath: string;
  heading: string | null; // the heading the selection sits under
  text: string;
}

/** One question and its answer, as the chat view shows them. */
export interface Turn {
  question: string; // without the context block
  context: Pick<NoteContext, "kind" | "notePath" | "heading"> | null;
  answer: Answer;
}

export const MAX_CONTEXT_CHARS = 4000; // a small local model reads a short prompt faster
const CONTEXT_RE = /^About the (note|selection) \[\[([^\]#|]+)(?:#([^\]|]+))?\]\]:\n<<<\n[\s\S]*?\n>>>\n\n/;

/** The message the daemon gets: the context (cut to MAX_CONTEXT_CHARS), then the question. */
export function withContext(question: string, context: NoteContext | null): string {
  if (!context) return question;
  const link = context.notePath.replace(/\.md$/, "") + (context.heading ? `#${context.heading}` : "");
  const text = context.text.slice(0, MAX_CONTEXT_CHARS).replace(/\n>>>/g, "\n> >>");
  return `About the ${context.kind} [[${link}]]:\n<<<\n${text}\n>>>\n\n${question}`;
}

/** The question as the person asked it, and what it was about (from a logged message). */
export function splitContext(message: string): Pick<Turn, "question" | "context"> {
  const match = CONTEXT_RE.exec(message);
  if (!match) return { question: message, context: null };
  const [whole, kind, link, heading] = match;
  return {
    question: message.slice(whole.length),
    context: { kind: kind as NoteContext["kind"], notePath: `${link}.md`, heading: heading ?? null },
  };
}

/** The context as a citation, numbered 0: the answer's sources start with it. */
export function contextCitation(context: Turn["context"]): Citation | null {
  if (!context) return null;
  const headingPath = context.heading ? [context.heading] : [];
  const snippet = context.kind === "note" ? "the note asked about" : "the selection asked about";
  return { n: 0, note_path: context.notePath, heading_path: headingPath, snippet, cited: true };
}

/** A logged answer as a turn of a conversation. */
export function turnOf(entry: LogEntry): Turn {
  const { question, context } = splitContext(entry.question);
  const citations: Citation[] = entry.sources.map((s) => ({ ...s, snippet: "" }));
  const asked = contextCitation(context);
  return {
    question,
    context,
    answer: {
      text: entry.answer,
      reasoning: entry.reasoning,
      citations: asked ? [asked, ...citations] : citations,
      model: entry.adapter || entry.model,
      log_id: entry.id,
    },
  };
}

/** The messages that continue a conversation: each logged question and answer. */
export function messagesOf(entries: LogEntry[]): ChatMessage[] {
  return entries.flatMap((e) => [
    { role: "user" as const, content: e.question },
    { role: "assistant" as const, content: e.answer },
  ]);
}

/** Reopen a conversation from the log; answers the log no longer has are left out. */
export async function reopen(client: OverlayClient, conversation: Conversation): Promise<LogEntry[]> {
  const entries: LogEntry[] = [];
  for (const id of conversation.logIds) {
    try {
      entries.push(await client.logEntry(id));
    } catch (error) {
      if ((error as { type?: string }).type !== "LogEntryNotFound") throw error;
    }
  }
  return entries;
}

/** The list of conversations, newest first; the plugin saves `all` in its data.json. */
export class ConversationList {
  constructor(
    public all: Conversation[] = [],
    private readonly now: () => number = Date.now,
  ) {}

  newest(): Conversation[] {
    return [...this.all].sort((a, b) => b.updated - a.updated);
  }

  get(id: string): Conversation | undefined {
    return this.all.find((c) => c.id === id);
  }

  /** Add an answer to conversation `id`, or start one titled by its question. */
  record(id: string | null, question: string, logId: number): Conversation {
    const existing = id ? this.get(id) : undefined;
    if (existing) {
      existing.logIds.push(logId);
      existing.updated = this.now();
      return existing;
    }
    const started = this.now();
    const title = question.length > 80 ? `${question.slice(0, 77)}…` : question;
    const conversation = { id: `c${started}-${logId}`, title, logIds: [logId], updated: started };
    this.all.push(conversation);
    return conversation;
  }

  /** Forget a conversation here; its answers stay in the daemon's log (ratings, training). */
  remove(id: string): void {
    this.all = this.all.filter((c) => c.id !== id);
  }
}

/** The start of the passage a related note matched: under `heading` when found, else the
 * note's first text; front matter and headings skipped. */
export function snippetOf(markdown: string, heading: string | null, chars = 160): string {
  const body = markdown.replace(/^---\n[\s\S]*?\n---\n/, "");
  let start = 0;
  if (heading) {
    const escaped = heading.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const at = new RegExp(`^#{1,6}\\s+${escaped}\\s*$`, "m").exec(body);
    if (at) start = at.index + at[0].length;
  }
  const text = body
    .slice(start)
    .split("\n")
    .filter((line) => line.trim() && !/^#{1,6}\s/.test(line))
    .join(" ")
    .replace(/\s+/g, " ")
    .trim();
  return text.length > chars ? `${text.slice(0, chars - 1)}…` : text;
}

/** The heading a related note matched by meaning, from its reason ("similar: A › B"). */
export function matchedHeading(reasons: string[]): string | null {
  const similar = reasons.find((r) => r.startsWith("similar: "));
  if (!similar || similar === "similar: the note") return null;
  const parts = similar.slice("similar: ".length).split(" › ");
  return parts[parts.length - 1] ?? null;
}
