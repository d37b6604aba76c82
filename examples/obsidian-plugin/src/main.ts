import { Editor, MarkdownView, Notice, Plugin, WorkspaceLeaf } from "obsidian";

import { AskView, ASK_VIEW } from "./ask-view";
import {
  answeringModel,
  describeError as describe,
  OverlayClient,
  OverlayError,
  Status,
  statusText,
} from "./client";
import { Conversation, ConversationList, NoteContext } from "./conversations";
import { RelatedView, RELATED_VIEW } from "./related-view";
import { DEFAULT_SETTINGS, OverlaySettings, OverlaySettingTab } from "./settings";
import { loadDeviceToken, readTokenFile, saveDeviceToken } from "./token";

const STATUS_EVERY_MS = 15_000;
const INDEXING_EVERY_MS = 2_000; // while the daemon indexes, the status bar follows closely

interface PluginData extends Partial<OverlaySettings> {
  conversations?: Conversation[];
}

export default class OverlayPlugin extends Plugin {
  settings: OverlaySettings = { ...DEFAULT_SETTINGS };
  conversations = new ConversationList();
  private statusEl: HTMLElement | null = null;
  private statusTimer: number | null = null;
  private lastSync = "";
  private model = "";
  private indexListeners = new Set<() => void>();
  private lastEditor: Editor | null = null;

  async onload(): Promise<void> {
    await this.loadSettings();
    this.registerView(ASK_VIEW, (leaf) => new AskView(leaf, this));
    this.registerView(RELATED_VIEW, (leaf) => new RelatedView(leaf, this));
    this.registerHoverLinkSource(RELATED_VIEW, { display: "Overlay: related notes", defaultMod: false });
    this.addSettingTab(new OverlaySettingTab(this.app, this));

    this.addRibbonIcon("message-circle-question", "Ask your vault", () => this.open(ASK_VIEW));
    this.addCommand({ id: "ask", name: "Ask your vault", callback: () => this.open(ASK_VIEW) });
    this.addCommand({ id: "ask-note", name: "Ask about this note", callback: () => this.askAboutActive("note") });
    this.addCommand({
      id: "ask-selection",
      name: "Ask about the selection",
      editorCallback: () => this.askAboutActive("selection"),
    });
    this.addCommand({ id: "related", name: "Show related notes", callback: () => this.open(RELATED_VIEW) });
    this.addCommand({ id: "sync", name: "Sync the index now", callback: () => this.syncNow() });
    this.registerEvent(
      this.app.workspace.on("active-leaf-change", (leaf) => {
        if (leaf?.view instanceof MarkdownView) this.lastEditor = leaf.view.editor;
      }),
    );

    this.statusEl = this.addStatusBarItem();
    this.statusEl.addClass("overlay-status");
    this.statusEl.onClickEvent(() => this.syncNow());
    this.register(() => this.statusTimer !== null && window.clearTimeout(this.statusTimer));
    this.app.workspace.onLayoutReady(() => void this.refreshStatus());
  }

  /** A client with the current settings (they may change at any time). */
  client(): OverlayClient {
    return new OverlayClient({ baseUrl: this.settings.serverUrl, token: this.settings.token });
  }

  /** The settings, and the token from Overlay's token file, else this device (see token.ts). */
  async loadSettings(): Promise<void> {
    const { conversations, token: inVault, ...settings } = ((await this.loadData()) ?? {}) as PluginData;
    this.settings = { ...DEFAULT_SETTINGS, ...settings };
    this.conversations = new ConversationList(conversations ?? []);
    if (inVault) saveDeviceToken(this.app, inVault); // an older install wrote it into the vault
    this.settings.token = (await readTokenFile(this.settings.tokenFile)) || loadDeviceToken(this.app);
    if (inVault !== undefined) await this.saveSettings(); // ...and now it leaves the vault
  }

  /** Settings and conversations, in the plugin's data.json, in the vault: all but the token.
   * Sends no request. */
  async saveSettings(): Promise<void> {
    const { token: _kept, ...settings } = this.settings;
    await this.saveData({ ...settings, conversations: this.conversations.all });
  }

  /** A token typed in the settings: kept on this device, outside the vault. */
  setToken(token: string): void {
    this.settings.token = token;
    saveDeviceToken(this.app, token);
  }

  /** Called after each sync that changed the index; returns how to stop listening. */
  onIndexChange(listener: () => void): () => void {
    this.indexListeners.add(listener);
    return () => this.indexListeners.delete(listener);
  }

