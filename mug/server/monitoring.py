"""A JSON-able snapshot of a running server, for the notebook monitor and ``ServerHandle.snapshot()``.

Two halves, read where each is safe to read:

* the live state (who is connected, their ping, running games, waitrooms) lives in the server's
  ``Sessions`` object and is only touched on the server's event loop (:func:`live_state`);
* the stored state (every participant with its status and current scene, exclusions, counts) is
  read from the experiment's SQLite database through a read-only connection of its own, so it
  never takes the store's lock (`mug.data.live`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mug.data.live import StoredCache, open_database, stored_state

if TYPE_CHECKING:
    from mug.server.games.handle import GameHandle
    from mug.server.runner import ServerHandle
    from mug.server.sessions import Sessions
    from mug.server.sessions.waitroom import Waitroom

__all__ = ["MonitorFeed", "live_state", "snapshot", "stopped"]

log = logging.getLogger("mug.server.monitoring")


def live_state(sessions: Sessions) -> dict[str, Any]:
    """What only the running server knows. Call it on the server's event loop."""
    connected = sorted({c.participant_id for c in sessions.by_sid.values()})
    return {
        "connected": connected,
        "pages": len(sessions.sid_of),
        "rtt_ms": {pid: round(float(v), 2) for pid, v in sessions.rtt_ms.items() if v is not None},
        "game_of": {**sessions.p2p.game_of, **sessions.game_of},
        # P2P games too (mode "p2p"): their players' last reports, and transport and RTT per peer pair.
        "games": [_game(g) for g in sessions.games.values()] + sessions.p2p.monitor(),
        "waitrooms": [_waitroom(r) for r in sessions.matching.waitrooms.values()],
    }


def _game(game: GameHandle) -> dict[str, Any]:
    scene = game.scene
    players = {
        pid: {
            "agent_id": player.agent_id,
            "connected": bool(player.connected),
            "dropped": bool(player.dropped),
            "action": _jsonable(player.held),
        }
        for pid, player in game.players.items()
    }
    lateness = list(game.lateness_ms)[-60:]
    return {
        "game_id": game.game_id,
        "scene_id": scene.scene_id,
        "status": game.status,
        "episode": game.episode,
        "num_episodes": scene.num_episodes,
        "step": game.step,
        "max_steps": scene.max_steps,
        "players": players,
        "outcome": game.outcome,
        "error": game.error,
        "tick_lateness_ms": round(max(lateness), 2) if lateness else None,
    }


def _jsonable(value: Any) -> Any:
    """``value`` when it survives JSON (actions are JSON values), else its repr."""
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


def _waitroom(room: Waitroom) -> dict[str, Any]:
    waiting = list(room.waiting)
    return {
        "scene_id": room.scene_id,
        "waiting": waiting,
        "needed": room.needed,
        "seconds_left": {pid: round(float(room.seconds_left(pid)), 1) for pid in waiting},
    }


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


def _database(handle: ServerHandle) -> str | Path:
    from mug.data.live import database_of

    return database_of(handle.experiment.data_location)


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
