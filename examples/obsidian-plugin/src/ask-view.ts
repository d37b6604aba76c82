import { ItemView, MarkdownRenderer, WorkspaceLeaf } from "obsidian";

import {
  Answer,
  ChatMessage,
  Citation,
  citationLink,
  describeError,
  linkCitations,
  Rating,
} from "./client";
import type OverlayPlugin from "./main";

export const ASK_VIEW = "overlay-ask";

/** "Ask your vault": a conversation whose answers stream in and cite notes. */
export class AskView extends ItemView {
  private messages: ChatMessage[] = [];
  private log!: HTMLElement;
  private input!: HTMLTextAreaElement;
  private button!: HTMLButtonElement;
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
    this.log = root.createDiv({ cls: "overlay-log" });
    // Citations and links in rendered answers open the note at the heading.
    this.registerDomEvent(this.log, "click", (event) => this.followLink(event));
    const form = root.createDiv({ cls: "overlay-form" });
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
    const clear = row.createEl("button", { text: "New conversation" });
    this.registerDomEvent(clear, "click", () => this.clear());
  }

  async onClose(): Promise<void> {
    this.stop();
  }

  private clear(): void {
    this.stop();
    this.messages = [];
    this.log.empty();
  }

  private stop(): void {
    this.running?.abort();
    this.running = null;
    this.button.setText("Ask");
  }

  private async ask(): Promise<void> {
    const question = this.input.value.trim();
    if (!question || this.running) return;
    this.input.value = "";
    this.messages.push({ role: "user", content: question });
    this.log.createDiv({ cls: "overlay-question", text: question });
    const answerEl = this.log.createDiv({ cls: "overlay-answer" });
    const textEl = answerEl.createDiv({ cls: "overlay-answer-text overlay-streaming" });
    const sourcesEl = answerEl.createDiv({ cls: "overlay-sources" });
    this.running = new AbortController();
    this.button.setText("Stop");
    let text = "";
    let reasoning = "";
    let reasoningEl: HTMLDetailsElement | null = null;
    try {
      const { rag, think } = this.plugin.settings;
      const events = this.plugin
        .client()
        .streamAnswer(this.messages, { rag, think, signal: this.running.signal });
      for await (const event of events) {
        if (event.kind === "sources") this.renderSources(sourcesEl, event.citations);
        else if (event.kind === "reasoning") {
          reasoningEl ??= this.reasoningBlock(answerEl, textEl);
          reasoningEl.querySelector(".overlay-reasoning-text")?.setText((reasoning += event.text));
        } else if (event.kind === "token") {
          if (reasoningEl) reasoningEl.open = false; // folded once the answer begins
          textEl.setText((text += event.text));
        } else if (event.kind === "done") await this.finish(textEl, sourcesEl, event.answer);
      }
    } catch (error) {
      if ((error as Error).name !== "AbortError") {
        answerEl.createDiv({ cls: "overlay-error", text: `Overlay: ${describeError(error)}` });
      }
      this.messages.pop();
    } finally {
      textEl.removeClass("overlay-streaming");
      this.running = null;
      this.button.setText("Ask");
    }
  }

  private async finish(textEl: HTMLElement, sourcesEl: HTMLElement, answer: Answer): Promise<void> {
    this.messages.push({ role: "assistant", content: answer.text });
    textEl.empty();
    await MarkdownRenderer.render(this.app, linkCitations(answer), textEl, "", this);
    this.renderSources(sourcesEl, answer.citations);
    if (textEl.parentElement) this.renderFeedback(textEl.parentElement, answer);
    this.log.scrollTop = this.log.scrollHeight;
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

  /** The model's reasoning, apart from the answer: a collapsible block above it, open while
   * the model thinks. */
  private reasoningBlock(answerEl: HTMLElement, textEl: HTMLElement): HTMLDetailsElement {
    const block = createEl("details", { cls: "overlay-reasoning", attr: { open: "" } });
    block.createEl("summary", { text: "Reasoning" });
    block.createDiv({ cls: "overlay-reasoning-text" });
    answerEl.insertBefore(block, textEl);
    return block;
  }

  private renderSources(el: HTMLElement, citations: Citation[]): void {
    el.empty();
    if (!citations.length) return;
    el.createDiv({ cls: "overlay-sources-title", text: "Sources" });
    const list = el.createEl("ol");
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
}
