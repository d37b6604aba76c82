"""The privacy audit: for every forgotten note, every place that still holds any of it.

`overlay privacy check` prints it; it should find nothing. Looked at: the index (the
note's manifest entry, hence its chunks, links and names), the pairs (any that still
hold text), the conversation log (entries citing it), the runs (trained on it but not
flagged tainted; evaluation answers or samples about it), the adapter in service, and
forgettings a killed process left unfinished. A tainted adapter's weights, out of
service, are listed as kept: only deleting them (`overlay adapters prune --tainted`)
or training again without the note removes what they learned.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from distill.evaluation import DETAILS_FILE
from distill.forgetting import JOURNAL_FILE, Journal, path_hash
from distill.pairs import PairStore
from distill.runs import Run, RunRegistry
from indexer.store import DB_FILE, Store
from overlay.config import Settings
from overlay.core.conversations import ConversationLog, LogFilter


@dataclass
class PrivacyReport:
    """`leaks`: (note path hash, place) for what should not be there; `kept`: tainted
    adapter folders out of service, which hold what they learned until pruned."""

    forgotten: int = 0
    leaks: list[tuple[str, str]] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "forgotten": self.forgotten,
            "leaks": [{"note": note, "place": place} for note, place in self.leaks],
            "kept": self.kept,
        }


def privacy_check(settings: Settings) -> PrivacyReport:
    """Audit the data dir for anything of a forgotten note."""
    data = settings.resolved_data_dir()
    report = PrivacyReport()
    if not (data / JOURNAL_FILE).is_file():
        return report
    with Journal.from_settings(settings) as journal:
        notes = journal.forgotten()
        pending = {path for path, _ in journal.pending()}
    report.forgotten = len(notes)
    hashes = {hashed for hashed, _, _ in notes}
    for hashed, path, _ in notes:
        if path in pending:
            report.leaks.append((hashed, "journal: forgetting not finished (runs at next sync)"))
    report.leaks += _index(settings, hashes)
    ids = _pairs(settings, hashes, report)
    report.leaks += _log(settings, hashes)
    _runs(settings, ids, report)
    return report


def _index(settings: Settings, hashes: set[str]) -> list[tuple[str, str]]:
    if not (settings.resolved_data_dir() / DB_FILE).is_file():
        return []
    with Store.from_settings(settings) as store:
        paths = list(store.manifest())
    return [(path_hash(p), f"index: {p} is indexed") for p in paths if path_hash(p) in hashes]


def _pairs(settings: Settings, hashes: set[str], report: PrivacyReport) -> dict[str, str]:
    """Pairs of forgotten notes that hold text; returns every forgotten pair id → note."""
    if not (settings.resolved_data_dir() / "pairs.sqlite3").is_file():
        return {}
    ids: dict[str, str] = {}
    with PairStore.from_settings(settings) as store:
        for pair in store.list():
            hashed = pair.note_path if pair.status == "forgotten" else path_hash(pair.note_path)
            if hashed not in hashes:
                continue
            ids[pair.id] = hashed
            if (
                pair.messages
                or pair.heading
                or pair.status != "forgotten"
                or store.history(pair.id)
            ):
                report.leaks.append((hashed, f"pairs: {pair.id} ({pair.status}) holds text"))
    return ids


def _log(settings: Settings, hashes: set[str]) -> list[tuple[str, str]]:
    if not (settings.resolved_data_dir() / "conversations.sqlite3").is_file():
        return []
    with ConversationLog.from_settings(settings) as conversations:
        entries = conversations.list(LogFilter(limit=None))
    return [
        (path_hash(source["note_path"]), f"log: entry {entry.id} cites it")
        for entry in entries
        for source in entry.sources
        if path_hash(str(source.get("note_path"))) in hashes
    ]


def _runs(settings: Settings, ids: dict[str, str], report: PrivacyReport) -> None:
    if not (settings.resolved_data_dir() / "runs.sqlite3").is_file():
        return
    with RunRegistry.from_settings(settings) as registry:
        promoted = registry.promoted()
        runs = registry.list()
    for run in runs:
        trained = [ids[i] for i in run.config.get("pair_ids", []) if i in ids]
        report.leaks += [
            (ids[p], f"runs: {run.id}/{DETAILS_FILE} answers it") for p in _eval(run, ids)
        ]
        if not trained:
            continue
        note = trained[0]
        if run.status != "tainted":
            report.leaks.append((note, f"runs: {run.id} trained on it, not flagged tainted"))
        if promoted is not None and promoted.id == run.id:
            report.leaks.append((note, f"adapters: {run.id} is in service"))
        if run.metrics.get("sample"):
            report.leaks.append((note, f"runs: {run.id} keeps a sample answer"))
        if (run.adapter / "adapter_config.json").is_file():
            report.kept.append(str(run.adapter))


def _eval(run: Run, ids: dict[str, str]) -> list[str]:
    """The forgotten pairs whose held-out question the run's evaluation answers keep."""
    details = run.folder / DETAILS_FILE
    if not details.is_file():
        return []
    rows = json.loads(details.read_text(encoding="utf-8")).get("answers", [])
    return [str(row.get("pair")) for row in rows if row.get("pair") in ids]
