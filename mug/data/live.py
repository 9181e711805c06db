"""Read-only queries for live views of a running study: the monitor and the notebook preview.

The server writes the database through its own thread (`mug.server.writer`); these views read it
at the same time through read-only connections of their own, so they never take the store's lock
and never see half a transaction (WAL). Knowledge of the schema stays here in `mug.data`.

:func:`open_database` also takes a PostgreSQL store's URL: the connection it returns then is a
`mug.data.backends.Database`, which runs these same queries (``?`` marks and all).
"""

from __future__ import annotations

import contextlib
import heapq
import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

from .backends import is_database_url

__all__ = [
    "PARTICIPANT_LIMIT",
    "StoredCache",
    "database_of",
    "env_errors",
    "game_players",
    "latest_step",
    "open_database",
    "stored_state",
]

log = logging.getLogger("mug.data.live")

def _database_errors() -> tuple[type[BaseException], ...]:
    """What a read of either backend raises when the schema is being made or a lock is held a moment,
    or (PostgreSQL) while the database server is down: the views read again next time."""
    try:
        import psycopg
    except ImportError:
        return (sqlite3.Error,)
    from .backends import DatabaseUnavailable

    return (sqlite3.Error, psycopg.Error, DatabaseUnavailable)


_DATABASE_ERRORS = _database_errors()

#: At most this many participants are listed (most recently active first); counts cover everyone.
PARTICIPANT_LIMIT = 200


def database_of(location: str | Path) -> str | Path:
    """What `open_database` takes for an experiment's data location (``Experiment.data_location``):
    a PostgreSQL URL as it is, a SQLite data folder's database file."""
    from .schema import DB_FILENAME

    return location if is_database_url(location) else Path(location) / DB_FILENAME


def open_database(path: str | Path) -> Any:
    """A read-only connection to an experiment database, or None while it does not exist yet.

    ``path``: the SQLite file, or a PostgreSQL store's ``postgresql://`` URL (None while it cannot
    be reached: the views try again on their next read).
    """
    if is_database_url(path):
        from .backends.postgres import PostgresDatabase

        try:
            # reconnect_s=0: a lost connection is made again with one try, never waited for (these
            # reads may run on the server's loop; the view reads again on its next refresh).
            return PostgresDatabase(str(path), timeout=2.0, reconnect_s=0)
        except ConnectionError:
            log.debug("the live views cannot reach %s yet", path, exc_info=True)
            return None
    path = Path(path)
    if not path.is_file():
        return None
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False, timeout=1.0)
    conn.execute("PRAGMA query_only = 1")
    return conn


def stored_state(conn: sqlite3.Connection | None, limit: int = PARTICIPANT_LIMIT) -> dict[str, Any]:
    """Participants (most recently active first), exclusions and counts, from the database."""
    empty: dict[str, Any] = {"participants": [], "exclusions": [], "counts": {}}
    if conn is None:
        return empty
    try:
        counts = dict(
            conn.execute(
                "SELECT status, COUNT(*) FROM participants WHERE active_at IS NOT NULL GROUP BY status"
            ).fetchall()
        )
        idle = conn.execute("SELECT COUNT(*) FROM participants WHERE active_at IS NULL").fetchone()[0]
        rows = conn.execute(
            "SELECT participant_id, status, scene_index, scene_id, completion_code, created_at, updated_at, "
            "active_at IS NOT NULL FROM participants ORDER BY active_at IS NULL, updated_at DESC LIMIT ?",
            (limit,),
        ).fetchall()
        excluded = conn.execute(
            "SELECT p.participant_id, p.scene_id, p.updated_at, (SELECT e.data FROM events e "
            "WHERE e.participant_id = p.participant_id AND e.kind = 'excluded' ORDER BY e.event_id DESC LIMIT 1) "
            "FROM participants p WHERE p.status = 'excluded' ORDER BY p.updated_at DESC LIMIT ?",
            (limit,),
        ).fetchall()
        exclusions = []
        for pid, scene_id, t, data in excluded:
            reason = None
            if data:
                with contextlib.suppress(ValueError, TypeError, AttributeError):
                    reason = json.loads(data).get("reason")
            exclusions.append({"participant_id": pid, "scene_id": scene_id, "reason": reason, "t": t})
    except _DATABASE_ERRORS:
        # The schema is being created, or the database is locked for a moment: next time.
        log.debug("reading the monitor's data failed", exc_info=True)
        return empty
    participants = [
        {
            "participant_id": pid,
            "status": status,
            "scene_index": index,
            "scene_id": scene_id,
            "completion_code": code,
            "created_at": created,
            "updated_at": updated,
            "idle": not active,
        }
        for pid, status, index, scene_id, code, created, updated, active in rows
    ]
    counts["total"] = sum(counts.values())
    counts["idle"] = idle
    return {"participants": participants, "exclusions": exclusions, "counts": counts}


