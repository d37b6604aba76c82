// Where the plugin keeps the bearer token (src/token.ts): read from Overlay's token file,
// else kept on this device, never in data.json (which lives in the vault).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { DeviceStorage, loadDeviceToken, readTokenFile, saveDeviceToken } from "../src/token";

const nodeFs = (name: string): unknown => {
  assert.equal(name, "fs");
  return fs;
};

test("the token is read from the daemon's token file", async () => {
  const folder = await mkdtemp(join(tmpdir(), "overlay-token-"));
  try {
    const path = join(folder, "token");
    await writeFile(path, "s3cret-token\n", { mode: 0o600 });
    assert.equal(await readTokenFile(path, nodeFs), "s3cret-token");
    assert.equal(await readTokenFile(join(folder, "missing"), nodeFs), "");
    assert.equal(await readTokenFile("", nodeFs), "");
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
});

test("without a file system (Obsidian mobile) there is no token file to read", async () => {
  const noNode = (): unknown => {
    throw new Error("no module fs");
  };
  assert.equal(await readTokenFile("/home/me/.local/share/overlay/token", noNode), "");
});

test("a typed token is kept on the device and forgotten when cleared", () => {
  const kept = new Map<string, unknown>();
  const app: DeviceStorage = {
    loadLocalStorage: (key) => kept.get(key) ?? null,
    saveLocalStorage: (key, data) => void kept.set(key, data),
  };
  assert.equal(loadDeviceToken(app), "");
  saveDeviceToken(app, "typed-on-the-phone");
  assert.equal(loadDeviceToken(app), "typed-on-the-phone");
  saveDeviceToken(app, "");
  assert.equal(loadDeviceToken(app), "");
});
