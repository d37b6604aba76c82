import { ItemView, MarkdownRenderer, Notice, WorkspaceLeaf } from "obsidian";

import {
  Answer,
  ChatMessage,
  Citation,
  citationLink,
  describeError,
  linkCitations,
  modelLabel,
  OverlayError,
  Rating,
} from "./client";
import {
  contextCitation,
  messagesOf,
  NoteContext,
  reopen,
  Turn,
  turnOf,
  withContext,
} from "./conversations";
import type OverlayPlugin from "./main";

export const ASK_VIEW = "overlay-ask";
const RENDER_EVERY_MS = 120; // Markdown re-rendered while streaming, at most this often

/** "Ask your vault": conversations whose answers stream in as Markdown and cite notes. */
export class AskView extends ItemView {
  private messages: ChatMessage[] = [];
  private conversationId: string | null = null;
  private context: NoteContext | null = null;
  private banner!: HTMLElement;
  private history!: HTMLElement;
  private log!: HTMLElement;
  private contextEl!: HTMLElement;
  private input!: HTMLTextAreaElement;
  private button!: HTMLButtonElement;
  private modelPicker!: HTMLSelectElement;
  private running: AbortController | null = null;

  constructor(
    leaf: WorkspaceLeaf,
    private readonly plugin: OverlayPlugin,
  ) {
    super(leaf);
  }

  getViewType(): string {
    return ASK_VIEW;
  }

  getDisplayText(): string {
    return "Ask your vault";
  }

  getIcon(): string {
    return "message-circle-question";
  }

  async onOpen(): Promise<void> {
    const root = this.contentEl;
    root.empty();
    root.addClass("overlay-ask");
    this.banner = root.createDiv({ cls: "overlay-banner" });
    this.banner.hide();
    this.renderToolbar(root.createDiv({ cls: "overlay-toolbar" }));
    this.history = root.createDiv({ cls: "overlay-history" });
    this.history.hide();
    this.log = root.createDiv({ cls: "overlay-log" });
    // Citations and links in rendered answers open the note at the heading.
    this.registerDomEvent(this.log, "click", (event) => this.followLink(event));
    this.renderForm(root.createDiv({ cls: "overlay-form" }));
    await this.loadModels();
  }

  async onClose(): Promise<void> {
    this.stop();
  }

  private renderToolbar(bar: HTMLElement): void {
    const historyButton = bar.createEl("button", { text: "History", cls: "overlay-history-button" });
    this.registerDomEvent(historyButton, "click", () => this.toggleHistory());
    const fresh = bar.createEl("button", { text: "New", attr: { "aria-label": "New conversation" } });
    this.registerDomEvent(fresh, "click", () => this.clear());
    this.modelPicker = bar.createEl("select", { cls: "overlay-model-picker dropdown" });
    this.registerDomEvent(this.modelPicker, "change", () => {
      this.plugin.settings.adapter = this.modelPicker.value;
      void this.plugin.saveSettings();
    });
    const rag = bar.createEl("label", { cls: "overlay-rag-toggle", text: " From the vault" });
    const box = createEl("input", { attr: { type: "checkbox" } });
    rag.prepend(box);
    box.checked = this.plugin.settings.rag;
    this.registerDomEvent(box, "change", () => {
      this.plugin.settings.rag = box.checked;
      void this.plugin.saveSettings();
    });
  }

