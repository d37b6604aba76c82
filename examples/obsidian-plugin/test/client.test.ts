// The plugin's HTTP client, with node's test runner: `npm test`.
// The SSE parser and link helpers run anywhere; the rest needs a real Overlay server,
// named by OVERLAY_URL and OVERLAY_TOKEN (tests/integration/test_plugin_client.py
// starts one on a copy of a few examples/vault notes and runs this file against it).
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  Answer,
  answeringModel,
  ChatEvent,
  citationLink,
  linkCitations,
  Model,
  modelLabel,
  OverlayClient,
  OverlayError,
  parseEventStream,
  ServerSentEvent,
  Status,
  statusText,
} from "../src/client";

const URL = process.env.OVERLAY_URL ?? "";
const TOKEN = process.env.OVERLAY_TOKEN ?? "";
const needsServer = { skip: URL ? false : "OVERLAY_URL is not set: no server to test against" };
const BOAT = "Projects/The boat.md";
// tests/integration/test_plugin_client.py looks for this pair among what training uses
const CORRECTION = "My boat is called Kittiwake (corrected by the plugin test).";

function streamOf(chunks: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) {
        controller.enqueue(typeof chunk === "string" ? encoder.encode(chunk) : chunk);
      }
      controller.close();
    },
  });
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<ServerSentEvent[]> {
  const frames: ServerSentEvent[] = [];
  for await (const frame of parseEventStream(stream)) frames.push(frame);
  return frames;
}

describe("parseEventStream", () => {
  test("reads named events and multi-line data split anywhere", async () => {
    const wire = 'event: token\ndata: {"text": "a"}\n\n: keep-alive\n\ndata: one\ndata: two\n\n';
    const chunks = wire.split("").map((c) => c); // one character per chunk
    assert.deepEqual(await collect(streamOf(chunks)), [
      { event: "token", data: '{"text": "a"}' },
      { event: "message", data: "one\ntwo" },
    ]);
  });

  test("keeps a UTF-8 character split between chunks and a CRLF split between chunks", async () => {
    const bytes = new TextEncoder().encode('event: token\r\ndata: {"text": "Фунтик"}\r\n\r\n');
    const cut = bytes.indexOf(0xd0) + 1; // inside the first Cyrillic letter
    const crlf = bytes.lastIndexOf(0x0d); // between the last CR and its LF
    const frames = await collect(
      streamOf([bytes.slice(0, cut), bytes.slice(cut, crlf + 1), bytes.slice(crlf + 1)]),
    );
    assert.deepEqual(frames, [{ event: "token", data: '{"text": "Фунтик"}' }]);
  });

  test("yields a last frame that lacks the closing empty line", async () => {
    assert.deepEqual(await collect(streamOf(["data: [DONE]"])), [
      { event: "message", data: "[DONE]" },
    ]);
  });
});

describe("citation links", () => {
  const citation = { n: 1, note_path: BOAT, heading_path: ["The boat", "Where she lives"], snippet: "" };

  test("open the note at the innermost heading", () => {
    assert.equal(citationLink(citation), "Projects/The boat#Where she lives");
    assert.equal(citationLink({ note_path: "Home.md", heading_path: [] }), "Home");
  });

  test("turn [n] markers into wiki-links and leave unknown numbers alone", () => {
    const answer: Answer = { text: "Kittiwake [1], see [2].", reasoning: "", citations: [citation], model: "m" };
    assert.equal(linkCitations(answer), "Kittiwake \\[[[Projects/The boat#Where she lives|1]]\\], see [2].");
  });
});

describe("the status bar", () => {
  const status = (state: Status["state"]): Status => ({
    state,
    vault: "/v",
    last_error: null,
    index: { notes: 39, chunks: 150, links: 80 },
  });

  test("names the first index, and nothing else, as indexing the vault", () => {
    assert.equal(
      statusText(status("indexing"), "Qwen/Qwen3-4B"),
      "Overlay: indexing your vault for the first time… 39 notes so far · Qwen3-4B",
    );
    // the sync 2 s after each edit: the person sees their notes, not a first index
    assert.equal(statusText(status("syncing"), null), "Overlay: 39 notes");
    assert.equal(statusText(status("idle"), null), "Overlay: 39 notes");
  });
});