class StoredCache:
    """:func:`stored_state` kept up to date incrementally, for a feed that reads every half second.

    Each read fetches only the participants changed since the previous one (``updated_at`` moves on
    every scene change and status change), so its cost does not grow with the study's size the way a
    sorted full read does; counts and exclusions are derived from the cached rows.
    """

    _COLUMNS = (
        "participant_id", "status", "scene_index", "scene_id", "completion_code", "created_at", "updated_at", "idle",
    )  # fmt: skip
    _SELECT = (
        "participant_id, status, scene_index, scene_id, completion_code, created_at, updated_at, active_at IS NULL"
    )

    def __init__(self, path: Path, limit: int = PARTICIPANT_LIMIT) -> None:
        self.path = path
        self.limit = limit
        self._conn: sqlite3.Connection | None = None
        self._rows: dict[str, dict[str, Any]] = {}
        self._reasons: dict[str, str | None] = {}
        self._since = float("-inf")
        self._last: dict[str, Any] | None = None

    def read(self) -> dict[str, Any]:
        if self._conn is None:
            self._conn = open_database(self.path)
            if self._conn is None:
                return {"participants": [], "exclusions": [], "counts": {}}
        try:
            changed = self._conn.execute(
                f"SELECT {self._SELECT} FROM participants WHERE updated_at >= ?", (self._since,)
            ).fetchall()
            # ">=": a row written in the same instant as the newest one seen is not missed; rows
            # seen before come back and count as changed only if they differ.
            rows = [dict(zip(self._COLUMNS, values, strict=True)) for values in changed]
            for row in rows:
                row["idle"] = bool(row["idle"])
            changed = [row for row in rows if self._rows.get(row["participant_id"]) != row]
            for row in changed:
                self._rows[row["participant_id"]] = row
                self._since = max(self._since, row["updated_at"])
                if row["status"] == "excluded" and row["participant_id"] not in self._reasons:
                    self._reasons[row["participant_id"]] = self._reason(row["participant_id"])
        except _DATABASE_ERRORS:
            log.debug("reading the monitor's data failed", exc_info=True)
            changed = []
        if not changed and self._last is not None:
            return self._last
        rows = self._rows.values()
        counts: dict[str, int] = {"idle": 0}
        for row in rows:
            key = "idle" if row["idle"] else row["status"]
            counts[key] = counts.get(key, 0) + 1
        counts["total"] = len(self._rows) - counts["idle"]
        # Participants who did something come first; pages opened and never used are counted after.
        latest = heapq.nlargest(self.limit, rows, key=lambda r: (not r["idle"], r["updated_at"]))
        excluded = heapq.nlargest(
            self.limit, (r for r in rows if r["status"] == "excluded"), key=lambda r: r["updated_at"]
        )
        exclusions = [
            {
                "participant_id": r["participant_id"],
                "scene_id": r["scene_id"],
                "reason": self._reasons.get(r["participant_id"]),
                "t": r["updated_at"],
            }
            for r in excluded
        ]
        self._last = {"participants": [dict(r) for r in latest], "exclusions": exclusions, "counts": counts}
        return self._last

    def _reason(self, pid: str) -> str | None:
        assert self._conn is not None
        found = self._conn.execute(
            "SELECT data FROM events WHERE participant_id = ? AND kind = 'excluded' ORDER BY event_id DESC LIMIT 1",
            (pid,),
        ).fetchone()
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            return json.loads(found[0]).get("reason") if found else None
        return None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def latest_step(conn: sqlite3.Connection, scene_id: str, participant_ids: set[str]) -> tuple[int, int] | None:
    """Episode and step of the latest step recorded in `scene_id` for any of `participant_ids`."""
    marks = ", ".join("?" * len(participant_ids))
    row = conn.execute(
        f"SELECT episode, step FROM steps WHERE scene_id = ? AND participant_id IN ({marks}) ORDER BY t DESC LIMIT 1",
        (scene_id, *sorted(participant_ids)),
    ).fetchone()
    return (int(row[0]), int(row[1])) if row else None


def env_errors(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """The data of every ``env_error`` event, in the order they were recorded."""
    rows = conn.execute("SELECT data FROM events WHERE kind = 'env_error' ORDER BY event_id").fetchall()
    return [json.loads(data) for (data,) in rows]


def game_players(conn: sqlite3.Connection) -> dict[str, dict[str, str]]:
    """Every game's players (agent id -> participant id or policy), by game id."""
    rows = conn.execute("SELECT game_id, players FROM games").fetchall()
    return {game_id: json.loads(players) for game_id, players in rows}