  /** Open a file at `linktext` (`path#heading`), as a click on a citation does. */
  async openLink(linktext: string, sourcePath = ""): Promise<void> {
    await this.app.workspace.openLinkText(linktext, sourcePath, false);
  }

  /** Put text at the cursor of the note edited last; false when there is none. */
  insertAtCursor(text: string): boolean {
    const editor = this.app.workspace.getActiveViewOfType(MarkdownView)?.editor ?? this.lastEditor;
    if (!editor) return false;
    editor.replaceSelection(text);
    return true;
  }

  /** Open the chat with the active note, or its selection, as the next question's context. */
  async askAboutActive(kind: NoteContext["kind"]): Promise<void> {
    const context = await this.activeContext(kind);
    if (!context) {
      new Notice(kind === "note" ? "Open a note to ask about it" : "Select some text in a note first");
      return;
    }
    const view = await this.open(ASK_VIEW);
    if (view instanceof AskView) view.setContext(context);
  }

  private async activeContext(kind: NoteContext["kind"]): Promise<NoteContext | null> {
    const view = this.app.workspace.getActiveViewOfType(MarkdownView);
    const editor = view?.editor ?? this.lastEditor;
    const file = view?.file ?? this.app.workspace.getActiveFile();
    if (!file || file.extension !== "md") return null;
    if (kind === "note") {
      return { kind, notePath: file.path, heading: null, text: await this.app.vault.cachedRead(file) };
    }
    const text = editor?.getSelection() ?? "";
    if (!editor || !text.trim()) return null;
    const line = editor.getCursor("from").line;
    const headings = this.app.metadataCache.getFileCache(file)?.headings ?? [];
    const above = headings.filter((h) => h.position.start.line <= line).pop();
    return { kind, notePath: file.path, heading: above?.heading ?? null, text };
  }

  /** The "cannot reach the daemon" banner of a view, with what to do and a retry. */
  renderBanner(banner: HTMLElement, error: unknown, retry: () => void): void {
    banner.empty();
    banner.show();
    const wrongToken = error instanceof OverlayError && error.status === 401;
    banner.createDiv({
      cls: "overlay-banner-text",
      text: wrongToken
        ? "Overlay: the token is wrong. Paste what `overlay token` prints into the settings."
        : `Overlay cannot reach the daemon at ${this.settings.serverUrl}. Is \`overlay serve\` ` +
          "running there (and on this network, for a phone)?",
    });
    const again = banner.createEl("button", { text: "Retry", cls: "mod-cta" });
    again.onclick = () => {
      banner.hide();
      retry();
      void this.refreshStatus();
    };
  }

  private async open(type: string): Promise<unknown> {
    const existing = this.app.workspace.getLeavesOfType(type)[0];
    const leaf: WorkspaceLeaf | null = existing ?? this.app.workspace.getRightLeaf(false);
    if (!leaf) return null;
    if (!existing) await leaf.setViewState({ type, active: true });
    await this.app.workspace.revealLeaf(leaf);
    return leaf.view;
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

  /** The status bar: notes, indexing, the model that answers; polled, faster while indexing. */
  async refreshStatus(): Promise<void> {
    if (this.statusTimer !== null) window.clearTimeout(this.statusTimer);
    let every = STATUS_EVERY_MS;
    try {
      const client = this.client();
      const status = await client.status();
      if (!this.model) this.model = answeringModel(await client.models().catch(() => []));
      this.showStatus(status);
      if (status.state === "indexing") every = INDEXING_EVERY_MS;
      this.noticeSync(status);
    } catch (error) {
      this.statusEl?.setText(
        error instanceof OverlayError && error.status === 401 ? "Overlay: wrong token" : "Overlay: offline",
      );
      if (this.statusEl) this.statusEl.title = describe(error);
    }
    this.statusTimer = window.setTimeout(() => void this.refreshStatus(), every);
  }

  private showStatus(status: Status): void {
    if (!this.statusEl) return;
    this.statusEl.setText(statusText(status, this.model));
    this.statusEl.title = status.last_error
      ? `Last sync failed: ${status.last_error}`
      : `Overlay index${this.model ? `, answering with ${this.model}` : ""}. Click to sync now.`;
  }

  /** A finished sync (seen as a new last_sync) refreshes what shows the index. */
  private noticeSync(status: Status): void {
    if (status.state !== "idle") return;
    const last = JSON.stringify(status.index.last_sync ?? null);
    if (this.lastSync && last !== this.lastSync) for (const listener of this.indexListeners) listener();
    this.lastSync = last;
  }
}
