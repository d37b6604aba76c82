import { App, PluginSettingTab, Setting } from "obsidian";

import { testConnection } from "./client";
import type OverlayPlugin from "./main";

export interface OverlaySettings {
  serverUrl: string;
  token: string; // never saved in data.json: read from tokenFile or this device (token.ts)
  tokenFile: string; // the daemon's token file, outside the vault (`overlay plugin install`)
  rag: boolean;
  think: boolean;
  relatedCount: number;
  adapter: string; // "" for the daemon's default model
}

export const DEFAULT_SETTINGS: OverlaySettings = {
  serverUrl: "http://127.0.0.1:8765",
  token: "",
  tokenFile: "",
  rag: true,
  think: false,
  relatedCount: 10,
  adapter: "",
};

export class OverlaySettingTab extends PluginSettingTab {
  constructor(
    app: App,
    private readonly plugin: OverlayPlugin,
  ) {
    super(app, plugin);
  }

  /** Typing saves the settings and sends nothing; this button is what asks the daemon. */
  private connectionTest(containerEl: HTMLElement): void {
    const result = createDiv({ cls: "overlay-connection-result" });
    new Setting(containerEl)
      .setName("Test the connection")
      .setDesc("Asks the daemon at the URL above, with the token.")
      .addButton((button) =>
        button.setButtonText("Test connection").onClick(async () => {
          result.empty();
          result.setText("Testing…");
          const report = await testConnection(this.plugin.client(), this.plugin.settings.serverUrl);
          result.empty();
          result.toggleClass("is-ok", report.ok);
          result.toggleClass("is-failed", !report.ok);
          result.createDiv({ text: `${report.ok ? "✓" : "✗"} ${report.message}` });
          if (report.fix) result.createDiv({ cls: "overlay-connection-fix", text: report.fix });
          if (report.ok) void this.plugin.refreshStatus();
        }),
      );
    containerEl.append(result);
  }

  hide(): void {
    void this.plugin.refreshStatus(); // once, with the settings as they were left
  }

  display(): void {
    const { containerEl } = this;
    containerEl.empty();
    new Setting(containerEl)
      .setName("Server URL")
      .setDesc(
        "Where `overlay serve` listens (it prints the URL when it starts). On a phone: the " +
          "LAN address of the machine running it, e.g. http://192.168.1.20:8765.",
      )
      .addText((text) =>
        text
          .setPlaceholder(DEFAULT_SETTINGS.serverUrl)
          .setValue(this.plugin.settings.serverUrl)
          .onChange(async (value) => {
            this.plugin.settings.serverUrl = value.trim() || DEFAULT_SETTINGS.serverUrl;
            await this.plugin.saveSettings();
          }),
      );
    new Setting(containerEl)
      .setName("Token")
      .setDesc(
        "The bearer token: run `overlay token` in a terminal and paste it here (on this " +
          "computer `overlay plugin install` sets it up). Kept on this device, never in the vault.",
      )
      .addText((text) => {
        text.inputEl.type = "password";
        text.setValue(this.plugin.settings.token).onChange((value) => this.plugin.setToken(value.trim()));
      });
    new Setting(containerEl)
    this.connectionTest(containerEl);
    new Setting(containerEl)
      .setName("Answer from the vault")
      .setDesc("Off: ask the model alone, without retrieving or citing notes.")
      .addToggle((toggle) =>
        toggle.setValue(this.plugin.settings.rag).onChange(async (value) => {
          this.plugin.settings.rag = value;
          await this.plugin.saveSettings();
        }),
      );
    new Setting(containerEl)
      .setName("Let the model think first")
      .setDesc(
        "Models that can reason (Qwen3) think before they answer; the reasoning is shown in a " +
          "collapsible block above the answer, never in it. Slower.",
      )
      .addToggle((toggle) =>
        toggle.setValue(this.plugin.settings.think).onChange(async (value) => {
          this.plugin.settings.think = value;
          await this.plugin.saveSettings();
        }),
      );
    new Setting(containerEl)
      .setName("Related notes shown")
      .addSlider((slider) =>
        slider
          .setLimits(3, 30, 1)
          .setDynamicTooltip()
          .setValue(this.plugin.settings.relatedCount)
          .onChange(async (value) => {
            this.plugin.settings.relatedCount = value;
            await this.plugin.saveSettings();
          }),
      );
  }
}
