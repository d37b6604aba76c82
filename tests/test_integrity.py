"""Damage is noticed and repaired: a garbled index.sqlite3, a lost chroma/ folder.

Before `indexer/integrity.py`, garbage in the middle of the SQLite file left
`overlay index` saying "unchanged" and `search` dying with a traceback, and a deleted
`chroma/` made search answer from nothing with no warning. These run the real CLI,
the real stores (SQLite, embedded Chroma) and the `hash` fake embedder: what is
damaged here is the store, and the fake keeps each CLI run to a fraction of a second.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from indexer.integrity import vector_damage, vector_gap
from indexer.store import DB_FILE, Store
from indexer.vectors import CHROMA_DB
from overlay.cli import app
from overlay.config import Settings
from overlay.core.conversations import ConversationLog
from overlay.errors import StoreError
from overlay.sqlite import closed_cleanly, sqlite_damage

runner = CliRunner()
NOTES = {
    f"Topic {n:02d}.md": f"# Topic {n}\n" + f"Line {n} about boats, rivers and maps.\n" * 8
    for n in range(12)
}
FAKE_EMBEDDER = {"OVERLAY_INDEX__EMBEDDER": "hash"}  # the damage is in the store, not the vectors


def invoke(*args: str, data: Path) -> Any:
    return runner.invoke(app, ["--data-dir", str(data), *args], env=FAKE_EMBEDDER)


def snapshot(data: Path) -> dict[str, Any]:
    with Store(data) as store:
        return {
            "notes": {n.path: n.content_hash for n in store.notes()},
            "chunks": sorted(store.chunk_ids()),
            "vectors": sorted(store.vector_ids()),
        }


def garble_the_middle(db: Path, seed: int = 17) -> None:
    """8 KiB of random bytes over the file's middle pages, as a bad disk block would."""
    data = bytearray(db.read_bytes())
    start = (len(data) // 2) // 4096 * 4096
    data[start : start + 8192] = random.Random(seed).randbytes(8192)
    db.write_bytes(bytes(data[: max(len(data), start + 8192)]))


def test_a_garbled_index_is_named_and_rebuild_restores_a_clean_index(
    make_vault: Any, tmp_path: Path
) -> None:
    vault, data = make_vault(NOTES), tmp_path / "data"
    assert invoke("index", str(vault), data=data).exit_code == 0
    clean = snapshot(data)
    assert closed_cleanly(data / DB_FILE)
    garble_the_middle(data / DB_FILE)
    for args in (["index", str(vault)], ["--vault", str(vault), "search", "boats"]):
        result = invoke(*args, data=data)
        assert isinstance(result.exception, StoreError), result.output
        assert "damaged" in str(result.exception) and "overlay index --rebuild" in str(
            result.exception
        )
    rebuilt = invoke("index", str(vault), "--rebuild", "--json", data=data)
    assert rebuilt.exit_code == 0, rebuilt.output
    assert len(json.loads(rebuilt.stdout)["added"]) == len(NOTES)
    assert snapshot(data) == clean
    assert sqlite_damage(data / DB_FILE, always=True) is None


def test_a_lost_vector_store_makes_search_say_it_is_degraded(
    make_vault: Any, tmp_path: Path
) -> None:
    vault, data = make_vault(NOTES), tmp_path / "data"
    assert invoke("index", str(vault), data=data).exit_code == 0
    shutil.rmtree(data / "chroma")
    with Store(data) as store:
        gap = vector_gap(store)
    assert gap is not None and gap.startswith(f"{len(snapshot(data)['chunks'])} of ")
    result = invoke("--vault", str(vault), "search", "boats", "--json", data=data)
    assert result.exit_code == 0
    assert "warning: degraded index" in result.stderr
    repaired = invoke("index", str(vault), data=data)
    assert repaired.exit_code == 0
    with Store(data) as store:
        assert vector_gap(store) is None


def test_only_a_file_changed_since_a_clean_close_is_checked(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        store.stats()
    db = tmp_path / DB_FILE
    assert closed_cleanly(db)
    with Store(tmp_path):
        assert not closed_cleanly(db)  # open: a crash now means a check next time
    db.write_bytes(db.read_bytes()[:100] + b"\x00" * 4000)  # a damaged header
    assert not closed_cleanly(db)
    try:
        Store(tmp_path)
    except StoreError as error:
        assert "overlay index --rebuild" in str(error)
    else:
        raise AssertionError("a damaged header opened silently")


def test_doctor_reports_a_healthy_data_dir_then_names_the_damage(
    make_vault: Any, tmp_path: Path
) -> None:
    vault, data = make_vault(NOTES), tmp_path / "data"
    assert invoke("index", str(vault), data=data).exit_code == 0
    healthy = invoke("--vault", str(vault), "doctor", "--json", data=data)
    assert healthy.exit_code == 0, healthy.output
    assert {f["check"]: f["ok"] for f in json.loads(healthy.stdout)["health"]} == {
        "index": True,
        "vectors": True,
        "stores": True,
        "daemon": True,
    }
    (data / "daemon.json").write_text(json.dumps({"pid": 2**22 + 1, "url": "http://x"}))
    garble_the_middle(data / DB_FILE)
    truncate(data / "forgetting.sqlite3")
    sick = invoke("--vault", str(vault), "doctor", data=data)
    assert sick.exit_code == 1
    assert "PROBLEM index" in sick.output and "overlay index --rebuild" in sick.output
    assert "PROBLEM stores: forgetting.sqlite3 is damaged" in sick.output
    assert "PROBLEM daemon: daemon.json names pid" in sick.output


# ---- every store file, damaged three ways ----


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def garble_the_header(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:100] + random.Random(3).randbytes(3996) + data[4096:])


DAMAGE: dict[str, Callable[[Path], None]] = {
    "truncated": truncate,
    "garbled": garble_the_middle,
    "bad header": garble_the_header,
}
INDEX_FILES = {DB_FILE: ["search", "boats"], f"chroma/{CHROMA_DB}": ["search", "boats"]}
OTHER_FILES = {  # what the person keeps: named, never rebuilt behind their back
    "pairs.sqlite3": ["pairs", "list"],
    "conversations.sqlite3": ["log"],
}


@pytest.fixture(scope="module")
def used_data_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A vault indexed and distilled, and a conversation log: every store file exists."""
    root = tmp_path_factory.mktemp("damage")
    vault = root / "vault"
    for name, text in NOTES.items():
        (vault / name).parent.mkdir(parents=True, exist_ok=True)
        (vault / name).write_text(text, encoding="utf-8")
    data = root / "data"
    for args in (["index", str(vault)], ["--vault", str(vault), "distill", "--all", "-q"]):
        assert invoke(*args, data=data).exit_code == 0
    settings = Settings.model_validate({"vault": vault, "data_dir": data})
    ConversationLog.from_settings(settings).close()  # made as a first answer makes it
    return vault, data


@pytest.mark.parametrize("how", DAMAGE)
@pytest.mark.parametrize("name", [*INDEX_FILES, *OTHER_FILES])
def test_a_damaged_store_file_is_named_and_the_index_is_rebuilt_from_the_vault(
    used_data_dir: tuple[Path, Path], tmp_path: Path, name: str, how: str
) -> None:
    vault, clean_data = used_data_dir
    data = Path(shutil.copytree(clean_data, tmp_path / "data"))
    DAMAGE[how](data / name)
    command = ["--vault", str(vault), *{**INDEX_FILES, **OTHER_FILES}[name]]

    damaged = invoke(*command, data=data)

    assert isinstance(damaged.exception, StoreError), damaged.output  # no traceback
    assert Path(name).name in str(damaged.exception) and "damaged" in str(damaged.exception)
    if name in INDEX_FILES:
        assert "overlay index --rebuild" in str(damaged.exception)
        assert invoke("index", str(vault), "--rebuild", data=data).exit_code == 0
        assert snapshot(data) == snapshot(clean_data)
    else:  # moved aside, as the message says, the command works again (with a new file)
        (data / name).rename(data / f"{name}.damaged")
    assert invoke(*command, data=data).exit_code == 0


# ---- Chroma's HNSW files ----

PERSISTED = 1100  # Chroma writes its HNSW files past 1000 vectors (hnsw:sync_threshold)


def randomise(path: Path) -> None:
    path.write_bytes(random.Random(5).randbytes(path.stat().st_size))


def empty(path: Path) -> None:
    path.write_bytes(b"")


HNSW_DAMAGE: dict[str, tuple[str, Callable[[Path], None]]] = {
    "random level 0": ("data_level0.bin", randomise),
    "empty header": ("header.bin", empty),
}


@pytest.fixture(scope="module")
def persisted_data_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A vault of 1100 one-chunk notes, indexed: Chroma has written its HNSW files."""
    root = tmp_path_factory.mktemp("hnsw")
    vault = root / "vault"
    vault.mkdir()
    for n in range(PERSISTED):
        (vault / f"n{n:04d}.md").write_text(f"# N{n}\nFact {n}: {n * 7919 % 10007}.\n")
    data = root / "data"
    assert invoke("index", str(vault), data=data).exit_code == 0
    assert list(data.glob("chroma/*/data_level0.bin"))
    return vault, data


@pytest.mark.parametrize("how", HNSW_DAMAGE)
def test_damaged_vector_files_are_named_by_doctor_and_index_and_rebuild_repairs_them(
    persisted_data_dir: tuple[Path, Path], tmp_path: Path, how: str
) -> None:
    vault, clean_data = persisted_data_dir
    data = Path(shutil.copytree(clean_data, tmp_path / "data"))
    name, damage = HNSW_DAMAGE[how]
    [hnsw_file] = data.glob(f"chroma/*/{name}")
    damage(hnsw_file)

    doctor = invoke("--vault", str(vault), "doctor", "--json", data=data)
    index = invoke("index", str(vault), data=data)

    assert doctor.exit_code == 1
    found = {f["check"]: f for f in json.loads(doctor.stdout)["health"]}["vectors"]
    assert not found["ok"] and "\n" not in found["detail"]  # one line
    assert name in found["detail"] and "overlay index --rebuild" in found["detail"]
    assert isinstance(index.exception, StoreError), index.output
    assert name in str(index.exception) and "overlay index --rebuild" in str(index.exception)
    assert invoke("index", str(vault), "--rebuild", data=data).exit_code == 0
    assert invoke("--vault", str(vault), "doctor", data=data).exit_code == 0
    assert snapshot(data) == snapshot(clean_data)


class ApproximateStore:
    """A stand-in store whose nearest-neighbour search misses some vectors, as HNSW
    does on a large index of near-equal vectors (a 20,000-note hash-embedded index: 1
    of 16 sampled vectors not found among its own 10 nearest)."""

    def __init__(self, vectors: dict[str, Any], missed: set[str]) -> None:
        self.vectors, self.missed = vectors, missed

    def chunk_ids(self) -> set[str]:
        return set(self.vectors)

    def stored_vectors(self, ids: Any) -> dict[str, Any]:
        return {i: self.vectors[i] for i in ids}

    def nearest(self, vector: Any, k: int) -> list[Any]:
        owner = next(i for i, v in self.vectors.items() if v is vector)
        distance = 0.3 if owner in self.missed else 0.0
        return [SimpleNamespace(id=owner, distance=distance)]


def test_an_approximate_search_missing_a_few_vectors_is_not_damage() -> None:
    unit = {f"c{n}": np.eye(16, dtype=np.float32)[n] for n in range(16)}
    assert vector_damage(ApproximateStore(unit, missed={"c3"})) is None
    most = {f"c{n}" for n in range(10)}
    assert "10 of 16 vectors" in (vector_damage(ApproximateStore(unit, missed=most)) or "")
    garbled = {**unit, "c5": np.full(16, 7.0, dtype=np.float32)}
    assert "1 of 16 vectors" in (vector_damage(ApproximateStore(garbled, missed=set())) or "")
