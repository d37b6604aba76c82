"""When a note happened, for `--since` and for ordering.

`note_dates` collects every candidate, keyed by source; `note_date` picks one
by this precedence, the first present wins:

1. frontmatter `created` (also spelled `date_created`, `created_at`);
2. frontmatter `date`;
3. frontmatter `updated` (also `modified`, `date_modified`, `updated_at`);
4. `dialogue`: the earliest timestamp of the note's transcript turns;
5. `filename`: a date in the file name (`2025-08-14 Trip.md`, `14.08.2025.md`);
6. `mtime`: the file's modification time;
7. the epoch, when nothing at all is known (a note parsed from a bare string).

What the person wrote beats what the file system says: a synced or copied
vault rewrites every mtime, but never a note's `created:` or its transcript.
Frontmatter values may be YAML dates or datetimes or strings such as
'2025-08-14', '14.08.2025', '2025-08-14T10:00' (see `timestamps`); a value
that is not a date is ignored. All results are naive local datetimes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from vault_schema.dialogues import extract_dialogue
from vault_schema.notes import Note
from vault_schema.timestamps import find_datetime, from_value

FRONTMATTER_KEYS: dict[str, tuple[str, ...]] = {
    "created": ("created", "date_created", "created_at"),
    "date": ("date",),
    "updated": ("updated", "modified", "date_modified", "updated_at"),
}
PRECEDENCE = ("created", "date", "updated", "dialogue", "filename", "mtime")
EPOCH = datetime(1970, 1, 1)


def note_dates(
    note: Note,
    *,
    user_callouts: Sequence[str] = ("nexus_user",),
    assistant_callouts: Sequence[str] = ("nexus_agent",),
) -> dict[str, datetime]:
    """Every date the note offers, keyed by source (the names in `PRECEDENCE`)."""
    dates: dict[str, datetime] = {}
    lowered = {key.lower(): value for key, value in note.frontmatter.items()}
    for source, keys in FRONTMATTER_KEYS.items():
        for key in keys:
            found = from_value(lowered.get(key))
            if found is not None:
                dates[source] = found
                break
    dialogue = extract_dialogue(note, user_callouts, assistant_callouts)
    if dialogue is not None and dialogue.started is not None:
        dates["dialogue"] = dialogue.started
    in_name = find_datetime(note.path.rsplit("/", 1)[-1])
    if in_name is not None:
        dates["filename"] = in_name
    if note.mtime > 0:
        dates["mtime"] = _from_timestamp(note.mtime)
    return dates


def note_date(
    note: Note,
    *,
    user_callouts: Sequence[str] = ("nexus_user",),
    assistant_callouts: Sequence[str] = ("nexus_agent",),
) -> datetime:
    """The note's date by the precedence in this module's docstring."""
    dates = note_dates(note, user_callouts=user_callouts, assistant_callouts=assistant_callouts)
    for source in PRECEDENCE:
        if source in dates:
            return dates[source]
    return EPOCH


def _from_timestamp(seconds: float) -> datetime:
    try:
        return datetime.fromtimestamp(seconds)
    except (OverflowError, OSError, ValueError):
        return EPOCH
