"""Loading the settings tree: files, environment and flags, and where each value came from.

Precedence, lowest to highest: defaults, `overlay.toml` (the user config dir
or `--config`), `OVERLAY_*` environment variables (nested with `__`, e.g.
`OVERLAY_LLM__BACKEND=openai`), command-line flags. `load_settings` also
records where each effective value came from, for `overlay config show`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import ValidationError
from pydantic_settings import EnvSettingsSource

from overlay.config import APP_NAME, Settings
from overlay.errors import ConfigError


@dataclass(frozen=True)
class LoadedSettings:
    settings: Settings
    sources: dict[str, str]  # dotted key -> 'default', 'file <path>', 'env OVERLAY_…', 'cli'
    config_file: Path | None


def default_config_file() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME)) / "overlay.toml"


def load_settings(
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    cwd: Path | None = None,
) -> LoadedSettings:
    """Merge defaults, the config file, the environment and CLI overrides.

    `overrides` takes dotted keys (`{"llm.backend": "openai", "vault": "~/notes"}`);
    None values are ignored so that unset CLI flags do not mask lower layers.
    """
    explicit_file = config_file is not None
    path = config_file or default_config_file()
    layers: list[tuple[str, dict[str, Any]]] = []
    if path.is_file():
        layers.append((f"file {path}", _read_toml(path)))
    elif explicit_file:
        raise ConfigError(f"config file {path} does not exist")
    layers.append(("env", _read_env()))
    layers.append(("cli", _nest({k: v for k, v in (overrides or {}).items() if v is not None})))

    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for origin, layer in layers:
        _deep_merge(merged, layer)
        for key in flatten(layer):
            sources[key] = origin
    if "vault" not in merged:
        found = _vault_containing(cwd or Path.cwd())
        if found is not None:
            merged["vault"] = str(found)
            sources["vault"] = "current directory"
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as error:
        raise ConfigError(_explain(error)) from error
    for key in flatten(settings.model_dump()):
        sources.setdefault(key, "default")
    return LoadedSettings(settings, sources, path if path.is_file() else None)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from error


def _read_env() -> dict[str, Any]:
    try:
        values = EnvSettingsSource(Settings)()
    except Exception as error:  # pydantic-settings raises SettingsError on bad JSON
        raise ConfigError(f"bad OVERLAY_* environment variable: {error}") from error
    return {k: v for k, v in values.items() if v is not None}


def _vault_containing(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / ".obsidian").is_dir():
            return folder
    return None


def _nest(dotted: Mapping[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in dotted.items():
        *parents, leaf = key.split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def _deep_merge(into: dict[str, Any], layer: Mapping[str, Any]) -> None:
    for key, value in layer.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            into[key] = dict(value) if isinstance(value, Mapping) else value


def _explain(error: ValidationError) -> str:
    problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()]
    return "invalid settings: " + "; ".join(problems)
