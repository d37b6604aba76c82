import { Notice, Plugin, WorkspaceLeaf } from "obsidian";

import { AskView, ASK_VIEW } from "./ask-view";
import { describeError as describe, OverlayClient, OverlayError } from "./client";
import { RelatedView, RELATED_VIEW } from "./related-view";
import { DEFAULT_SETTINGS, OverlaySettings, OverlaySettingTab } from "./settings";

const STATUS_EVERY_MS = 15_000;

export default class OverlayPlugin extends Plugin {
  settings: OverlaySettings = { ...DEFAULT_SETTINGS };
  private statusEl: HTMLElement | null = null;

  async onload(): Promise<void> {
    await this.loadSettings();
    this.registerView(ASK_VIEW, (leaf) => new AskView(leaf, this));
    this.registerView(RELATED_VIEW, (leaf) => new RelatedView(leaf, this));
    this.addSettingTab(new OverlaySettingTab(this.app, this));

    this.addRibbonIcon("message-circle-question", "Ask your vault", () => this.open(ASK_VIEW));
    this.addCommand({ id: "ask", name: "Ask your vault", callback: () => this.open(ASK_VIEW) });
    this.addCommand({
      id: "related",
      name: "Show related notes",
      callback: () => this.open(RELATED_VIEW),
    });
    this.addCommand({ id: "sync", name: "Sync the index now", callback: () => this.syncNow() });

    this.statusEl = this.addStatusBarItem();
    this.statusEl.addClass("overlay-status");
    this.statusEl.onClickEvent(() => this.syncNow());
    this.registerInterval(window.setInterval(() => void this.refreshStatus(), STATUS_EVERY_MS));
    this.app.workspace.onLayoutReady(() => void this.refreshStatus());
  }

  /** A client with the current settings (they may change at any time). */
  client(): OverlayClient {
    return new OverlayClient({ baseUrl: this.settings.serverUrl, token: this.settings.token });
  }

  async loadSettings(): Promise<void> {
    this.settings = { ...DEFAULT_SETTINGS, ...((await this.loadData()) as Partial<OverlaySettings>) };
  }

  async saveSettings(): Promise<void> {
    await this.saveData(this.settings);
    void this.refreshStatus();
  }

  /** Open a file at `linktext` (`path#heading`), as a click on a citation does. */
  async openLink(linktext: string, sourcePath = ""): Promise<void> {
    await this.app.workspace.openLinkText(linktext, sourcePath, false);
  }

  private async open(type: string): Promise<void> {
    const existing = this.app.workspace.getLeavesOfType(type)[0];
    const leaf: WorkspaceLeaf | null = existing ?? this.app.workspace.getRightLeaf(false);
    if (!leaf) return;
    if (!existing) await leaf.setViewState({ type, active: true });
    await this.app.workspace.revealLeaf(leaf);
  }

  private async syncNow(): Promise<void> {
    try {
      await this.client().sync();
      new Notice("Overlay: syncing the index");
    } catch (error) {
      new Notice(`Overlay: ${describe(error)}`);
    }
    void this.refreshStatus();
  }

  async refreshStatus(): Promise<void> {
    if (!this.statusEl) return;
    try {
      const status = await this.client().status();
      const notes = `${status.index.notes} notes`;
      this.statusEl.setText(status.state === "indexing" ? `Overlay: indexing… (${notes})` : `Overlay: ${notes}`);
      this.statusEl.title = status.last_error
        ? `Last sync failed: ${status.last_error}`
        : "Overlay index. Click to sync now.";
    } catch (error) {
      this.statusEl.setText(error instanceof OverlayError && error.status === 401 ? "Overlay: wrong token" : "Overlay: offline");
      this.statusEl.title = describe(error);
    }
  }
}
