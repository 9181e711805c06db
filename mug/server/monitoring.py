"""A JSON-able snapshot of a running server, for the notebook monitor and ``ServerHandle.snapshot()``.

Two halves, read where each is safe to read:

* the live state (who is connected, their ping, running games, waitrooms) lives in the server's
  ``Sessions`` object and is only touched on the server's event loop (:func:`live_state`);
* the stored state (every participant with its status and current scene, exclusions, counts) is
  read from the experiment's SQLite database through a read-only connection of its own, so it
  never takes the store's lock (:func:`stored_state`).

Attributes the session layer does not have (yet) read as empty, so the monitor keeps working while
that layer grows.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mug.server.runner import ServerHandle

__all__ = ["MonitorFeed", "StoredCache", "live_state", "snapshot", "stopped", "stored_state"]

log = logging.getLogger("mug.server.monitoring")

#: At most this many participants are listed (most recently active first); counts cover everyone.
PARTICIPANT_LIMIT = 200


def live_state(sessions: Any) -> dict[str, Any]:
    """What only the running server knows. Call it on the server's event loop."""
    by_sid = getattr(sessions, "by_sid", {}) or {}
    sid_of = getattr(sessions, "sid_of", {}) or {}
    rtt = getattr(sessions, "rtt_ms", {}) or {}
    game_of = getattr(sessions, "game_of", {}) or {}
    connected = sorted({getattr(c, "participant_id", None) for c in by_sid.values()} - {None})
    games = [_game(g) for g in (getattr(sessions, "games", {}) or {}).values()]
    waitrooms = [_waitroom(r) for r in (getattr(sessions, "waitrooms", {}) or {}).values()]
    return {
        "connected": connected,
        "pages": len(sid_of),
        "rtt_ms": {pid: round(float(v), 2) for pid, v in rtt.items() if v is not None},
        "game_of": dict(game_of),
        "games": games,
        "waitrooms": [w for w in waitrooms if w is not None],
    }


def _game(game: Any) -> dict[str, Any]:
    scene = getattr(game, "scene", None)
    players = {}
    for pid, player in (getattr(game, "players", {}) or {}).items():
        players[pid] = {
            "agent_id": getattr(player, "agent_id", None),
            "connected": bool(getattr(player, "connected", True)),
            "dropped": bool(getattr(player, "dropped", False)),
            "action": _jsonable(getattr(player, "held", None)),
        }
    lateness = list(getattr(game, "lateness_ms", ()) or ())[-60:]
    return {
        "game_id": getattr(game, "game_id", None),
        "scene_id": getattr(scene, "scene_id", None),
        "status": getattr(game, "status", None),
        "episode": getattr(game, "episode", 0),
        "num_episodes": getattr(scene, "num_episodes", None),
        "step": getattr(game, "step", 0),
        "max_steps": getattr(scene, "max_steps", None),
        "players": players,
        "outcome": getattr(game, "outcome", None),
        "error": getattr(game, "error", None),
        "tick_lateness_ms": round(max(lateness), 2) if lateness else None,
    }


def _jsonable(value: Any) -> Any:
    """``value`` when it survives JSON (actions are JSON values), else its repr."""
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


def _waitroom(room: Any) -> dict[str, Any] | None:
    try:
        waiting = list(getattr(room, "waiting", []) or [])
        seconds = {}
        if hasattr(room, "seconds_left"):
            seconds = {pid: round(float(room.seconds_left(pid)), 1) for pid in waiting}
        return {
            "scene_id": getattr(room, "scene_id", None),
            "waiting": waiting,
            "needed": getattr(room, "needed", None),
            "seconds_left": seconds,
        }
    except Exception:  # a waitroom mid-change must not break the monitor
        log.debug("reading a waitroom failed", exc_info=True)
        return None


def open_database(path: str | Path) -> sqlite3.Connection | None:
    """A read-only connection to an experiment database, or None while it does not exist yet."""
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
    except sqlite3.Error:
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
        except sqlite3.Error:
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


