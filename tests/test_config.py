"""Settings precedence (defaults < overlay.toml < OVERLAY_* < flags) and where each value came from."""

from __future__ import annotations

from pathlib import Path

import pytest

from overlay.config_loading import load_settings
from overlay.errors import ConfigError, VaultNotFound


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("OVERLAY_"):
            monkeypatch.delenv(name)


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "overlay.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_each_layer_overrides_the_one_below(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(
        tmp_path, '[llm]\nbackend = "openai"\ntemperature = 0.5\n[server]\nport = 9000\n'
    )
    monkeypatch.setenv("OVERLAY_LLM__TEMPERATURE", "0.7")
    monkeypatch.setenv("OVERLAY_SERVER__PORT", "9100")
    loaded = load_settings(config, {"server.port": 9200}, cwd=tmp_path)

    assert loaded.settings.llm.backend == "openai"
    assert loaded.settings.llm.temperature == 0.7
    assert loaded.settings.server.port == 9200
    assert loaded.sources["llm.backend"] == f"file {config}"
    assert loaded.sources["llm.temperature"] == "env"
    assert loaded.sources["server.port"] == "cli"
    assert loaded.sources["llm.model"] == "default"


def test_unset_flags_do_not_mask_lower_layers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OVERLAY_VAULT", str(tmp_path))
    loaded = load_settings(overrides={"vault": None}, cwd=tmp_path)
    assert loaded.settings.vault == tmp_path
    assert loaded.sources["vault"] == "env"


def test_vault_is_found_from_the_current_directory(tmp_path: Path) -> None:
    (tmp_path / ".obsidian").mkdir()
    inside = tmp_path / "Projects" / "deep"
    inside.mkdir(parents=True)
    loaded = load_settings(cwd=inside)
    assert loaded.settings.require_vault() == tmp_path.resolve()
    assert loaded.sources["vault"] == "current directory"


def test_data_dir_is_per_vault_and_outside_it(tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "notes", tmp_path / "b" / "notes"
    first.mkdir(parents=True)
    second.mkdir(parents=True)
    dir_a = load_settings(overrides={"vault": first}, cwd=tmp_path).settings.resolved_data_dir()
    dir_b = load_settings(overrides={"vault": second}, cwd=tmp_path).settings.resolved_data_dir()
    assert dir_a != dir_b
    assert first.resolve() not in dir_a.parents


def test_data_dir_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OVERLAY_DATA_DIR", str(tmp_path / "data"))
    assert load_settings(cwd=tmp_path).settings.resolved_data_dir() == tmp_path / "data"


def test_missing_vault_names_every_way_to_give_one(tmp_path: Path) -> None:
    with pytest.raises(VaultNotFound, match="--vault"):
        load_settings(cwd=tmp_path).settings.require_vault()


def test_bad_values_are_reported_with_their_key(tmp_path: Path) -> None:
    config = write_config(tmp_path, '[llm]\nbackend = "gpt-9"\n')
    with pytest.raises(ConfigError, match=r"llm\.backend"):
        load_settings(config, cwd=tmp_path)


def test_unknown_keys_are_rejected(tmp_path: Path) -> None:
    config = write_config(tmp_path, "[llm]\nbakend = 'openai'\n")
    with pytest.raises(ConfigError, match="bakend"):
        load_settings(config, cwd=tmp_path)


def test_broken_toml_is_a_config_error(tmp_path: Path) -> None:
    config = write_config(tmp_path, "[llm\nbackend=")
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(config, cwd=tmp_path)


def test_a_named_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", cwd=tmp_path)
