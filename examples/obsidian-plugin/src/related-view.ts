import { ItemView, TFile, WorkspaceLeaf } from "obsidian";

import { describeError } from "./client";
import type OverlayPlugin from "./main";

export const RELATED_VIEW = "overlay-related";

/** Notes related to the active one, by meaning and by links, each saying why. */
export class RelatedView extends ItemView {
  private shownFor: string | null = null;

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
    this.contentEl.addClass("overlay-related");
    this.registerEvent(this.app.workspace.on("file-open", (file) => void this.show(file)));
    await this.show(this.app.workspace.getActiveFile());
  }

  private async show(file: TFile | null): Promise<void> {
    if (!file || file.extension !== "md" || file.path === this.shownFor) return;
    this.shownFor = file.path;
    const root = this.contentEl;
    root.empty();
    root.createDiv({ cls: "overlay-related-title", text: `Related to ${file.basename}` });
    const list = root.createDiv({ cls: "overlay-related-list", text: "…" });
    try {
      const related = await this.plugin.client().related(file.path, this.plugin.settings.relatedCount);
      if (this.shownFor !== file.path) return; // another note opened meanwhile
      list.empty();
      if (!related.length) list.setText("Nothing related yet.");
      for (const note of related) {
        const item = list.createDiv({ cls: "overlay-related-item" });
        const link = item.createEl("a", { text: note.title, cls: "internal-link" });
        link.title = note.note_path;
        this.registerDomEvent(link, "click", (event) => {
          event.preventDefault();
          void this.plugin.openLink(note.note_path, file.path);
        });
        item.createSpan({ cls: "overlay-related-score", text: note.score.toFixed(2) });
        const reasons = item.createDiv({ cls: "overlay-related-reasons" });
        for (const reason of note.reasons) reasons.createSpan({ cls: "overlay-reason", text: reason });
      }
    } catch (error) {
      list.setText(`Overlay: ${describeError(error)}`);
      this.shownFor = null; // try again on the next open
    }
  }
}