describe("the model picker", () => {
  // What GET /v1/models says after a forgotten note tainted the promoted adapter.
  const models: Model[] = [
    { id: "SmolLM2-135M-Instruct" },
    { id: "run-2", parent: "SmolLM2-135M-Instruct", promoted: true, tainted: true },
    { id: "run-1", parent: "SmolLM2-135M-Instruct" },
  ];

  test("names a tainted adapter as such, and never lets it answer by default", () => {
    assert.equal(
      modelLabel(models[1]),
      "run-2 (tainted: trained on a forgotten note, out of service)",
    );
    assert.equal(modelLabel(models[2]), "run-1 (adapter)");
    assert.equal(answeringModel(models), "SmolLM2-135M-Instruct");
  });

  test("stars the adapter that answers", () => {
    const clean = models.map((m) => ({ ...m, tainted: false }));
    assert.equal(modelLabel(clean[1]), "run-2 (adapter) ★");
    assert.equal(answeringModel(clean), "run-2");
  });
});

describe("reasoning, from a canned server", () => {
  const wire = [
    'event: sources\ndata: {"citations": []}\n\n',
    'event: reasoning\ndata: {"text": "The boat note"}\n\n',
    'event: reasoning\ndata: {"text": " names her."}\n\n',
    'event: token\ndata: {"text": "Kitti"}\n\n',
    'event: token\ndata: {"text": "wake."}\n\n',
    'event: done\ndata: {"text": "Kittiwake.", "reasoning": "The boat note names her.", "citations": [], "model": "m"}\n\n',
  ];
  const sent: Record<string, unknown>[] = [];
  const canned = new OverlayClient({
    baseUrl: "http://overlay.test",
    token: "t",
    fetch: async (_input, init) => {
      sent.push(JSON.parse(String(init?.body)) as Record<string, unknown>);
      return new Response(streamOf(wire), { headers: { "Content-Type": "text/event-stream" } });
    },
  });

  test("think is asked for only when set, and reasoning comes apart from the tokens", async () => {
    const question = [{ role: "user" as const, content: "What is my boat called?" }];
    const events: ChatEvent[] = [];
    for await (const event of canned.streamAnswer(question, { think: true })) events.push(event);
    for await (const _ of canned.streamAnswer(question)) continue;
    assert.deepEqual(
      sent.map((body) => body.think),
      [true, false],
    );
    const of = (kind: string) => events.flatMap((e) => (e.kind === kind && "text" in e ? [e.text] : []));
    assert.equal(of("reasoning").join(""), "The boat note names her.");
    assert.equal(of("token").join(""), "Kittiwake.");
  });
});

