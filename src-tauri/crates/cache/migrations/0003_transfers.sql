-- The upload queue. A row is written before a byte is sent and outlives quits and crashes; the
-- connector's checkpoint (an upload session, a multipart id and the parts acknowledged) is kept
-- with it so that an interrupted upload resumes where the platform allows it.
CREATE TABLE transfers (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id     TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    node_id        TEXT NOT NULL,
    destination    TEXT NOT NULL,          -- a person's label of the destination
    path           TEXT NOT NULL,          -- the local file
    name           TEXT NOT NULL,          -- its name on the platform
    subfolder      TEXT NOT NULL DEFAULT '[]', -- JSON array of folder names
    version_hint   INTEGER,
    comment        TEXT,
    size           INTEGER NOT NULL,
    modified_ms    INTEGER NOT NULL,       -- the file's mtime when queued: a changed file restarts
    state          TEXT NOT NULL,          -- queued | running | paused | done | failed | cancelled
    bytes_done     INTEGER NOT NULL DEFAULT 0,
    checkpoint     TEXT,                   -- the connector's JSON
    attempts       INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL DEFAULT 0,
    error          TEXT,
    asset_id       TEXT,
    version_id     TEXT,
    watch_folder_id INTEGER REFERENCES watch_folders(id) ON DELETE SET NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
) STRICT;
CREATE INDEX transfers_by_state ON transfers (state, next_attempt_ms, id);

-- Local folders whose new files are uploaded to a destination.
CREATE TABLE watch_folders (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    path           TEXT NOT NULL UNIQUE,
    account_id     TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    node_id        TEXT NOT NULL,
    destination    TEXT NOT NULL,
    enabled        INTEGER NOT NULL DEFAULT 1,
    detect_versions INTEGER NOT NULL DEFAULT 1,
    comment        TEXT,
    created_at     TEXT NOT NULL
) STRICT;

-- What each watch folder has already queued, by relative path, size and mtime: a file is sent
-- once; a file written again (new size or mtime) is sent again; a rename is recognised by size,
-- mtime and content hash and not sent twice.
CREATE TABLE watch_files (
    folder_id      INTEGER NOT NULL REFERENCES watch_folders(id) ON DELETE CASCADE,
    rel_path       TEXT NOT NULL,
    size           INTEGER NOT NULL,
    modified_ms    INTEGER NOT NULL,
    fingerprint    TEXT NOT NULL,
    transfer_id    INTEGER,
    PRIMARY KEY (folder_id, rel_path)
) STRICT;

-- Small user settings (upload concurrency, bandwidth limit), as JSON values.
CREATE TABLE settings (
    key            TEXT PRIMARY KEY,
    value          TEXT NOT NULL
) STRICT;
