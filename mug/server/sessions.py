"""Participant sessions: who is connected, which scene each participant is in, and moving them on."""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import socketio

from mug.data import Store
from mug.experiment import Experiment
from mug.scenes import CompletionCodeScene, EndScene, GymScene, Scene, StaticScene
from mug.server.game import ServerGame
from mug.server.protocol import PARTICIPANT_ID, Advance, Join, ProtocolError

log = logging.getLogger("mug.server.sessions")

# Query parameters that carry a participant id, in order of preference (ours, Prolific, MTurk).
ID_PARAMS = ("participant", "participant_id", "PROLIFIC_PID", "workerId", "subject_id")


@dataclass
class Connection:
    sid: str
    participant_id: str


class Sessions:
    """The scene stager for every participant, kept in the store so a reload resumes the scene."""

    def __init__(self, experiment: Experiment, store: Store, sio: socketio.AsyncServer, *, reconnect_grace_s: float):
        self.experiment = experiment
        self.store = store
        self.sio = sio
        self.reconnect_grace_s = reconnect_grace_s
        self.by_sid: dict[str, Connection] = {}
        self.sid_of: dict[str, str] = {}
        self.games: dict[tuple[str, str], ServerGame] = {}
        self.notices: dict[str, str] = {}

    # -- connection lifecycle --------------------------------------------------------------

    async def join(self, sid: str, join: Join) -> dict[str, Any]:
        pid = self._choose_id(join)
        record = self.store.get_or_create_participant(pid, join.query, time.time())
        old_sid = self.sid_of.get(pid)
        if old_sid and old_sid != sid:
            # The same participant opened the study again (another tab): the newest page wins.
            self.by_sid.pop(old_sid, None)
            await self.sio.emit(
                "session_replaced", {"message": "This study was opened in another tab or window."}, to=old_sid
            )
            await self.sio.disconnect(old_sid)
        self.by_sid[sid] = Connection(sid, pid)
        self.sid_of[pid] = sid
        await self.sio.enter_room(sid, _room(pid))
        first_visit = record.scene_id is None
        index = min(record.scene_index, len(self.experiment.scenes) - 1)
        self.store.add_event(pid, record.scene_id, "join" if first_visit else "rejoin", {"sid": sid}, time.time())
        if first_visit or record.status == "active":
            self._enter(pid, index)
        game = self.games.get((pid, self.experiment.scenes[index].scene_id or ""))
        if game is not None:
            game.connection_restored()
        return {"participant_id": pid, "scene": self.scene_spec(pid, index)}

    async def disconnect(self, sid: str) -> None:
        conn = self.by_sid.pop(sid, None)
        if conn is None:
            return
        if self.sid_of.get(conn.participant_id) == sid:
            del self.sid_of[conn.participant_id]
            for (pid, _), game in self.games.items():
                if pid == conn.participant_id:
                    game.connection_lost()
        self.store.add_event(conn.participant_id, None, "disconnect", {"sid": sid}, time.time())

    def participant_of(self, sid: str) -> str:
        conn = self.by_sid.get(sid)
        if conn is None:
            raise ProtocolError("send 'join' first")
        return conn.participant_id

    # -- scene flow ------------------------------------------------------------------------

    def current(self, pid: str) -> tuple[int, Scene]:
        record = self.store.get_participant(pid)
        assert record is not None
        index = min(record.scene_index, len(self.experiment.scenes) - 1)
        return index, self.experiment.scenes[index]

    async def advance(self, sid: str, advance: Advance) -> dict[str, Any]:
        pid = self.participant_of(sid)
        index, scene = self.current(pid)
        if advance.scene_id != scene.scene_id:
            raise ProtocolError(
                f"'advance' is for scene {advance.scene_id!r} but the participant is in {scene.scene_id!r}"
            )
        if isinstance(scene, EndScene):
            raise ProtocolError(f"scene {scene.scene_id!r} is the end of the experiment")
        if isinstance(scene, GymScene):
            game = self.games.get((pid, scene.scene_id or ""))
            if game is None or game.status not in ("done", "error"):
                raise ProtocolError(f"scene {scene.scene_id!r} moves on by itself when its game ends")
        if isinstance(scene, StaticScene) and advance.answers:
            self.store.add_form(pid, scene.scene_id or "", advance.answers, time.time())
        self._enter(pid, index + 1)
        return {"scene": self.scene_spec(pid, index + 1)}

    def _enter(self, pid: str, index: int) -> None:
        scene = self.experiment.scenes[index]
        now = time.time()
        self.store.enter_scene(pid, index, scene.scene_id or "", scene.scene_type, now)
        if isinstance(scene, EndScene):
            record = self.store.get_participant(pid)
            if record is not None and record.status != "completed":
                code = _completion_code() if isinstance(scene, CompletionCodeScene) else None
                self.store.complete_participant(pid, code, now)

    def scene_spec(self, pid: str, index: int) -> dict[str, Any]:
        scene = self.experiment.scenes[index]
        spec = {**scene.client_spec(), "index": index, "count": len(self.experiment.scenes)}
        if isinstance(scene, GymScene):
            game = self.games.get((pid, scene.scene_id or ""))
            spec["game"] = game.snapshot() if game else None
        if isinstance(scene, CompletionCodeScene):
            record = self.store.get_participant(pid)
            spec["completion_code"] = record.completion_code if record else None
        notice = self.notices.pop(pid, None)
        if notice:
            spec["notice"] = notice
        return spec

    # -- games -----------------------------------------------------------------------------

    async def start_game(self, sid: str, scene_id: str) -> dict[str, Any]:
        pid = self.participant_of(sid)
        _, scene = self.current(pid)
        if scene.scene_id != scene_id or not isinstance(scene, GymScene):
            raise ProtocolError(f"cannot start a game in {scene_id!r}: the participant is in {scene.scene_id!r}")
        key = (pid, scene_id)
        game = self.games.get(key)
        if game is None:
            game = ServerGame(
                scene,
                pid,
                self.store,
                self._emitter(pid),
                reconnect_grace_s=self.reconnect_grace_s,
                on_finished=self._game_finished,
            )
            self.games[key] = game
            game.start()
        return {"game": game.snapshot()}

    def action(self, sid: str, scene_id: str, action: Any) -> None:
        pid = self.participant_of(sid)
        game = self.games.get((pid, scene_id))
        if game is None or game.status in ("done", "error"):
            raise ProtocolError(f"no running game in scene {scene_id!r} for this participant")
        problem = game.submit_action(action)
        if problem:
            raise ProtocolError(problem)

    async def _game_finished(self, game: ServerGame) -> None:
        pid = game.participant_id
        self.games.pop((pid, game.scene.scene_id or ""), None)
        index, scene = self.current(pid)
        if scene is not game.scene:
            return
        if game.outcome == "error":
            self.notices[pid] = "The game stopped because of an error. Your data so far is saved."
        self._enter(pid, index + 1)
        sid = self.sid_of.get(pid)
        if sid:
            await self.sio.emit("scene", self.scene_spec(pid, index + 1), to=sid)

    async def shutdown(self) -> None:
        for game in list(self.games.values()):
            await game.cancel()
        self.games.clear()

    def _emitter(self, pid: str):
        async def emit(event: str, payload: dict[str, Any]) -> None:
            await self.sio.emit(event, payload, room=_room(pid))

        return emit

    def _choose_id(self, join: Join) -> str:
        for name in ID_PARAMS:
            value = join.query.get(name)
            if value:
                if not PARTICIPANT_ID.match(value):
                    raise ProtocolError(f"query parameter {name!r} is not a valid participant id")
                return value
        return join.participant_id or uuid.uuid4().hex


def _room(pid: str) -> str:
    return f"participant:{pid}"


def _completion_code() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(10))
