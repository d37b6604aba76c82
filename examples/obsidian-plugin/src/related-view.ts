import { ItemView, TAbstractFile, TFile, WorkspaceLeaf } from "obsidian";

import { describeError, OverlayError, RelatedNote } from "./client";
import { matchedHeading, snippetOf } from "./conversations";
import type OverlayPlugin from "./main";

export const RELATED_VIEW = "overlay-related";
const EDIT_SETTLE_MS = 2000; // an edit is synced and the pane refreshed once typing pauses

/** Notes related to the active one, by meaning and by links: each with why, a snippet, a
 * hover preview, and a link to drag into the note. Refreshed on open, on edit, after syncs. */
export class RelatedView extends ItemView {
  private shownFor: string | null = null;
  private editTimer: number | null = null;
  private banner!: HTMLElement;
  private body!: HTMLElement;

  constructor(
    leaf: WorkspaceLeaf,
    private readonly plugin: OverlayPlugin,
  ) {
    super(leaf);
  }

  getViewType(): string {
    return RELATED_VIEW;
  }

  getDisplayText(): string {
    return "Related notes";
  }

  getIcon(): string {
    return "git-fork";
  }

  async onOpen(): Promise<void> {
    this.contentEl.empty();
    this.contentEl.addClass("overlay-related");
    this.banner = this.contentEl.createDiv({ cls: "overlay-banner" });
    this.banner.hide();
    this.body = this.contentEl.createDiv();
    this.registerEvent(this.app.workspace.on("file-open", (file) => void this.show(file)));
    this.registerEvent(this.app.vault.on("modify", (file) => this.edited(file)));
    this.register(this.plugin.onIndexChange(() => void this.refresh()));
    this.register(() => this.editTimer !== null && window.clearTimeout(this.editTimer));
    await this.show(this.app.workspace.getActiveFile());
  }

  /** Show again for the note on display (after a sync changed the index). */
  async refresh(): Promise<void> {
    const file = this.shownFor ? this.app.vault.getAbstractFileByPath(this.shownFor) : null;
    await this.show(file instanceof TFile ? file : this.app.workspace.getActiveFile(), true);
  }

  private edited(file: TAbstractFile): void {
    if (!(file instanceof TFile) || file.path !== this.shownFor) return;
    if (this.editTimer !== null) window.clearTimeout(this.editTimer);
    this.editTimer = window.setTimeout(() => {
      this.editTimer = null;
      void this.syncThenRefresh(file.path);
    }, EDIT_SETTLE_MS);
  }

  private async syncThenRefresh(path: string): Promise<void> {
    try {
      await this.plugin.client().sync([path], true);
    } catch (error) {
      this.showError(error);
      return;
    }
    await this.refresh();
  }

  private async show(file: TFile | null, again = false): Promise<void> {
    if (!file || file.extension !== "md" || (file.path === this.shownFor && !again)) return;
    this.shownFor = file.path;
    // On a refresh the old list stays until the new one is there: no flicker while typing.
    const shown = again ? this.body.querySelector(".overlay-related-list") : null;
    this.body.empty();
    this.body.createDiv({ cls: "overlay-related-title", text: `Related to ${file.basename}` });
    this.body.append(shown ?? createDiv({ cls: "overlay-related-list", text: "…" }));
    const list = createDiv({ cls: "overlay-related-list" });
    try {
      const related = await this.plugin.client().related(file.path, this.plugin.settings.relatedCount);
      if (this.shownFor !== file.path) return; // another note opened meanwhile
      if (!related.length) list.setText("Nothing related yet.");
      for (const note of related) await this.renderItem(list, note, file.path);
      this.banner.hide();
    } catch (error) {
      list.setText(`Overlay: ${describeError(error)}`);
      this.showError(error);
      this.shownFor = null; // try again on the next open
    }
    this.body.querySelector(".overlay-related-list")?.replaceWith(list);
  }

  private async renderItem(list: HTMLElement, note: RelatedNote, sourcePath: string): Promise<void> {
    const item = list.createDiv({ cls: "overlay-related-item", attr: { draggable: "true" } });
    const head = item.createDiv({ cls: "overlay-related-head" });
    const link = head.createEl("a", { text: note.title, cls: "internal-link" });
    link.title = note.note_path;
    const linktext = this.app.metadataCache.fileToLinktext(
      this.fileAt(note.note_path) ?? ({ path: note.note_path, basename: note.title } as TFile),
      sourcePath,
    );
    this.registerDomEvent(link, "click", (event) => {
      event.preventDefault();
      void this.plugin.openLink(note.note_path, sourcePath);
    });
    // Page preview: hovering a related note shows it, as hovering a link in a note does.
    this.registerDomEvent(link, "mouseover", (event) => {
      this.app.workspace.trigger("hover-link", {
        event,
        source: RELATED_VIEW,
        hoverParent: this,
        targetEl: link,
        linktext: note.note_path,
        sourcePath,
      });
    });
    // Dragged into a note, it becomes a link there.
    this.registerDomEvent(item, "dragstart", (event) => {
      event.dataTransfer?.setData("text/plain", `[[${linktext}]]`);
    });
    const score = head.createSpan({ cls: "overlay-related-score", text: note.score.toFixed(2) });
    score.title = "0 to 1, as search scores: the closest related note is 1";
    const reasons = item.createDiv({ cls: "overlay-related-reasons" });
    for (const reason of note.reasons) reasons.createSpan({ cls: "overlay-reason", text: reason });
    const snippet = await this.snippet(note);
    if (snippet) item.createDiv({ cls: "overlay-related-snippet", text: snippet });
  }

  /** The best matching passage's first words, read from the vault (no request). */
  private async snippet(note: RelatedNote): Promise<string> {
    const file = this.fileAt(note.note_path);
    if (!file) return "";
    return snippetOf(await this.app.vault.cachedRead(file), matchedHeading(note.reasons));
  }

  private fileAt(path: string): TFile | null {
    const file = this.app.vault.getAbstractFileByPath(path);
    return file instanceof TFile ? file : null;
  }

  private showError(error: unknown): void {
    if (error instanceof OverlayError && (error.type === "Unreachable" || error.status === 401)) {
      this.plugin.renderBanner(this.banner, error, () => void this.refresh());
    }
  }
}
