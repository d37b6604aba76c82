// Conversations, questions about a note or a selection, citation targets and the related
// notes after a sync: the plugin's logic with no Obsidian, against a real Overlay server
// (OVERLAY_URL, OVERLAY_TOKEN; tests/integration/test_plugin_client.py sets them).
import assert from "node:assert/strict";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";

import { ChatEvent, citationLink, OverlayClient } from "../src/client";
import {
  ConversationList,
  contextCitation,
  matchedHeading,
  messagesOf,
  NoteContext,
  reopen,
  snippetOf,
  splitContext,
  turnOf,
  withContext,
} from "../src/conversations";

const URL = process.env.OVERLAY_URL ?? "";
const TOKEN = process.env.OVERLAY_TOKEN ?? "";
const needsServer = { skip: URL ? false : "OVERLAY_URL is not set: no server to test against" };
const BOAT = "Projects/The boat.md";

describe("questions about a note or a selection", () => {
  const selection: NoteContext = {
    kind: "selection",
    notePath: BOAT,
    heading: "Where she lives",
    text: "Berth B-14 at [[Andrejosta]]\n>>> not the end",
  };

  test("the context goes before the question and comes back out of the logged message", () => {
    const message = withContext("Where is she kept?", selection);
    assert.match(message, /^About the selection \[\[Projects\/The boat#Where she lives\]\]:\n<<<\nBerth B-14/);
    assert.deepEqual(splitContext(message), {
      question: "Where is she kept?",
      context: { kind: "selection", notePath: BOAT, heading: "Where she lives" },
    });
    assert.deepEqual(splitContext("Plain question?"), { question: "Plain question?", context: null });
  });

  test("the note asked about is cited as [0] and opens at its heading", () => {
    const cited = contextCitation({ kind: "selection", notePath: BOAT, heading: "Where she lives" });
    assert.equal(cited?.n, 0);
    assert.equal(citationLink(cited!), "Projects/The boat#Where she lives");
    assert.equal(contextCitation(null), null);
  });

  test("a long note is cut to what a small model reads", () => {
    const message = withContext("Q?", { kind: "note", notePath: "A.md", heading: null, text: "x".repeat(50_000) });
    assert.ok(message.length < 4200, String(message.length));
  });
});

describe("conversation list", () => {
  test("records answers into conversations, newest first, and forgets one on delete", () => {
    let clock = 1000;
    const list = new ConversationList([], () => clock++);
    const first = list.record(null, "What is my boat called?", 7);
    list.record(first.id, "Where is she kept?", 8);
    const second = list.record(null, "x".repeat(100), 9);
    assert.deepEqual(first.logIds, [7, 8]);
    assert.equal(second.title.length, 78);
    assert.deepEqual(list.newest().map((c) => c.id), [second.id, first.id]);
    list.remove(second.id);
    assert.deepEqual(list.all.map((c) => c.id), [first.id]);
  });
});

describe("related-note snippets", () => {
  const note = "---\ntags: [a]\n---\n# The boat\n\nShe is a Folkboat.\n\n## Where she lives\n\nBerth B-14.\n";

  test("start at the matched heading, else at the note's first text", () => {
    assert.equal(snippetOf(note, "Where she lives"), "Berth B-14.");
    assert.equal(snippetOf(note, null), "She is a Folkboat. Berth B-14.");
    assert.equal(snippetOf(note, "No such heading", 10), "She is a …");
    assert.equal(matchedHeading(["links to it", "similar: The boat › Where she lives"]), "Where she lives");
    assert.equal(matchedHeading(["links to it"]), null);
  });
});

describe("against a real Overlay server", () => {
  const client = new OverlayClient({ baseUrl: URL, token: TOKEN });

  test("a conversation is kept in the log, reopened, continued and deleted", needsServer, async () => {
    const list = new ConversationList();
    const first = await client.answer([{ role: "user", content: "What is the name of my boat?" }], { rag: false });
    const conversation = list.record(null, "What is the name of my boat?", first.log_id as number);
    const history = messagesOf(await reopen(client, conversation));
    assert.deepEqual(history, [
      { role: "user", content: "What is the name of my boat?" },
      { role: "assistant", content: first.text },
    ]);
    const followUp = "And where is she kept?";
    const second = await client.answer([...history, { role: "user", content: followUp }], { rag: false });
    list.record(conversation.id, followUp, second.log_id as number);

    const reopened = (await reopen(client, list.get(conversation.id)!)).map(turnOf);
    assert.deepEqual(reopened.map((t) => t.question), ["What is the name of my boat?", followUp]);
    assert.deepEqual(reopened.map((t) => t.answer.text), [first.text, second.text]);
    assert.deepEqual(reopened.map((t) => t.answer.log_id), [first.log_id, second.log_id]);

    list.remove(conversation.id);
    assert.equal(list.all.length, 0);
    assert.equal((await client.logEntry(second.log_id as number)).answer, second.text); // still logged
  });

  test("an answer the log no longer has is left out of a reopened conversation", needsServer, async () => {
    const answer = await client.answer([{ role: "user", content: "Say hi." }], { rag: false });
    const list = new ConversationList();
    const conversation = list.record(null, "Say hi.", answer.log_id as number);
    conversation.logIds.push(999_999);
    assert.deepEqual((await reopen(client, conversation)).map((e) => e.id), [answer.log_id]);
  });

  test("a question about a note sends the note, and its log entry cites it first", needsServer, async () => {
    const status = await client.status();
    const text = await readFile(join(status.vault, BOAT), "utf-8");
    const context: NoteContext = { kind: "note", notePath: BOAT, heading: null, text };
    const answer = await client.answer([{ role: "user", content: withContext("What is she called?", context) }]);
    const entry = await client.logEntry(answer.log_id as number);
    assert.ok(entry.question.includes("Her name is Kittiwake"), entry.question.slice(0, 300));
    const turn = turnOf(entry);
    assert.equal(turn.question, "What is she called?");
    assert.deepEqual(turn.context, { kind: "note", notePath: BOAT, heading: null });
    assert.equal(citationLink(turn.answer.citations[0]), "Projects/The boat");
  });

  test("each citation opens the note and heading its passage came from", needsServer, async () => {
    const events: ChatEvent[] = [];
    const question = [{ role: "user" as const, content: "Where does my boat live?" }];
    for await (const event of client.streamAnswer(question)) events.push(event);
    const sources = events.find((e) => e.kind === "sources");
    assert.ok(sources && sources.kind === "sources" && sources.citations.length > 0);
    for (const citation of sources.citations) {
      const [note, heading] = citationLink(citation).split("#");
      assert.equal(`${note}.md`, citation.note_path);
      assert.equal(heading, citation.heading_path[citation.heading_path.length - 1]);
      const section = await client.section(citation.note_path, heading ?? null);
      const words = citation.snippet.replace(/[*_`#>|[\]-]/g, " ").split(/\s+/).filter((w) => w.length > 4);
      assert.ok(words.some((w) => section.text.includes(w)), `${citation.snippet} not in ${section.text}`);
    }
    assert.ok(sources.citations.some((c) => citationLink(c) === "Projects/The boat#Where she lives"));
  });

  test("a note written and synced shows among the related notes at once", needsServer, async () => {
    const vault = (await client.status()).vault;
    const path = "Projects/Mooring lines.md";
    const related = async () => (await client.related(BOAT, 30)).find((r) => r.note_path === path);
    assert.equal(await related(), undefined);
    await mkdir(join(vault, "Projects"), { recursive: true });
    await writeFile(join(vault, path), "# Mooring lines\n\nNew lines for [[The boat]] at the berth.\n");
    try {
      await client.sync([path], true);
      assert.ok((await related())?.reasons.includes("linked from it"));
    } finally {
      await rm(join(vault, path));
      await client.sync([path], true);
    }
    assert.equal(await related(), undefined);
  });
});
