-- Drawings on a version that belong to no note: drawn in the platform's own player (Kitsu lets a
-- reviewer annotate a frame without commenting). Replaced as a whole per version on each pull.
CREATE TABLE frame_drawings (
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    version_id  TEXT NOT NULL,
    frame_start INTEGER NOT NULL,
    frame_end   INTEGER NOT NULL,
    drawing     TEXT NOT NULL
) STRICT;
CREATE INDEX frame_drawings_by_version ON frame_drawings (account_id, version_id, frame_start);