describe("against a real Overlay server", () => {
  const client = new OverlayClient({ baseUrl: URL, token: TOKEN });

  test("health needs no token; status counts the indexed notes", needsServer, async () => {
    const anonymous = new OverlayClient({ baseUrl: URL, token: "" });
    assert.equal((await anonymous.health()).status, "ok");
    const status = await client.status();
    assert.equal(status.state, "idle");
    assert.ok(status.index.notes >= 5, `only ${status.index.notes} notes`);
  });

  test("a wrong token is an OverlayError 401 Unauthorized", needsServer, async () => {
    const wrong = new OverlayClient({ baseUrl: URL, token: "wrong" });
    await assert.rejects(wrong.status(), (error: unknown) => {
      assert.ok(error instanceof OverlayError);
      assert.equal(error.status, 401);
      assert.equal(error.type, "Unauthorized");
      return true;
    });
  });

  test("a server that is not there is 'Unreachable'", async () => {
    const nowhere = new OverlayClient({ baseUrl: "http://127.0.0.1:9", token: "x" });
    await assert.rejects(nowhere.health(), { name: "OverlayError", type: "Unreachable" });
  });

  test("search finds the boat note by meaning", needsServer, async () => {
    const hits = await client.search("What is the name of my boat?", 3);
    assert.ok(hits.map((h) => h.note_path).includes(BOAT), JSON.stringify(hits));
  });

  test("related notes say why", needsServer, async () => {
    const related = await client.related(BOAT, 10);
    const andrejosta = related.find((r) => r.note_path === "Места/Andrejosta.md");
    assert.ok(andrejosta, JSON.stringify(related));
    assert.ok(andrejosta.reasons.includes("links to it"));
  });

  test("a citation's section is read, and nothing outside the vault", needsServer, async () => {
    const section = await client.section(BOAT, "Where she lives");
    assert.match(section.text, /B-14/);
    await assert.rejects(client.section("../../etc/passwd"), {
      type: "PathOutsideVault",
      status: 400,
    });
  });

  test("a streamed answer: sources, then tokens, then the whole answer", needsServer, async () => {
    const events: ChatEvent[] = [];
    const question = [{ role: "user" as const, content: "What is the name of my boat?" }];
    for await (const event of client.streamAnswer(question)) events.push(event);
    const first = events[0];
    const last = events[events.length - 1];
    assert.equal(first?.kind, "sources");
    assert.equal(last?.kind, "done");
    if (first?.kind !== "sources" || last?.kind !== "done") return;
    assert.ok(first.citations.some((c) => c.note_path === BOAT));
    const tokens = events.flatMap((e) => (e.kind === "token" ? [e.text] : []));
    assert.ok(tokens.length > 0);
    assert.equal(last.answer.text.trim(), tokens.join("").trim());
  });

  test("think on a model that cannot think still answers, with no reasoning", needsServer, async () => {
    const question = [{ role: "user" as const, content: "Say hello." }];
    const events: ChatEvent[] = [];
    for await (const event of client.streamAnswer(question, { rag: false, think: true })) events.push(event);
    const last = events[events.length - 1];
    assert.equal(last?.kind, "done");
    if (last?.kind !== "done") return;
    assert.ok(last.answer.text.trim());
    assert.ok(!events.some((e) => e.kind === "reasoning"));
    assert.doesNotMatch(last.answer.text, /<\/?think>/);
  });

  test("a stream can be stopped", needsServer, async () => {
    const stop = new AbortController();
    const question = [{ role: "user" as const, content: "Tell me about my boat." }];
    const seen: string[] = [];
    await assert.rejects(async () => {
      for await (const event of client.streamAnswer(question, { signal: stop.signal })) {
        seen.push(event.kind);
        stop.abort();
      }
    }, { name: "AbortError" });
    assert.deepEqual(seen, ["sources"]);
  });

  test("an answer is logged, rated and corrected; the correction is an approved pair", needsServer, async () => {
    const question = [{ role: "user" as const, content: "What is the name of my boat?" }];
    const answer = await client.answer(question);
    assert.equal(typeof answer.log_id, "number");
    const logId = answer.log_id as number;
    const entry = await client.logEntry(logId);
    assert.equal(entry.question, question[0].content);
    assert.equal(entry.answer, answer.text);
    assert.equal(entry.interface, "plugin");
    assert.ok((await client.log({ q: "boat" })).some((e) => e.id === logId));

    const good = await client.rate(logId, "good");
    assert.equal(good.entry.rating, "good");
    assert.equal(good.pair_id, null);
    const corrected = await client.rate(logId, "bad", CORRECTION);
    assert.equal(corrected.entry.correction, CORRECTION);
    assert.ok(corrected.pair_id);
    const response = await fetch(`${URL}/api/v1/pairs/${corrected.pair_id}`, {
      headers: { Authorization: `Bearer ${TOKEN}` },
    });
    const pair = (await response.json()) as { status: string; source: string; messages: { content: string }[] };
    assert.equal(pair.status, "approved");
    assert.equal(pair.source, "correction");
    assert.equal(pair.messages[pair.messages.length - 1]?.content, CORRECTION);
    await assert.rejects(client.rate(999_999, "good"), { type: "LogEntryNotFound", status: 404 });
  });

  test("sync with wait reports what it did", needsServer, async () => {
    const result = await client.sync(undefined, true);
    assert.equal(result.finished, true);
    assert.equal(result.error, null);
    assert.ok(result.report && "unchanged" in result.report);
  });
});
