"""Note dates for `--since` (`dates.note_dates`, `dates.note_date`) and date reading."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from vaults import SAMPLES, needs_samples

from vault_schema import note_date, note_dates, parse_note, read_note
from vault_schema.timestamps import find_datetime, parse_datetime

TRANSCRIPT = ">[!nexus_user] **User** - 26.07.2025 at 9:43\n> hi\n"
MTIME = datetime(2024, 1, 2, 3, 4, 5).timestamp()


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2025-08-14", datetime(2025, 8, 14)),
        ("14.08.2025", datetime(2025, 8, 14)),
        ("2025-08-14T10:00", datetime(2025, 8, 14, 10, 0)),
        ("2025-08-14 10:00:30", datetime(2025, 8, 14, 10, 0, 30)),
        ("2024-07-26, 20:42", datetime(2024, 7, 26, 20, 42)),
        ("**User** - 26.07.2025 at 9:43", datetime(2025, 7, 26, 9, 43)),
        ("2025-13-45", None),
        ("no date", None),
    ],
)
def test_written_dates(written: str, expected: datetime | None) -> None:
    assert parse_datetime(written) == expected


def test_offsets_become_local_time() -> None:
    moment = datetime(2025, 8, 14, 10, 0, tzinfo=UTC)
    assert parse_datetime("2025-08-14T10:00:00Z") == moment.astimezone().replace(tzinfo=None)
    assert find_datetime("Meeting 2023-09-12 notes") == datetime(2023, 9, 12)


def dated(frontmatter: str, body: str = "", path: str = "note.md") -> dict[str, datetime]:
    text = f"---\n{frontmatter}\n---\n{body}" if frontmatter else body
    return note_dates(parse_note(path, text, mtime=MTIME))


def test_frontmatter_values_of_every_kind() -> None:
    dates = dated("created: 2025-08-14\ndate: 14.08.2025\nupdated: 2025-08-15T10:00:00+00:00")
    assert dates["created"] == datetime(2025, 8, 14)  # a YAML date
    assert dates["date"] == datetime(2025, 8, 14)  # a string
    utc = datetime(2025, 8, 15, 10, 0, tzinfo=UTC)
    assert dates["updated"] == utc.astimezone().replace(tzinfo=None)  # a YAML datetime
    assert "created" not in dated("created: '{{date}}'")  # a template placeholder


def test_all_sources_are_collected() -> None:
    dates = dated("date: 2025-03-01", TRANSCRIPT, path="Daily/2025-02-01 Standup.md")
    assert dates == {
        "date": datetime(2025, 3, 1),
        "dialogue": datetime(2025, 7, 26, 9, 43),
        "filename": datetime(2025, 2, 1),
        "mtime": datetime.fromtimestamp(MTIME),
    }


@pytest.mark.parametrize(
    ("frontmatter", "body", "path", "expected"),
    [
        (
            "created: 2025-01-01\ndate: 2025-02-02\nupdated: 2025-03-03",
            TRANSCRIPT,
            "2025-04-04.md",
            datetime(2025, 1, 1),
        ),
        (
            "date: 2025-02-02\nupdated: 2025-03-03",
            TRANSCRIPT,
            "2025-04-04.md",
            datetime(2025, 2, 2),
        ),
        ("updated: 2025-03-03", TRANSCRIPT, "2025-04-04.md", datetime(2025, 3, 3)),
        ("", TRANSCRIPT, "2025-04-04.md", datetime(2025, 7, 26, 9, 43)),
        ("", "text", "Journal/04.04.2025.md", datetime(2025, 4, 4)),
        ("", "text", "note.md", datetime.fromtimestamp(MTIME)),
    ],
)
def test_precedence(frontmatter: str, body: str, path: str, expected: datetime) -> None:
    text = f"---\n{frontmatter}\n---\n{body}" if frontmatter else body
    assert note_date(parse_note(path, text, mtime=MTIME)) == expected


def test_nothing_known_is_the_epoch_and_callouts_are_settings() -> None:
    assert note_date(parse_note("x.md", "text")) == datetime(1970, 1, 1)
    note = parse_note("x.md", "> [!me] 2025-05-05 08:00\n> hi\n")
    assert note_date(note) == datetime(1970, 1, 1)
    assert note_date(note, user_callouts=["me"]) == datetime(2025, 5, 5, 8, 0)


def test_file_mtime_comes_from_disk(tmp_path: Path) -> None:
    (tmp_path / "n.md").write_text("plain")
    stamp = (datetime.now() - timedelta(days=3)).replace(microsecond=0)
    os.utime(tmp_path / "n.md", (stamp.timestamp(), stamp.timestamp()))
    assert note_date(read_note(tmp_path, "n.md")) == stamp


@needs_samples
def test_real_transcripts_are_dated_by_their_turns_not_the_file() -> None:
    assert note_date(read_note(SAMPLES, "05_я_видел_кмрилл_каждый.md")) == datetime(
        2025, 7, 26, 9, 43
    )
    assert note_date(read_note(SAMPLES, "02_что_нам_полезного.md")) == datetime(2025, 7, 28, 17, 35)