def merge(live: dict[str, Any], stored: dict[str, Any], scenes: list[str], running: bool) -> dict[str, Any]:
    """One snapshot: stored participants annotated with what is live (connected, ping, game)."""
    connected = set(live.get("connected", []))
    rtt = live.get("rtt_ms", {})
    game_of = live.get("game_of", {})
    waiting = {pid: room["scene_id"] for room in live.get("waitrooms", []) for pid in room["waiting"]}
    participants = []
    for row in stored.get("participants", []):
        pid = row["participant_id"]
        participants.append(
            {
                **row,
                "connected": pid in connected,
                "rtt_ms": rtt.get(pid),
                "game_id": game_of.get(pid),
                "waitroom": waiting.get(pid),
            }
        )
    counts = dict(stored.get("counts", {}))
    counts["connected"] = len(connected)
    counts["games"] = len(live.get("games", []))
    counts["waiting"] = len(waiting)
    return {
        "time": time.time(),
        "running": running,
        "scenes": scenes,
        "participants": participants,
        "games": live.get("games", []),
        "waitrooms": live.get("waitrooms", []),
        "exclusions": stored.get("exclusions", []),
        "counts": counts,
    }


def _scene_ids(handle: ServerHandle) -> list[str]:
    return [str(s.scene_id) for s in handle.experiment.scenes]


def _database(handle: ServerHandle) -> Path:
    from mug.data.schema import DB_FILENAME

    return Path(handle.experiment.data_path) / DB_FILENAME


def snapshot(handle: ServerHandle) -> dict[str, Any]:
    """A snapshot of a running server from any thread (the live half is read on the server loop)."""
    running = handle.running
    live = handle.call(lambda: live_state(handle.sessions)) if running else {}
    conn = open_database(_database(handle))
    try:
        stored = stored_state(conn)
    finally:
        if conn is not None:
            conn.close()
    return merge(live, stored, _scene_ids(handle), running)


class MonitorFeed:
    """Pushes a snapshot to ``callback`` every ``interval`` seconds from a task on the server loop.

    Nothing runs on the caller's thread: the task lives on the server's own loop, is cancelled with
    every other task when the server stops (the callback then gets a last snapshot with
    ``running=False``), and can be stopped earlier with :meth:`stop`.
    """

    def __init__(self, handle: ServerHandle, callback: Callable[[dict[str, Any]], None], interval: float = 0.5):
        self.handle = handle
        self.callback = callback
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self._stored = StoredCache(_database(handle))
        self._scenes = _scene_ids(handle)
        self._last: dict[str, Any] | None = None

    def start(self) -> MonitorFeed:
        """Start feeding (returns at once)."""

        def begin() -> None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="mug-monitor")

        self.handle.call(begin)
        return self

    def stop(self) -> None:
        """Stop feeding (idempotent; the server keeps running)."""
        if self._task is None or not self.handle.running:
            return
        task = self._task
        with contextlib.suppress(Exception):
            self.handle.call(task.cancel)

    def _tick(self) -> dict[str, Any]:
        live = live_state(self.handle.sessions)
        return merge(live, self._stored.read(), self._scenes, True)

    async def _run(self) -> None:
        try:
            while True:
                try:
                    self._last = self._tick()
                    self.callback(self._last)
                except Exception:
                    log.exception("the monitor could not take a snapshot")
                await asyncio.sleep(self.interval)
        finally:
            self._stored.close()
            if not self.handle.running:  # the server is stopping: say so, with nobody connected
                with contextlib.suppress(Exception):
                    self.callback(stopped(self._last, self._scenes))


def stopped(last: dict[str, Any] | None, scenes: list[str]) -> dict[str, Any]:
    """The last snapshot as it stands once the server has stopped: nobody connected, no games."""
    final = dict(last or merge({}, {}, scenes, False))
    final["participants"] = [{**p, "connected": False, "rtt_ms": None} for p in final.get("participants", [])]
    final["counts"] = {**final.get("counts", {}), "connected": 0, "games": 0, "waiting": 0}
    final.update(running=False, games=[], waitrooms=[], time=time.time())
    return final
