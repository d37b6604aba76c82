"""`overlay plugin install`: the shipped plugin lands in the vault, set up to connect.

That the written settings reach a running daemon is checked against a real one in
tests/integration/test_plugin_client.py; these tests need no daemon.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from overlay.cli import app
from overlay.cli.plugin import PLUGIN_FILES, SHIPPED, SOURCE

runner = CliRunner()


def install(vault: Path, data_dir: Path, *extra: str) -> tuple[int, str]:
    command = ["--data-dir", str(data_dir), "plugin", "install", str(vault), *extra]
    result = runner.invoke(app, command)
    error = f"error: {result.exception}" if result.exception else ""  # as `overlay` prints it
    return result.exit_code, result.output + error


def plugin_folder(vault: Path) -> Path:
    return vault / ".obsidian" / "plugins" / "overlay"


def test_the_package_ships_the_built_plugin() -> None:
    for name in PLUGIN_FILES:
        assert (SHIPPED / name).stat().st_size > 0, name
    manifest = json.loads((SHIPPED / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["id"] == "overlay"
    assert "registerView" in (SHIPPED / "main.js").read_text(encoding="utf-8")


def files_holding(root: Path, secret: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def test_install_copies_the_plugin_and_points_it_at_the_token_file_outside_the_vault(
    tmp_path: Path,
) -> None:
    vault = tmp_path / "vault"
    vault.mkdir()
    code, output = install(vault, tmp_path / "data", "--url", "http://192.168.1.20:8765")
    assert code == 0, output
    folder = plugin_folder(vault)
    for name in PLUGIN_FILES:
        assert (folder / name).read_bytes() == (SHIPPED / name).read_bytes()
    settings = json.loads((folder / "data.json").read_text(encoding="utf-8"))
    token_file = tmp_path / "data" / "token"
    assert settings == {"serverUrl": "http://192.168.1.20:8765", "tokenFile": str(token_file)}
    assert token_file.stat().st_mode & 0o777 == 0o600
    token = token_file.read_text(encoding="utf-8").strip()
    assert files_holding(vault, token) == []  # was: data.json, mode 0644, in the vault
    assert f"Installed the Overlay plugin in {folder}" in output
    assert f"the plugin reads {token_file}" in output and "Community plugins" in output
    assert list(vault.iterdir()) == [vault / ".obsidian"]  # no note touched


def test_a_token_chosen_in_the_settings_is_not_written_anywhere(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    vault.mkdir()
    chosen = "a-long-secret-you-chose"
    result = runner.invoke(
        app,
        ["--data-dir", str(tmp_path / "data"), "plugin", "install", str(vault), "--json"],
        env={"OVERLAY_SERVER__TOKEN": chosen},
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["token_file"] is None
    settings = json.loads((plugin_folder(vault) / "data.json").read_text(encoding="utf-8"))
    assert "tokenFile" not in settings and "token" not in settings
    assert files_holding(vault, chosen) == [] and files_holding(tmp_path / "data", chosen) == []


def test_reinstall_keeps_the_other_settings_and_conversations(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    folder = plugin_folder(vault)
    folder.mkdir(parents=True)
    kept = {
        "serverUrl": "http://old:1",
        "token": "old",
        "rag": False,
        "conversations": [{"id": "c1"}],
    }
    (folder / "data.json").write_text(json.dumps(kept), encoding="utf-8")
    code, output = install(vault, tmp_path / "data")
    assert code == 0, output
    settings = json.loads((folder / "data.json").read_text(encoding="utf-8"))
    assert settings["serverUrl"] == "http://127.0.0.1:8765"  # no daemon runs: the settings' address
    assert "token" not in settings  # the token an older install left in the vault is gone
    assert settings["tokenFile"] == str(tmp_path / "data" / "token")
    assert settings["rag"] is False and settings["conversations"] == [{"id": "c1"}]


def test_broken_plugin_settings_are_an_error_and_left_alone(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    folder = plugin_folder(vault)
    folder.mkdir(parents=True)
    (folder / "data.json").write_text("{not json", encoding="utf-8")
    code, output = install(vault, tmp_path / "data")
    assert code != 0
    assert "data.json is not JSON" in output and "fix or delete it" in output
    assert (folder / "data.json").read_text(encoding="utf-8") == "{not json"


def test_dev_install_links_the_checkout_build(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    vault.mkdir()
    code, output = install(vault, tmp_path / "data", "--dev")
    if not (SOURCE / "main.js").exists():
        assert code != 0 and "make plugin" in output
        return
    assert code == 0, output
    for name in PLUGIN_FILES:
        assert (plugin_folder(vault) / name).resolve() == (SOURCE / name).resolve()
    assert output.startswith("Linked the Overlay plugin")


def test_a_url_that_is_not_http_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    vault.mkdir()
    code, output = install(vault, tmp_path / "data", "--url", "192.168.1.20:8765")
    assert code != 0
    assert "is not an http:// or https:// address" in output
    assert list(vault.iterdir()) == []


def test_a_missing_vault_is_a_clear_error(tmp_path: Path) -> None:
    code, output = install(tmp_path / "nowhere", tmp_path / "data")
    assert code != 0
    assert "is not a folder" in output
