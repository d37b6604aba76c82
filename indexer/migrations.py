"""The index's SQLite schema, as named, append-only migrations.

Applied by `overlay.sqlite` (never edit or reorder one that has shipped).
"""

from __future__ import annotations

from overlay.sqlite import Migration

MIGRATIONS: list[Migration] = [
    (
        "0001_manifest_and_graph",
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

        -- one row per indexed note; mtime+size decide whether to read it again
        CREATE TABLE notes (
            path TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            mtime REAL NOT NULL,
            size INTEGER NOT NULL,
            indexed_at REAL NOT NULL
        );

        -- one row per distinct chunk held by some note; its vector is in Chroma under `id`
        CREATE TABLE chunks (
            id TEXT PRIMARY KEY,
            heading_path TEXT NOT NULL,  -- JSON list of headings
            text TEXT NOT NULL
        );

        -- which notes hold which chunks (two notes may hold the same chunk)
        CREATE TABLE note_chunks (
            note_path TEXT NOT NULL REFERENCES notes(path) ON DELETE CASCADE,
            ordinal INTEGER NOT NULL,
            chunk_id TEXT NOT NULL REFERENCES chunks(id),
            start_line INTEGER NOT NULL,
            end_line INTEGER NOT NULL,
            PRIMARY KEY (note_path, ordinal)
        );
        CREATE INDEX note_chunks_by_chunk ON note_chunks(chunk_id);

        CREATE TABLE links (
            source TEXT NOT NULL REFERENCES notes(path) ON DELETE CASCADE,
            ordinal INTEGER NOT NULL,
            target TEXT NOT NULL,      -- as written, without '#heading' or '|alias'
            target_key TEXT NOT NULL,  -- lower-cased last path part without '.md'
            kind TEXT NOT NULL,
            display TEXT,
            heading TEXT,
            block TEXT,
            line INTEGER NOT NULL,
            resolved TEXT,             -- the target note's path; NULL while unresolved
            PRIMARY KEY (source, ordinal)
        );
        CREATE INDEX links_by_resolved ON links(resolved);
        CREATE INDEX links_by_key ON links(target_key);

        CREATE TABLE aliases (
            note_path TEXT NOT NULL REFERENCES notes(path) ON DELETE CASCADE,
            alias TEXT NOT NULL,
            PRIMARY KEY (note_path, alias)
        );

        CREATE TABLE tags (
            note_path TEXT NOT NULL REFERENCES notes(path) ON DELETE CASCADE,
            tag TEXT NOT NULL,
            PRIMARY KEY (note_path, tag)
        );
        CREATE INDEX tags_by_tag ON tags(tag);

        -- the vault's other files (images, PDFs): links to them resolve, they hold no text
        CREATE TABLE attachments (path TEXT PRIMARY KEY);

        CREATE TABLE syncs (
            id INTEGER PRIMARY KEY,
            finished REAL NOT NULL,
            report TEXT NOT NULL  -- JSON of the sync's report
        );
        """,
    ),
    (
        "0002_chunk_vector_note",
        """
        -- the note named in the chunk's Chroma metadata, so a move can re-point it
        ALTER TABLE chunks ADD COLUMN vector_note TEXT;
        CREATE INDEX chunks_by_vector_note ON chunks(vector_note);
        """,
    ),
    (
        "0003_unlinked_mentions",
        """
        -- see indexer/mentions.py; kept by Store.commit, no foreign keys: it deletes its own
        CREATE TABLE mention_names (note_path TEXT NOT NULL, key TEXT NOT NULL,
            first TEXT NOT NULL,  -- the key's first stem: a note's text finds names by it
            PRIMARY KEY (note_path, key));
        CREATE INDEX mention_names_by_first ON mention_names(first);
        CREATE TABLE mention_texts (note_path TEXT PRIMARY KEY, stems TEXT NOT NULL);
        CREATE TABLE mention_terms (stem TEXT NOT NULL, note_path TEXT NOT NULL,
            PRIMARY KEY (stem, note_path)) WITHOUT ROWID;
        CREATE TABLE mentions (source TEXT NOT NULL, target TEXT NOT NULL,
            count INTEGER NOT NULL, PRIMARY KEY (source, target));
        CREATE INDEX mentions_by_target ON mentions(target);
        """,
    ),
    (
        "0004_scene_notes",
        """
        -- a note marked `overlay: scene` tells how to answer; its text is no statement of fact
        ALTER TABLE notes ADD COLUMN scene INTEGER NOT NULL DEFAULT 0;
        -- every note is read again on the next sync (no embedding: its chunks are known)
        UPDATE notes SET content_hash = '', size = -1;
        """,
    ),
    (
        "0005_skipped_files",
        """
        -- a file skipped for what it holds (a scan, a broken PDF, binary bytes), not read
        -- again while mtime+size stay; kept by Store.commit, see indexer/sync.py
        CREATE TABLE skipped_files (
            path TEXT PRIMARY KEY,
            mtime REAL NOT NULL,
            size INTEGER NOT NULL,
            code TEXT NOT NULL,     -- the ParseWarning code: 'no-text', 'broken-pdf', ...
            message TEXT NOT NULL
        );
        """,
    ),
    (
        "0006_parked_vectors",
        """
        -- vectors of chunks whose notes vanished from the vault, kept (without their text)
        -- for index.vector_grace_s: a rename seen as delete-then-add in two syncs finds
        -- them again instead of embedding; see indexer/parked.py
        CREATE TABLE parked_vectors (
            id TEXT NOT NULL,          -- the chunk id (a hash of its text)
            collection TEXT NOT NULL,  -- the embedder's collection the vector came from
            vector BLOB NOT NULL,      -- float32, little-endian
            parked REAL NOT NULL,      -- when (time.time())
            PRIMARY KEY (id, collection)
        ) WITHOUT ROWID;
        """,
    ),
]
