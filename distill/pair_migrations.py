"""The pair store's SQLite schema, as named, append-only migrations.

Applied by `overlay.sqlite` (never edit or reorder one that has shipped).
"""

from __future__ import annotations

from overlay.sqlite import Migration

MIGRATIONS: list[Migration] = [
    (
        "0001_pairs",
        """
        -- one row per training pair; `id` derives from its source text, so a rerun adds nothing
        CREATE TABLE pairs (
            id TEXT PRIMARY KEY,
            messages TEXT NOT NULL,        -- JSON list of {role, content}
            note_path TEXT NOT NULL,
            heading TEXT NOT NULL,
            content_hash TEXT NOT NULL,    -- sha256 of the note the pair was made from
            source TEXT NOT NULL,          -- 'dialogue', 'fact', 'link', 'abstention', ...
            generator TEXT NOT NULL,       -- the model, or 'none' for pairs taken as written
            prompt_version TEXT NOT NULL,
            language TEXT NOT NULL,        -- 'ru', 'en' or 'mixed'
            status TEXT NOT NULL,          -- 'pending', 'approved', 'rejected', 'edited', 'stale'
            held_out INTEGER NOT NULL,     -- 1: for evaluation only, never exported for training
            scores TEXT NOT NULL,          -- JSON object of judge scores
            note_date TEXT,                -- ISO datetime of what the pair is about
            created REAL NOT NULL,
            updated REAL NOT NULL
        );
        CREATE INDEX pairs_by_note ON pairs(note_path);
        CREATE INDEX pairs_by_status ON pairs(status);

        -- what a review edit replaced, newest last
        CREATE TABLE pair_edits (
            pair_id TEXT NOT NULL REFERENCES pairs(id),
            edited REAL NOT NULL,
            editor TEXT NOT NULL,
            old_messages TEXT NOT NULL,
            new_messages TEXT NOT NULL
        );
        CREATE INDEX pair_edits_by_pair ON pair_edits(pair_id);

        -- the content each note had when it was last distilled
        CREATE TABLE distilled_notes (
            path TEXT PRIMARY KEY,
            content_hash TEXT NOT NULL,
            distilled REAL NOT NULL
        );
        """,
    ),
    (
        "0002_distilled_sources",
        """
        -- the content each note had when each source last distilled it: a run of one
        -- source must not count as a run of the others (replaces distilled_notes)
        CREATE TABLE distilled_sources (
            path TEXT NOT NULL,
            source TEXT NOT NULL,          -- 'dialogue', 'fact', 'link', 'abstention'
            content_hash TEXT NOT NULL,
            distilled REAL NOT NULL,
            PRIMARY KEY (path, source)
        );

        -- An old per-note record counts for the sources that made pairs of that very
        -- content (they ran on it); a note without any counts for 'dialogue' only, the
        -- one source that gives nothing for most notes and the only one before the
        -- LLM sources: the LLM sources run on such a note again rather than never.
        INSERT INTO distilled_sources (path, source, content_hash, distilled)
            SELECT DISTINCT d.path, p.source, d.content_hash, d.distilled
            FROM distilled_notes AS d
            JOIN pairs AS p ON p.note_path = d.path AND p.content_hash = d.content_hash;
        INSERT INTO distilled_sources (path, source, content_hash, distilled)
            SELECT d.path, 'dialogue', d.content_hash, d.distilled
            FROM distilled_notes AS d
            WHERE NOT EXISTS (SELECT 1 FROM distilled_sources AS s WHERE s.path = d.path);
        DROP TABLE distilled_notes;
        """,
    ),
    (
        "0003_pair_facts",
        """
        -- the fact a pair asks about (facts source): its training questions and held-out
        -- paraphrases, in every language, share it; '' for pairs of other sources
        ALTER TABLE pairs ADD COLUMN fact TEXT NOT NULL DEFAULT '';
        CREATE INDEX pairs_by_fact ON pairs(fact) WHERE fact != '';
        """,
    ),
    (
        "0004_pair_log_entries",
        """
        -- the conversation-log answer a pair was made of ('correction' and 'rated' pairs,
        -- see distill/ratings.py); NULL for pairs made of notes
        ALTER TABLE pairs ADD COLUMN log_entry INTEGER;
        CREATE INDEX pairs_by_log_entry ON pairs(log_entry) WHERE log_entry IS NOT NULL;
        """,
    ),
]
