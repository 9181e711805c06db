-- The MUG data schema version 2 exactly as it shipped (mug/data/schema.py before version 3),
-- to build version-2 databases for the migration test.
CREATE TABLE IF NOT EXISTS participants (
    participant_id  TEXT PRIMARY KEY,
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL,
    query           TEXT NOT NULL DEFAULT '{}',
    scene_index     INTEGER NOT NULL DEFAULT 0,
    scene_id        TEXT,
    status          TEXT NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'completed', 'excluded')),
    completion_code TEXT,
    data            TEXT NOT NULL DEFAULT '{}',
    -- SHA-256 of the session secret the first browser was given (binds the session to it).
    secret_hash     TEXT,
    -- When the participant first did something (moved on, started a game, sent records);
    -- NULL for a page that was opened and never used (left out of results by default).
    active_at       REAL
);

CREATE TABLE IF NOT EXISTS scene_visits (
    visit_id        INTEGER PRIMARY KEY AUTOINCREMENT,
    participant_id  TEXT NOT NULL,
    scene_index     INTEGER NOT NULL,
    scene_id        TEXT NOT NULL,
    scene_type      TEXT NOT NULL,
    entered_at      REAL NOT NULL,
    exited_at       REAL,
    reloads         INTEGER NOT NULL DEFAULT 0
);
-- At most one open visit per participant.
CREATE UNIQUE INDEX IF NOT EXISTS scene_visits_open
    ON scene_visits (participant_id) WHERE exited_at IS NULL;
CREATE INDEX IF NOT EXISTS scene_visits_participant
    ON scene_visits (participant_id, entered_at);

CREATE TABLE IF NOT EXISTS forms (
    participant_id     TEXT NOT NULL,
    scene_id           TEXT NOT NULL,
    submitted_at       REAL NOT NULL,
    answers            TEXT NOT NULL,
    first_submitted_at REAL NOT NULL,
    submissions        INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (participant_id, scene_id)
);

CREATE TABLE IF NOT EXISTS games (
    game_id     TEXT PRIMARY KEY,
    scene_id    TEXT NOT NULL,
    mode        TEXT NOT NULL,
    players     TEXT NOT NULL,
    seed        INTEGER,
    started_at  REAL NOT NULL,
    ended_at    REAL,
    outcome     TEXT
);

CREATE TABLE IF NOT EXISTS episodes (
    game_id         TEXT NOT NULL,
    episode         INTEGER NOT NULL,
    scene_id        TEXT NOT NULL,
    participant_ids TEXT NOT NULL,
    seed            INTEGER,
    started_at      REAL NOT NULL,
    ended_at        REAL NOT NULL,
    num_steps       INTEGER NOT NULL,
    returns         TEXT NOT NULL,
    terminated      INTEGER NOT NULL,
    truncated       INTEGER NOT NULL,
    outcome         TEXT NOT NULL,
    PRIMARY KEY (game_id, episode)
);

CREATE TABLE IF NOT EXISTS steps (
    game_id         TEXT NOT NULL,
    episode         INTEGER NOT NULL,
    step            INTEGER NOT NULL,
    participant_id  TEXT,
    scene_id        TEXT NOT NULL,
    t               REAL NOT NULL,
    actions         TEXT NOT NULL,
    rewards         TEXT NOT NULL,
    terminated      INTEGER NOT NULL,
    truncated       INTEGER NOT NULL,
    infos           TEXT NOT NULL,
    observations    TEXT,
    PRIMARY KEY (game_id, episode, step)
);

CREATE TABLE IF NOT EXISTS events (
    event_id        INTEGER PRIMARY KEY AUTOINCREMENT,
    participant_id  TEXT,
    scene_id        TEXT,
    kind            TEXT NOT NULL,
    data            TEXT NOT NULL,
    t               REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_participant ON events (participant_id, t);

-- Ledger of client-side records already committed: makes resends idempotent. A record is
-- known by its participant, the browser storage (outbox) that numbered it, and its number
-- there, so a second browser's records never collide with the first's; the digest tells a
-- true resend from a different record under the same number.
CREATE TABLE IF NOT EXISTS client_records (
    participant_id  TEXT NOT NULL,
    source          TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    digest          TEXT,
    received_at     REAL NOT NULL,
    PRIMARY KEY (participant_id, source, seq)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS metadata (
    metadata_id INTEGER PRIMARY KEY AUTOINCREMENT,
    written_at  REAL NOT NULL,
    config      TEXT NOT NULL,
    versions    TEXT NOT NULL
);
PRAGMA user_version = 2;
