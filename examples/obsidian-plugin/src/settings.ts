import { App, PluginSettingTab, Setting } from "obsidian";

import type OverlayPlugin from "./main";

export interface OverlaySettings {
  serverUrl: string;
  token: string;
  rag: boolean;
  think: boolean;
  relatedCount: number;
}

export const DEFAULT_SETTINGS: OverlaySettings = {
  serverUrl: "http://127.0.0.1:8765",
  token: "",
  rag: true,
  think: false,
  relatedCount: 10,
};

export class OverlaySettingTab extends PluginSettingTab {
  constructor(
    app: App,
    private readonly plugin: OverlayPlugin,
  ) {
    super(app, plugin);
  }

  display(): void {
    const { containerEl } = this;
    containerEl.empty();
    new Setting(containerEl)
      .setName("Server URL")
      .setDesc("Where `overlay serve` listens (it prints the URL when it starts).")
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
      .setDesc("The bearer token: run `overlay token` in a terminal and paste it here.")
      .addText((text) => {
        text.inputEl.type = "password";
        text.setValue(this.plugin.settings.token).onChange(async (value) => {
          this.plugin.settings.token = value.trim();
          await this.plugin.saveSettings();
        });
      });
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
