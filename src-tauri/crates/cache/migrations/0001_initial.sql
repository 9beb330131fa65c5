-- Framenote's local cache and outbox. Forward-only: a later change is a new numbered file.
--
-- Conventions: platform ids are TEXT exactly as the platform spells them, scoped by account_id;
-- human timestamps are RFC 3339 UTC TEXT; scheduling times are INTEGER unix milliseconds.
-- No column ever holds a password or a token: those live in the OS keyring (see framenote-sync).

-- One login on one platform.
CREATE TABLE accounts (
    id              TEXT PRIMARY KEY NOT NULL,
    platform        TEXT NOT NULL,
    base_url        TEXT NOT NULL,
    user_name       TEXT,
    label           TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    last_sync_at    TEXT,
    last_sync_error TEXT
) STRICT;

-- The browse tree (workspaces, projects, folders, tasks, playlists).
CREATE TABLE nodes (
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    remote_id  TEXT NOT NULL,
    parent_id  TEXT,
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    status     TEXT,
    position   INTEGER NOT NULL,
    PRIMARY KEY (account_id, remote_id)
) STRICT;
CREATE INDEX nodes_by_parent ON nodes (account_id, parent_id, position);

-- Reviewable items. `fingerprint` is a hash of everything the platform said about the asset and its
-- versions; `notes_fingerprint` is the fingerprint for which its notes were last fetched, so an
-- unchanged asset costs no note request on re-sync.
CREATE TABLE assets (
    account_id        TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    remote_id         TEXT NOT NULL,
    parent_id         TEXT NOT NULL,
    name              TEXT NOT NULL,
    status            TEXT,
    updated_at        TEXT,
    offline_allowed   INTEGER NOT NULL,
    offline_reason    TEXT,
    fingerprint       TEXT NOT NULL,
    notes_fingerprint TEXT,
    PRIMARY KEY (account_id, remote_id)
) STRICT;

-- Which node lists which asset: an asset can sit in several (a task list and a playlist).
CREATE TABLE node_assets (
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    node_id    TEXT NOT NULL,
    asset_id   TEXT NOT NULL,
    position   INTEGER NOT NULL,
    PRIMARY KEY (account_id, node_id, asset_id)
) STRICT;
CREATE INDEX node_assets_by_asset ON node_assets (account_id, asset_id);

-- Versions with the media facts the player and the notes need.
CREATE TABLE versions (
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    remote_id   TEXT NOT NULL,
    asset_id    TEXT NOT NULL,
    number      INTEGER NOT NULL,
    label       TEXT NOT NULL,
    fps_num     INTEGER NOT NULL,
    fps_den     INTEGER NOT NULL,
    tc_frames   INTEGER,
    tc_num      INTEGER,
    tc_den      INTEGER,
    tc_drop     INTEGER,
    first_frame INTEGER NOT NULL,
    frame_count INTEGER,
    width       INTEGER,
    height      INTEGER,
    bytes       INTEGER,
    PRIMARY KEY (account_id, remote_id)
) STRICT;
CREATE INDEX versions_by_asset ON versions (account_id, asset_id, number);

-- What the user asked to keep offline: an asset, or a node (task, playlist, folder, project) and
-- everything under it.
CREATE TABLE pins (
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    scope      TEXT NOT NULL CHECK (scope IN ('asset', 'node')),
    target_id  TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (account_id, scope, target_id)
) STRICT;

-- Local copies of proxies. `remote_ref` is the version id (signed URLs expire and may carry
-- secrets, so they are asked for again at download time and never stored).
CREATE TABLE media_files (
    account_id       TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    version_id       TEXT NOT NULL,
    asset_id         TEXT NOT NULL,
    remote_ref       TEXT NOT NULL,
    local_path       TEXT,
    bytes_expected   INTEGER,
    bytes_downloaded INTEGER NOT NULL DEFAULT 0,
    checksum         TEXT,
    state            TEXT NOT NULL
        CHECK (state IN ('none', 'queued', 'downloading', 'complete', 'outdated', 'failed')),
    pinned           INTEGER NOT NULL DEFAULT 0,
    pin_scope        TEXT,
    last_error       TEXT,
    updated_at       TEXT NOT NULL,
    PRIMARY KEY (account_id, version_id)
) STRICT;

-- Notes, local and remote. `id` is the client-generated NoteId, kept for life; `remote_id` is
-- learnt after posting. `sync_state`: pending (in the outbox), sent (on the platform), failed
-- (permanent error, text kept, retry or discard), discarded (the user chose not to post; kept).
CREATE TABLE notes (
    id          TEXT PRIMARY KEY NOT NULL,
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    remote_id   TEXT,
    version_id  TEXT NOT NULL,
    asset_id    TEXT NOT NULL,
    parent_id   TEXT,
    author      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    text        TEXT NOT NULL,
    frame_start INTEGER,
    frame_end   INTEGER,
    status      TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
    drawing     TEXT,
    origin      TEXT NOT NULL CHECK (origin IN ('local', 'remote')),
    sync_state  TEXT NOT NULL CHECK (sync_state IN ('pending', 'sent', 'failed', 'discarded')),
    last_error  TEXT,
    fingerprint TEXT,
    UNIQUE (account_id, remote_id)
) STRICT;
CREATE INDEX notes_by_version ON notes (account_id, version_id, created_at);
CREATE INDEX notes_by_asset ON notes (account_id, asset_id);

-- The durable outbox: every change a user makes, in order. Rows are never deleted by the app;
-- `done` and `discarded` are terminal. `kind` is open TEXT so that new kinds (uploads) need no
-- migration; the Rust side validates it.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id      TEXT NOT NULL REFERENCES accounts(id),
    kind            TEXT NOT NULL,
    note_id         TEXT REFERENCES notes(id),
    asset_id        TEXT NOT NULL,
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL
        CHECK (state IN ('queued', 'in_flight', 'done', 'failed', 'discarded')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    error_kind      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
) STRICT;
CREATE INDEX outbox_open ON outbox (account_id, asset_id, id)
    WHERE state IN ('queued', 'in_flight', 'failed');
CREATE INDEX outbox_by_note ON outbox (note_id);

-- Per-account sync bookmarks (event cursors, last full listing).
CREATE TABLE sync_cursors (
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (account_id, key)
) STRICT;
