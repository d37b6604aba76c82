"""Reading dates the way people write them in notes.

Accepted: ISO dates and datetimes (`2025-08-14`, `2025-08-14T10:00`,
`2025-08-14 10:00:05`, `2025-08-14, 20:42`), European dates (`14.08.2025`,
`14.08.2025 at 9:43`), and YAML's own `date`/`datetime` values. Every result
is a naive datetime in local time: aware values are converted, so dates from
YAML, transcripts and file times compare with each other.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

_TIME = (  # optional time after the date: 'T10:00', ' 10:00:05', ', 20:42', ' at 9:43'
    r"(?:(?:[ \t]*,)?[ \t]*(?:at[ \t]+|T|[ \t])[ \t]*"
    r"(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?)?"
)
_ISO = re.compile(r"(?<!\d)(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})(?!\d)" + _TIME)
_EUROPEAN = re.compile(
    r"(?<![\d.])(?P<day>\d{1,2})\.(?P<month>\d{1,2})\.(?P<year>\d{4})(?!\d)" + _TIME
)
_PATTERNS = (_ISO, _EUROPEAN)


def find_datetime(text: str) -> datetime | None:
    """The first valid date (with its time, if written right after it) in `text`."""
    for pattern in _PATTERNS:
        for match in pattern.finditer(text):
            found = _from_match(match)
            if found is not None:
                return found
    return None


def parse_datetime(text: str) -> datetime | None:
    """`text` read as one date: ISO-8601 first (offsets honoured), then any written date."""
    stripped = text.strip()
    try:
        return as_local(datetime.fromisoformat(stripped.replace("Z", "+00:00")))
    except ValueError:
        return find_datetime(stripped)


def from_value(value: Any) -> datetime | None:
    """A frontmatter value (YAML date, datetime, string or number) as a datetime."""
    if isinstance(value, datetime):
        return as_local(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        return parse_datetime(value)
    return None


def as_local(moment: datetime) -> datetime:
    """Naive local time, so that every date Overlay compares is of one kind."""
    if moment.tzinfo is None:
        return moment
    try:
        return moment.astimezone().replace(tzinfo=None)
    except (OverflowError, OSError, ValueError):  # outside the platform's time range
        return moment.replace(tzinfo=None)


def _from_match(match: re.Match[str]) -> datetime | None:
    parts = match.groupdict()
    try:
        return datetime(
            int(parts["year"]),
            int(parts["month"]),
            int(parts["day"]),
            int(parts["hour"] or 0),
            int(parts["minute"] or 0),
            int(parts["second"] or 0),
        )
    except ValueError:  # 2025-13-45 looks like a date but is none
        return None
