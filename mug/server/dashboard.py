"""What the admin dashboard shows, pushed live: the monitor's snapshot plus focus, user agents and problems.

The monitor's snapshot (`mug.server.monitoring`) already has participants (scene, status, ping),
games, waitrooms and exclusions. The dashboard adds what the events table says as it grows (read
incrementally through a read-only connection, never the store's lock): each participant's focus
(``focused``, ``blurred`` or ``hidden``, from the page's focus and visibility events), the number
of errors their page reported, and a **problems feed**: page errors, disconnects, desyncs, refused
events, env and runtime errors, drops, early endings and exclusions. Every string in it may come
from a participant; the page shows them as text.

One task on the server's loop builds the state every ``interval`` seconds while at least one
dashboard is connected, and hands it to every subscriber when it changed (with the participants
that have new events, for a dashboard that shows one of them in detail).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mug.data.live import StoredCache, open_database
from mug.data.timeline import events_since, last_event_id, participant_detail
from mug.server.monitoring import live_state, merge

if TYPE_CHECKING:
    from mug.server.runner import ServerHandle

__all__ = ["PROBLEM_KINDS", "Dashboard", "summarize"]

log = logging.getLogger("mug.server.dashboard")

#: Event kinds that go to the problems feed (``client_log`` only at level ``error``/``warn``).
PROBLEM_KINDS = frozenset({
    "client_log", "disconnect", "refused", "p2p_desync", "env_error", "runtime_error", "load_error",
    "policy_error", "game_interrupted", "steps_lost", "player_dropped", "p2p_peer_dropped", "ended_early",
    "excluded", "game_unverified",
})  # fmt: skip

#: Problems kept (the newest); older ones stay in the data.
PROBLEM_LIMIT = 200
#: Characters of a problem's message shown in the feed.
MESSAGE_CHARS = 300
#: Events read from the database at most per refresh (on the server's loop).
EVENTS_PER_READ = 2000


def summarize(kind: str, data: Any) -> str:
    """One line describing an event of the problems feed (plain text, may hold participant text)."""
    if not isinstance(data, dict):
        data = {"data": data}
    if kind == "client_log":
        text = str(data.get("message", ""))
        where = data.get("source")
        if where:
            text += f" ({where}:{data.get('line', '?')})"
    elif kind == "disconnect":
        text = "the page disconnected"
    elif kind == "refused":
        examples = data.get("examples") if isinstance(data.get("examples"), list) else []
        first = examples[0] if examples and isinstance(examples[0], dict) else {}
        text = f"refused {data.get('count', 1)}x, e.g. '{first.get('what', '?')}': {first.get('message', '')}"
    elif kind == "excluded":
        text = f"excluded: {data.get('reason', '')}"
    elif kind == "ended_early":
        text = f"study ended early: {data.get('reason', '')}"
    else:
        text = json.dumps(data, default=str)
    return text[:MESSAGE_CHARS]


def _is_problem(kind: str, data: Any) -> bool:
    if kind not in PROBLEM_KINDS:
        return False
    if kind == "client_log":
        return isinstance(data, dict) and data.get("level") in ("error", "warn")
    return True


class Dashboard:
    """The live state of one server for its admin dashboards (built and pushed on the server's loop)."""

    def __init__(self, handle: ServerHandle, interval: float = 0.5) -> None:
        from mug.data.live import database_of

        self.handle = handle
        self.interval = interval
        self.database = database_of(handle.experiment.data_location)
        self.subscribers: set[Callable[[dict[str, Any] | None, set[str]], None]] = set()
        self.focus: dict[str, str] = {}
        self.page_errors: collections.Counter[str] = collections.Counter()
        self.user_agents: dict[str, str] = {}
        self.problems: collections.deque[dict[str, Any]] = collections.deque(maxlen=PROBLEM_LIMIT)
        self.watch_hits: set[str] = set()  # participants with new events since the last push
        self.channels: set[Callable[[], None]] = set()  # how to close each open live channel (`stop`)
        self._stored = StoredCache(self.database)
        self._events = None
        self._after: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._last_text: str | None = None
        self._scenes = {str(s.scene_id): s for s in handle.experiment.scenes}

    # -- subscribers (call on the server's loop) -----------------------------------------------

    def subscribe(self, callback: Callable[[dict[str, Any] | None, set[str]], None]) -> None:
        """Call ``callback(state, participants)`` every interval: ``state`` when it changed (the first
        call has it), else None; ``participants``: those with new events since the last call."""
        self.subscribers.add(callback)
        self._last_text = None  # the newcomer gets the whole state now
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="mug-admin-dashboard")

    def unsubscribe(self, callback: Callable[[dict[str, Any] | None, set[str]], None]) -> None:
        """Stop pushing to ``callback``; the task ends with the last subscriber."""
        self.subscribers.discard(callback)
        if not self.subscribers and self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        try:
            while self.subscribers:
                try:
                    state: dict[str, Any] | None = self.state()
                    assert state is not None
                    text = json.dumps({k: v for k, v in state.items() if k != "time"}, default=str, sort_keys=True)
                    if text == self._last_text:
                        state = None  # unchanged: only the participants with new events are news
                    self._last_text = text
                    hits = set(self.watch_hits)
                    self.watch_hits.clear()
                    for callback in list(self.subscribers):
                        callback(state, hits)
                except Exception:
                    log.exception("the admin dashboard could not build its state")
                await asyncio.sleep(self.interval)
        finally:
            self.close()

    def stop(self) -> None:
        """The server is stopping: close every dashboard's live channel and the read-only connections."""
        for close in list(self.channels):
            with contextlib.suppress(Exception):
                close()
        self.channels.clear()
        self.close()

    def close(self) -> None:
        """Close the read-only connections (they reopen on the next read)."""
        self._stored.close()
        if self._events is not None:
            with contextlib.suppress(Exception):
                self._events.close()
            self._events = None

    # -- the state -----------------------------------------------------------------------------

    def _read_events(self) -> None:
        if self._events is None:
            self._events = open_database(self.database)
            if self._events is None:
                return
        conn = self._events
        try:
            if self._after is None:
                # Focus and problems from the last events before the first dashboard opened, too.
                self._after = max(0, last_event_id(conn) - EVENTS_PER_READ)
            # At most EVENTS_PER_READ a read (this runs on the server's loop): a flood is caught up
            # over the next reads.
            for event in events_since(conn, self._after, EVENTS_PER_READ):
                self._note(event)
                self._after = event["event_id"]
        except Exception:
            log.debug("reading events for the admin dashboard failed", exc_info=True)

    def _note(self, event: dict[str, Any]) -> None:
        pid, kind, data = event["participant_id"], event["kind"], event["data"]
        if pid is not None:
            self.watch_hits.add(pid)
            if kind == "client_visibility" and isinstance(data, dict):
                self.focus[pid] = "hidden" if data.get("state") == "hidden" else "focused"
            elif kind == "client_blur" and self.focus.get(pid) != "hidden":
                self.focus[pid] = "blurred"
            elif kind == "client_focus":
                self.focus[pid] = "focused"
            elif kind == "client_log" and isinstance(data, dict) and data.get("level") == "error":
                self.page_errors[pid] += 1
        if _is_problem(kind, data):
            self.problems.append({
                "event_id": event["event_id"], "t": event["t"], "participant_id": pid,
                "scene_id": event["scene_id"], "kind": kind, "message": summarize(kind, data),
            })  # fmt: skip

    def _user_agents(self) -> None:
        sessions = self.handle.sessions
        if sessions is None:
            return
        for pid, sid in list(sessions.sid_of.items()):
            if pid in self.user_agents:
                continue
            with contextlib.suppress(Exception):
                environ = sessions.sio.get_environ(sid) or {}
                agent = environ.get("HTTP_USER_AGENT")
                if agent:
                    self.user_agents[pid] = str(agent)[:512]

    def state(self) -> dict[str, Any]:
        """Everything the dashboard shows; call it on the server's loop."""
        sessions = self.handle.sessions
        assert sessions is not None
        self._read_events()
        self._user_agents()
        snap = merge(live_state(sessions), self._stored.read(), list(self._scenes), self.handle.running)
        for row in snap["participants"]:
            pid = row["participant_id"]
            row["focus"] = self.focus.get(pid) if row["connected"] else None
            row["page_errors"] = self.page_errors.get(pid, 0)
            row["user_agent"] = self.user_agents.get(pid)
        for game in snap["games"]:
            scene = self._scenes.get(str(game.get("scene_id")))
            game.setdefault("mode", "server")
            game["fps"] = getattr(scene, "fps", None)
        snap["problems"] = list(self.problems)[::-1]
        snap["time"] = time.time()
        return snap

    async def detail(self, participant_id: str) -> dict[str, Any] | None:
        """One participant's record, visits, forms and event timeline (read on a thread of its own)."""

        def read() -> dict[str, Any] | None:
            conn = open_database(self.database)
            if conn is None:
                return None
            try:
                return participant_detail(conn, participant_id)
            finally:
                conn.close()

        found = await asyncio.get_running_loop().run_in_executor(None, read)
        if found is not None:
            found["user_agent"] = self.user_agents.get(participant_id)
            found["connected"] = participant_id in (self.handle.sessions.sid_of if self.handle.sessions else {})
        return found
