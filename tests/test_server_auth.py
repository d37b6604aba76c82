"""Who may call the API: the token file, and where the server may listen."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from overlay.cli import app
from overlay.config import Settings
from overlay.errors import ConfigError
from server.auth import check_bind, is_loopback, load_token

runner = CliRunner()


def settings_for(tmp_path: Path, **server: object) -> Settings:
    return Settings.model_validate(
        {"vault": str(tmp_path), "data_dir": str(tmp_path / "data"), "server": server}
    )


def test_the_first_start_makes_a_private_token_and_keeps_it(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    token = load_token(settings)
    path = tmp_path / "data" / "token"
    assert len(token) >= 40
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_token(settings) == token == path.read_text().strip()


def test_a_configured_token_wins_and_writes_nothing(tmp_path: Path) -> None:
    assert load_token(settings_for(tmp_path, token="chosen-by-me")) == "chosen-by-me"
    assert not (tmp_path / "data" / "token").exists()


def test_an_emptied_token_file_is_an_error_not_an_open_door(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    load_token(settings)
    (tmp_path / "data" / "token").write_text("\n")
    with pytest.raises(ConfigError, match="delete it"):
        load_token(settings)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_binds_need_no_chosen_token(tmp_path: Path, host: str) -> None:
    assert is_loopback(host)
    check_bind(settings_for(tmp_path, host=host))


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "my-laptop.local"])
def test_other_binds_are_refused_without_a_chosen_token(tmp_path: Path, host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(ConfigError, match=r"server\.token"):
        check_bind(settings_for(tmp_path, host=host))
    with pytest.raises(ConfigError, match="at least 16"):
        check_bind(settings_for(tmp_path, host=host, token="short"))
    check_bind(settings_for(tmp_path, host=host, token="x" * 32))


def test_serve_refuses_a_network_bind_before_loading_anything(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["--data-dir", str(tmp_path / "data"), "serve", str(tmp_path), "--host", "0.0.0.0"]
    )
    assert isinstance(result.exception, ConfigError)  # main() prints it, exit code 2
    assert "refusing to listen on 0.0.0.0" in result.exception.message
    assert not (tmp_path / "data").exists()  # no token file, no index


def test_token_command_prints_the_token_the_server_uses(tmp_path: Path) -> None:
    args = ["--vault", str(tmp_path), "--data-dir", str(tmp_path / "data"), "token"]
    printed = runner.invoke(app, args)
    assert printed.exit_code == 0, printed.output
    token = printed.output.strip()
    assert token == load_token(settings_for(tmp_path))
    shown = json.loads(runner.invoke(app, [*args, "--json"]).output)
    assert shown == {"token": token, "file": str(tmp_path / "data" / "token")}
