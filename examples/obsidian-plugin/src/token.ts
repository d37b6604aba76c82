// Where the plugin keeps the bearer token: never in its data.json, which Obsidian keeps in
// the vault (.obsidian/plugins/overlay/) where sync tools and git carry it off the machine.
// - On desktop it reads the daemon's own token file, outside the vault and mode 0600:
//   `tokenFile`, the path `overlay plugin install` puts in the settings.
// - A token typed in the settings (on a phone, or for a token chosen in overlay.toml) is
//   kept in this device's local storage, outside the vault.
// No Obsidian imports, so node's test runner drives it.

/** What Obsidian's `App` offers (1.8.7+) to keep data on this device only. */
export interface DeviceStorage {
  loadLocalStorage?(key: string): unknown;
  saveLocalStorage?(key: string, data: unknown): void;
}

const TOKEN_KEY = "overlay-token";

type Load = (module: string) => unknown;

/** The token in the file at `path`, or "" when there is no path, no such file or no file
 * system (Obsidian mobile has no Node). */
export async function readTokenFile(path: string, load: Load = nodeModule): Promise<string> {
  if (!path) return "";
  try {
    const fs = load("fs") as typeof import("fs");
    return (await fs.promises.readFile(path, "utf8")).trim();
  } catch {
    return "";
  }
}

function nodeModule(name: string): unknown {
  return require(name); // Obsidian desktop loads plugins with Node's require; mobile throws
}

/** The token typed on this device, or "". */
export function loadDeviceToken(app: DeviceStorage): string {
  const value = app.loadLocalStorage
    ? app.loadLocalStorage(TOKEN_KEY)
    : globalThis.localStorage?.getItem(TOKEN_KEY);
  return typeof value === "string" ? value : "";
}

/** Keep `token` on this device ("" forgets it). */
export function saveDeviceToken(app: DeviceStorage, token: string): void {
  if (app.saveLocalStorage) app.saveLocalStorage(TOKEN_KEY, token || null);
  else if (token) globalThis.localStorage?.setItem(TOKEN_KEY, token);
  else globalThis.localStorage?.removeItem(TOKEN_KEY);
}