  private renderForm(form: HTMLElement): void {
    this.contextEl = form.createDiv({ cls: "overlay-context" });
    this.contextEl.hide();
    this.input = form.createEl("textarea", {
      attr: { placeholder: "Ask your notes… (Enter to send, Shift+Enter for a new line)", rows: "3" },
    });
    this.registerDomEvent(this.input, "keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        void this.ask();
      }
    });
    const row = form.createDiv({ cls: "overlay-buttons" });
    this.button = row.createEl("button", { text: "Ask", cls: "mod-cta" });
    this.registerDomEvent(this.button, "click", () => void (this.running ? this.stop() : this.ask()));
    const note = row.createEl("button", { text: "About this note" });
    this.registerDomEvent(note, "click", () => void this.plugin.askAboutActive("note"));
    const selection = row.createEl("button", { text: "About the selection" });
    this.registerDomEvent(selection, "click", () => void this.plugin.askAboutActive("selection"));
  }

  /** The models the daemon serves; the chosen one is kept in the settings. */
  async loadModels(): Promise<void> {
    const picker = this.modelPicker;
    picker.empty();
    picker.createEl("option", { text: "Default model", value: "" });
    try {
      const models = await this.plugin.client().models();
      for (const model of models) {
        const option = picker.createEl("option", { text: modelLabel(model), value: model.id });
        option.disabled = model.tainted === true;
      }
      // A chosen adapter that was tainted since no longer answers: back to the default.
      if (models.some((m) => m.tainted && m.id === this.plugin.settings.adapter)) {
        this.plugin.settings.adapter = "";
        await this.plugin.saveSettings();
      }
      this.hideBanner();
    } catch (error) {
      this.showBanner(error);
    }
    picker.value = this.plugin.settings.adapter;
  }

  /** Ask about a note or a selection: it goes with the next question, and is cited as [0]. */
  setContext(context: NoteContext | null): void {
    this.context = context;
    this.contextEl.empty();
    if (!context) return this.contextEl.hide();
    this.contextEl.show();
    const what = context.kind === "note" ? "this note" : "the selection in";
    this.contextEl.createSpan({ text: `About ${what} ` });
    this.contextEl.createEl("b", { text: context.notePath.replace(/\.md$/, "") });
    const drop = this.contextEl.createEl("button", { text: "×", attr: { "aria-label": "Ask without it" } });
    this.registerDomEvent(drop, "click", () => this.setContext(null));
    this.input.focus();
  }

  private clear(): void {
    this.stop();
    this.messages = [];
    this.conversationId = null;
    this.setContext(null);
    this.log.empty();
  }

  private stop(): void {
    this.running?.abort();
    this.running = null;
    this.button?.setText("Ask");
  }

  private toggleHistory(): void {
    if (this.history.isShown()) return this.history.hide();
    this.renderHistory();
    this.history.show();
  }

  private renderHistory(): void {
    this.history.empty();
    const conversations = this.plugin.conversations.newest();
    if (!conversations.length) this.history.createDiv({ text: "No conversations yet." });
    for (const conversation of conversations) {
      const row = this.history.createDiv({ cls: "overlay-history-item" });
      const open = row.createEl("a", { text: conversation.title });
      row.createSpan({
        cls: "overlay-history-date",
        text: new Date(conversation.updated).toLocaleString(),
      });
      this.registerDomEvent(open, "click", () => void this.open(conversation.id));
      const remove = row.createEl("button", { text: "Delete", cls: "overlay-history-delete" });
      this.registerDomEvent(remove, "click", async () => {
        this.plugin.conversations.remove(conversation.id);
        await this.plugin.saveSettings();
        if (this.conversationId === conversation.id) this.clear();
        this.renderHistory();
      });
    }
  }

  /** Reopen a conversation from the daemon's log; the next question continues it. */
  async open(id: string): Promise<void> {
    const conversation = this.plugin.conversations.get(id);
    if (!conversation) return;
    this.clear();
    this.history.hide();
    try {
      const entries = await reopen(this.plugin.client(), conversation);
      this.conversationId = id;
      this.messages = messagesOf(entries);
      for (const entry of entries) await this.renderTurn(turnOf(entry));
      this.hideBanner();
    } catch (error) {
      this.showBanner(error);
    }
  }

  private async renderTurn(turn: Turn): Promise<void> {
    const { answerEl, textEl, sourcesEl } = this.turnElements(turn.question, turn.context);
    await this.finish(answerEl, textEl, sourcesEl, turn.answer);
  }

  private turnElements(question: string, context: Turn["context"]) {
    const questionEl = this.log.createDiv({ cls: "overlay-question", text: question });
    if (context) {
      const about = questionEl.createDiv({ cls: "overlay-question-context" });
      about.setText(`about ${context.kind === "note" ? "the note" : "a selection in"} `);
      const link = about.createEl("a", { text: context.notePath.replace(/\.md$/, ""), cls: "internal-link" });
      link.dataset.href = citationLink({ note_path: context.notePath, heading_path: context.heading ? [context.heading] : [] });
    }
    const answerEl = this.log.createDiv({ cls: "overlay-answer" });
    const textEl = answerEl.createDiv({ cls: "overlay-answer-text markdown-rendered" });
    const sourcesEl = answerEl.createDiv({ cls: "overlay-sources" });
    return { answerEl, textEl, sourcesEl };
  }

  async ask(question = this.input.value.trim()): Promise<void> {
    if (!question || this.running) return;
    this.input.value = "";
    const context = this.context;
    this.setContext(null);
    const asked = contextCitation(context);
    this.messages.push({ role: "user", content: withContext(question, context) });
    const { answerEl, textEl, sourcesEl } = this.turnElements(question, context);
    textEl.addClass("overlay-streaming");
    this.running = new AbortController();
    this.button.setText("Stop");
    const stream = { text: "", reasoning: "", citations: asked ? [asked] : ([] as Citation[]) };
    let reasoningEl: HTMLDetailsElement | null = null;
    const render = throttle(() => void this.renderMarkdown(textEl, stream), RENDER_EVERY_MS);
    try {
      const { rag, think, adapter } = this.plugin.settings;
      const events = this.plugin
        .client()
        .streamAnswer(this.messages, { rag, think, adapter, signal: this.running.signal });
      for await (const event of events) {
        if (event.kind === "sources") {
          stream.citations = asked ? [asked, ...event.citations] : event.citations;
          this.renderSources(sourcesEl, stream.citations);
        } else if (event.kind === "reasoning") {
          reasoningEl ??= this.reasoningBlock(answerEl, textEl);
          reasoningEl.querySelector(".overlay-reasoning-text")?.setText((stream.reasoning += event.text));
        } else if (event.kind === "token") {
          if (reasoningEl) reasoningEl.open = false; // folded once the answer begins
          stream.text += event.text;
          render();
        } else if (event.kind === "done") {
          render.cancel();
          const answer = { ...event.answer, citations: withAsked(asked, event.answer.citations) };
          await this.finish(answerEl, textEl, sourcesEl, answer);
          await this.remember(question, answer);
        }
      }
      this.hideBanner();
    } catch (error) {
      render.cancel();
      if ((error as Error).name !== "AbortError") {
        answerEl.createDiv({ cls: "overlay-error", text: `Overlay: ${describeError(error)}` });
        this.showBanner(error);
      }
      this.messages.pop();
    } finally {
      textEl.removeClass("overlay-streaming");
      this.running = null;
      this.button.setText("Ask");
    }
  }

  private async remember(question: string, answer: Answer): Promise<void> {
    this.messages.push({ role: "assistant", content: answer.text });
    if (answer.log_id === undefined || answer.log_id === null) return; // logging is off
    this.conversationId = this.plugin.conversations.record(this.conversationId, question, answer.log_id).id;
    await this.plugin.saveSettings();
  }

  private async renderMarkdown(el: HTMLElement, answer: Pick<Answer, "text" | "citations">): Promise<void> {
    const rendered = createDiv();
    await MarkdownRenderer.render(this.app, linkCitations(answer), rendered, "", this);
    el.empty();
    el.append(...Array.from(rendered.childNodes));
    this.log.scrollTop = this.log.scrollHeight;
  }

  private async finish(answerEl: HTMLElement, textEl: HTMLElement, sourcesEl: HTMLElement, answer: Answer): Promise<void> {
    await this.renderMarkdown(textEl, answer);
    if (answer.reasoning && !answerEl.querySelector(".overlay-reasoning")) {
      this.reasoningBlock(answerEl, textEl, false).querySelector(".overlay-reasoning-text")?.setText(answer.reasoning);
    }
    this.renderSources(sourcesEl, answer.citations);
    this.renderActions(answerEl, answer);
    this.renderFeedback(answerEl, answer);
  }

  /** Copy the answer, or insert it at the cursor of the note last edited. */
  private renderActions(answerEl: HTMLElement, answer: Answer): void {
    const row = answerEl.createDiv({ cls: "overlay-actions" });
    const copy = row.createEl("button", { text: "Copy", cls: "overlay-copy" });
    this.registerDomEvent(copy, "click", async () => {
      await navigator.clipboard.writeText(answer.text);
      new Notice("Answer copied");
    });
    const insert = row.createEl("button", { text: "Insert at cursor", cls: "overlay-insert" });
    this.registerDomEvent(insert, "click", () => {
      const inserted = this.plugin.insertAtCursor(linkCitations(answer));
      if (!inserted) new Notice("Open a note to insert the answer into");
    });
  }

  /** 👍 / 👎 and "Correct": what the person says of the answer goes to its log entry;
   * a correction becomes an approved training pair. */
  private renderFeedback(answerEl: HTMLElement, answer: Answer): void {
    const logId = answer.log_id;
    if (logId === undefined || logId === null) return; // logging is off
    const row = answerEl.createDiv({ cls: "overlay-feedback" });
    const status = row.createSpan({ cls: "overlay-feedback-status" });
    const rate = async (rating: Rating, correction?: string): Promise<boolean> => {
      try {
        const result = await this.plugin.client().rate(logId, rating, correction);
        status.setText(result.pair_id ? "Correction saved for training" : `Rated ${rating}`);
        return true;
      } catch (error) {
        status.setText(`Overlay: ${describeError(error)}`);
        return false;
      }
    };
    const good = row.createEl("button", { text: "👍", attr: { "aria-label": "A good answer" } });
    this.registerDomEvent(good, "click", () => void rate("good"));
    const bad = row.createEl("button", { text: "👎", attr: { "aria-label": "A bad answer" } });
    this.registerDomEvent(bad, "click", () => void rate("bad"));
    const correct = row.createEl("button", { text: "Correct" });
    this.registerDomEvent(correct, "click", () => this.openCorrection(answerEl, answer, rate));
  }

  private openCorrection(
    answerEl: HTMLElement,
    answer: Answer,
    rate: (rating: Rating, correction: string) => Promise<boolean>,
  ): void {
    if (answerEl.querySelector(".overlay-correction")) return;
    const box = answerEl.createDiv({ cls: "overlay-correction" });
    const input = box.createEl("textarea", { attr: { rows: "3" } });
    input.value = answer.text;
    const save = box.createEl("button", { text: "Save correction", cls: "mod-cta" });
    this.registerDomEvent(save, "click", () => {
      const text = input.value.trim();
      if (text) void rate("bad", text).then((saved) => saved && box.remove());
    });
  }

  /** The model's reasoning, apart from the answer: a collapsible block above it, open only
   * while the model thinks. */
  private reasoningBlock(answerEl: HTMLElement, textEl: HTMLElement, open = true): HTMLDetailsElement {
    const block = createEl("details", { cls: "overlay-reasoning" });
    block.open = open;
    block.createEl("summary", { text: "Reasoning" });
    block.createDiv({ cls: "overlay-reasoning-text" });
    answerEl.insertBefore(block, textEl);
    return block;
  }

  private renderSources(el: HTMLElement, citations: Citation[]): void {
    el.empty();
    if (!citations.length) return;
    el.createDiv({ cls: "overlay-sources-title", text: "Sources" });
    const list = el.createEl("ol", { attr: { start: String(citations[0].n) } });
    for (const citation of citations) {
      const item = list.createEl("li", { cls: citation.cited ? "is-cited" : "" });
      item.value = citation.n;
      const where = [citation.note_path.replace(/\.md$/, ""), ...citation.heading_path].join(" › ");
      const link = item.createEl("a", { text: where, cls: "internal-link" });
      link.dataset.href = citationLink(citation);
      link.title = citation.snippet;
    }
  }

  private followLink(event: MouseEvent): void {
    const link = (event.target as HTMLElement).closest("a.internal-link") as HTMLElement | null;
    const href = link?.dataset.href ?? link?.getAttribute("href");
    if (!href) return;
    event.preventDefault();
    void this.plugin.openLink(href);
  }

  private showBanner(error: unknown): void {
    const unreachable = error instanceof OverlayError && (error.type === "Unreachable" || error.status === 401);
    if (!unreachable) return;
    this.plugin.renderBanner(this.banner, error, () => void this.loadModels());
  }

  private hideBanner(): void {
    this.banner.hide();
  }
}

/** The asked-about note stays first among the answer's sources. */
function withAsked(asked: Citation | null, citations: Citation[]): Citation[] {
  return asked ? [asked, ...citations] : citations;
}

interface Throttled {
  (): void;
  cancel(): void;
}

/** `fn` at most once per `ms`, the last call always honoured. */
function throttle(fn: () => void, ms: number): Throttled {
  let timer: number | null = null;
  const run = (() => {
    if (timer !== null) return;
    timer = window.setTimeout(() => {
      timer = null;
      fn();
    }, ms);
  }) as Throttled;
  run.cancel = () => {
    if (timer !== null) window.clearTimeout(timer);
    timer = null;
  };
  return run;
}
