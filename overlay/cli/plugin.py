"""`overlay plugin install`: the Obsidian plugin, copied into a vault and set up to connect.

The built plugin (main.js, manifest.json, styles.css) ships inside the Python package
(`overlay/plugin_dist/`, refreshed by `make plugin`), so installing needs no Node. Its
settings (data.json) get the daemon's URL and the path of its token file, so it connects
on first enable. Never the token: data.json lives in the vault, where sync tools and git
carry it off the machine; the token file stays in the data dir, mode 0600, and the plugin
reads it from there (a token left in data.json by an older install is removed here).
This is the one command that writes into the vault, and only under `.obsidian/plugins/`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from overlay.cli.app import JsonOption, app, print_json, state
from overlay.cli.client import read_daemon_file
from overlay.config import Settings
from overlay.data_files import token_path
from overlay.errors import ConfigError

PLUGIN_ID = "overlay"
PLUGIN_FILES = ("main.js", "manifest.json", "styles.css")
SHIPPED = Path(__file__).resolve().parents[1] / "plugin_dist"
SOURCE = Path(__file__).resolve().parents[2] / "examples" / "obsidian-plugin"
ENABLE_HINT = (
    "Enable it: in Obsidian, Settings → Community plugins → turn off Restricted mode if it is "
    "on → Installed plugins → reload, then turn on Overlay."
)

plugin_app = typer.Typer(help="The Obsidian plugin: install it into a vault.", no_args_is_help=True)
app.add_typer(plugin_app, name="plugin")


@plugin_app.command("install")
def install(
    ctx: typer.Context,
    vault: Annotated[
        Path | None, typer.Argument(help="The vault; default: --vault or the settings.")
    ] = None,
    dev: Annotated[
        bool,
        typer.Option(
            "--dev",
            help="Link the files of examples/obsidian-plugin instead of copying the shipped "
            "build, so `npm run dev` rebuilds go straight to Obsidian.",
        ),
    ] = False,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            help="The URL the plugin calls (e.g. a LAN address for a phone); default: the "
            "running daemon's, else server.host and server.port.",
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Install the Obsidian plugin into VAULT/.obsidian/plugins/overlay, ready to connect.

    JSON keys: `folder`, `files`, `linked`, `server_url`, `token_file` (null for a token
    chosen in the settings: paste it in the plugin's settings).
    """
    if url is not None and not url.startswith(("http://", "https://")):
        raise ConfigError(f"--url {url!r} is not an http:// or https:// address")
    settings = state(ctx).settings(vault=vault)
    folder = settings.require_vault() / ".obsidian" / "plugins" / PLUGIN_ID
    source = _source_folder(dev)
    folder.mkdir(parents=True, exist_ok=True)
    for name in PLUGIN_FILES:
        _place(source / name, folder / name, link=dev)
    server_url = (url or _daemon_url(settings)).rstrip("/")
    token_file = _token_file(settings)
    _write_plugin_settings(folder / "data.json", server_url, token_file)
    if json_output:
        print_json(
            {
                "folder": str(folder),
                "files": sorted(PLUGIN_FILES),
                "linked": dev,
                "server_url": server_url,
                "token_file": str(token_file) if token_file else None,
            }
        )
        return
    typer.echo(f"{'Linked' if dev else 'Installed'} the Overlay plugin in {folder}")
    typer.echo(f"  server URL: {server_url}")
    if token_file:
        typer.echo(f"  token: the plugin reads {token_file} (outside the vault, never copied)")
    else:
        typer.echo(
            "  token: chosen in the settings; paste it (`overlay token`) in the plugin's "
            "settings, where it stays on that device, out of the vault"
        )
    typer.echo(ENABLE_HINT)


def _source_folder(dev: bool) -> Path:
    """Where the plugin's files come from, with the fix when they are not there."""
    folder = SOURCE if dev else SHIPPED
    missing = [name for name in PLUGIN_FILES if not (folder / name).is_file()]
    if missing:
        fix = "run `make plugin` in the Overlay checkout" if dev else "reinstall Overlay"
        raise ConfigError(f"the plugin build in {folder} lacks {', '.join(missing)}: {fix}")
    return folder


def _place(source: Path, target: Path, *, link: bool) -> None:
    if target.is_symlink() or target.exists():
        target.unlink()
    if link:
        target.symlink_to(source)
    else:
        target.write_bytes(source.read_bytes())


def _daemon_url(settings: Settings) -> str:
    info = read_daemon_file(settings)
    if info is not None:
        return str(info["url"])
    host = settings.server.host
    if host in ("0.0.0.0", "::", ""):  # listens everywhere: this machine reaches it on loopback
        host = "127.0.0.1"
    return f"http://{host}:{settings.server.port}"


def _token_file(settings: Settings) -> Path | None:
    """The daemon's token file (mode 0600), made now when missing: the daemon will use it
    too. None when the settings choose the token: there is no file to read then."""
    from server.auth import load_token

    load_token(settings)
    return None if settings.server.token else token_path(settings)


def _write_plugin_settings(path: Path, server_url: str, token_file: Path | None) -> None:
    """The plugin's data.json with the connection set and no token (an older install's is
    removed); its other settings are kept."""
    current: dict[str, Any] = {}
    if path.is_file():
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ConfigError(f"{path} is not JSON ({error}); fix or delete it") from error
        if isinstance(loaded, dict):
            current = loaded
    current.pop("token", None)
    current["serverUrl"] = server_url
    if token_file is None:
        current.pop("tokenFile", None)
    else:
        current["tokenFile"] = str(token_file)
    path.write_text(json.dumps(current, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
