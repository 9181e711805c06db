"""Schema of the MUG data store, written in SQLite's dialect.

One database per experiment: by default ``<data folder>/mug.sqlite3``; on PostgreSQL the same
tables, translated by `mug.data.backends.postgres.translate_schema`. Every JSON column
holds compact JSON text written by :func:`mug.data._json.dumps`. Times are unix
seconds (``REAL``). Booleans are ``INTEGER`` 0/1.

There are deliberately no foreign keys: a record is never refused because a
related row has not arrived yet (client records can arrive in any order after a
reconnect). Keys that make writes idempotent are the primary keys below.

``PRAGMA user_version`` (PostgreSQL: the table ``mug_schema``) holds :data:`SCHEMA_VERSION`;
:data:`MIGRATIONS` bring an older database up to it (run by the store, in one transaction, before :data:`SCHEMA_SQL`).
"""

from __future__ import annotations

SCHEMA_VERSION = 5

DB_FILENAME = "mug.sqlite3"
METADATA_FILENAME = "experiment.json"

#: Tables in the order :meth:`Store.counts` reports them.
TABLES: tuple[str, ...] = (
    "participants",
    "scene_visits",
    "forms",
    "games",
    "episodes",
    "steps",
    "peer_episodes",
    "peer_steps",
    "events",
    "client_records",
    "metadata",
)

SCHEMA_SQL = """
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

-- metadata_id: the metadata row (config, versions) in force when the game started, what a replay
-- rebuilds its env from (mug.replay); NULL in games recorded before schema version 4.
-- host: the server process running the game (several processes share one database), so that a
-- process that restarts closes only its own open games; NULL for one process, and before version 5.
CREATE TABLE IF NOT EXISTS games (
    game_id     TEXT PRIMARY KEY,
    scene_id    TEXT NOT NULL,
    mode        TEXT NOT NULL,
    players     TEXT NOT NULL,
    seed        INTEGER,
    started_at  REAL NOT NULL,
    ended_at    REAL,
    outcome     TEXT,
    metadata_id INTEGER,
    host        TEXT
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
    -- Peer-to-peer games: whether the peers' records of the episode agree (mug.data.parity);
    -- NULL for every other game.
    parity          TEXT,
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
    -- Peer-to-peer games: each human agent's tab focus at this frame (JSON agent -> bool).
    focus           TEXT,
    PRIMARY KEY (game_id, episode, step)
);

-- Peer-to-peer games (games.mode 'client_p2p'): every peer records every step and episode.
-- Each peer's rows are kept here; the first peer's row of a step or episode also fills
-- steps/episodes (the canonical rows), so results read one row per step whoever sent it.
CREATE TABLE IF NOT EXISTS peer_steps (
    game_id         TEXT NOT NULL,
    episode         INTEGER NOT NULL,
    step            INTEGER NOT NULL,
    participant_id  TEXT NOT NULL,
    scene_id        TEXT NOT NULL,
    t               REAL NOT NULL,
    actions         TEXT NOT NULL,
    rewards         TEXT NOT NULL,
    terminated      INTEGER NOT NULL,
    truncated       INTEGER NOT NULL,
    infos           TEXT NOT NULL,
    observations    TEXT,
    focus           TEXT,
    PRIMARY KEY (game_id, episode, step, participant_id)
);

-- digest: SHA-256 of the peer's steps of the episode (mug.data.parity), NULL until all of
-- the num_steps steps its record counts are stored.
CREATE TABLE IF NOT EXISTS peer_episodes (
    game_id         TEXT NOT NULL,
    episode         INTEGER NOT NULL,
    participant_id  TEXT NOT NULL,
    scene_id        TEXT NOT NULL,
    seed            INTEGER,
    started_at      REAL NOT NULL,
    ended_at        REAL NOT NULL,
    num_steps       INTEGER NOT NULL,
    returns         TEXT NOT NULL,
    terminated      INTEGER NOT NULL,
    truncated       INTEGER NOT NULL,
    outcome         TEXT NOT NULL,
    digest          TEXT,
    received_at     REAL NOT NULL,
    PRIMARY KEY (game_id, episode, participant_id)
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
"""

#: SQL that takes a database from version ``v`` to ``v + 1``, by ``v``. Each is frozen as written
#: (it repeats the tables it makes rather than sharing SCHEMA_SQL's text): a later change to the
#: schema comes with a migration of its own, and must not change what an older one does.
MIGRATIONS: dict[int, str] = {
    1: """
ALTER TABLE participants ADD COLUMN secret_hash TEXT;
ALTER TABLE participants ADD COLUMN active_at REAL;
UPDATE participants SET active_at = created_at;
CREATE TABLE client_records_v2 (
    participant_id  TEXT NOT NULL,
    source          TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    digest          TEXT,
    received_at     REAL NOT NULL,
    PRIMARY KEY (participant_id, source, seq)
) WITHOUT ROWID;
INSERT INTO client_records_v2 (participant_id, source, seq, kind, digest, received_at)
    SELECT participant_id, '', seq, kind, NULL, received_at FROM client_records;
DROP TABLE client_records;
ALTER TABLE client_records_v2 RENAME TO client_records;
""",
    # Peer-to-peer games. (A version-2 database always has steps and episodes; they are made here
    # if missing only so that the ALTERs cannot fail on a database cut short.)
    2: """
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
ALTER TABLE episodes ADD COLUMN parity TEXT;
ALTER TABLE steps ADD COLUMN focus TEXT;
CREATE TABLE peer_steps (
    game_id         TEXT NOT NULL,
    episode         INTEGER NOT NULL,
    step            INTEGER NOT NULL,
    participant_id  TEXT NOT NULL,
    scene_id        TEXT NOT NULL,
    t               REAL NOT NULL,
    actions         TEXT NOT NULL,
    rewards         TEXT NOT NULL,
    terminated      INTEGER NOT NULL,
    truncated       INTEGER NOT NULL,
    infos           TEXT NOT NULL,
    observations    TEXT,
    focus           TEXT,
    PRIMARY KEY (game_id, episode, step, participant_id)
);
CREATE TABLE peer_episodes (
    game_id         TEXT NOT NULL,
    episode         INTEGER NOT NULL,
    participant_id  TEXT NOT NULL,
    scene_id        TEXT NOT NULL,
    seed            INTEGER,
    started_at      REAL NOT NULL,
    ended_at        REAL NOT NULL,
    num_steps       INTEGER NOT NULL,
    returns         TEXT NOT NULL,
    terminated      INTEGER NOT NULL,
    truncated       INTEGER NOT NULL,
    outcome         TEXT NOT NULL,
    digest          TEXT,
    received_at     REAL NOT NULL,
    PRIMARY KEY (game_id, episode, participant_id)
);
""",
    # Which config a game was played under, for replays. (A version-3 database always has games;
    # it is made here if missing only so that the ALTER cannot fail on a database cut short.)
    3: """
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
ALTER TABLE games ADD COLUMN metadata_id INTEGER;
""",
    # Which server process runs a game, for many processes sharing one database. (A version-4
    # database always has games; it is made here if missing only so that the ALTER cannot fail.)
    4: """
CREATE TABLE IF NOT EXISTS games (
    game_id     TEXT PRIMARY KEY,
    scene_id    TEXT NOT NULL,
    mode        TEXT NOT NULL,
    players     TEXT NOT NULL,
    seed        INTEGER,
    started_at  REAL NOT NULL,
    ended_at    REAL,
    outcome     TEXT,
    metadata_id INTEGER
);
ALTER TABLE games ADD COLUMN host TEXT;
""",
}
