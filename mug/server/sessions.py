"""Participant sessions: who is connected, which scene each participant is in, and moving them on."""

from __future__ import annotations

import asyncio
import html
import logging
import os
import secrets
import time
import uuid
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from mug.data import Store
from mug.data.results import POLICY_PREFIX
from mug.experiment import Experiment
from mug.policies import policy_label
from mug.scenes import CompletionCodeScene, EndScene, GymScene, Scene, StaticScene
from mug.server.game import ServerGame
from mug.server.game_processes import GameProcesses, RemoteGame
from mug.server.matchmaking import Waitroom
from mug.server.protocol import PARTICIPANT_ID, Advance, Join, ProtocolError
from mug.server.recorder import StepRecorder
from mug.server.ticks import TickPhases
from mug.server.transport import DirectSocketServer

log = logging.getLogger("mug.server.sessions")

# Query parameters that carry a participant id, in order of preference (ours, Prolific, MTurk).
ID_PARAMS = ("participant", "participant_id", "PROLIFIC_PID", "workerId", "subject_id")

PARTNER_LEFT = "Your partner left the game, so it could not go on. Thank you for taking part."
AWAY_TOO_LONG = "You were away from the game for too long, so it ended for you. Thank you for taking part."


@dataclass
class Connection:
    sid: str
    participant_id: str


class Sessions:
    """The scene stager for every participant, kept in the store so a reload resumes the scene."""

    def __init__(
        self,
        experiment: Experiment,
        store: Store,
        sio: DirectSocketServer,
        *,
        reconnect_grace_s: float,
        processes: GameProcesses | None = None,
    ) -> None:
        """Create the session layer; call `start()` on the server loop before serving."""
        self.experiment = experiment
        self.store = store
        self.sio = sio
        self.reconnect_grace_s = reconnect_grace_s
        self.processes = processes
        self.by_sid: dict[str, Connection] = {}
        self.sid_of: dict[str, str] = {}
        self.games: dict[str, ServerGame | RemoteGame] = {}
        self.game_of: dict[str, str] = {}
        self.waitrooms: dict[str, Waitroom] = {}
        self.rtt_ms: dict[str, float] = {}
        self.notices: dict[str, str] = {}
        self._background: set[asyncio.Task[None]] = set()
        # Env work of every game runs here (see mug/server/game.py for the concurrency model).
        self.executor = ThreadPoolExecutor(max_workers=min(8, 2 * (os.cpu_count() or 1)), thread_name_prefix="mug-env")
        self.recorder = StepRecorder(store)
        self.phases = TickPhases()

    def start(self) -> None:
        self.recorder.start()
        if self.processes is not None:
            self.processes.attach(asyncio.get_running_loop(), self.store)

    # -- connection lifecycle --------------------------------------------------------------

    async def join(self, sid: str, join: Join) -> dict[str, Any]:
        pid = self._choose_id(join)
        current = self.by_sid.get(sid)
        if current is not None and current.participant_id != pid:
            raise ProtocolError("this connection already belongs to another participant; reconnect to switch")
        record = self.store.get_or_create_participant(pid, join.query, time.time())
        old_sid = self.sid_of.get(pid)
        if old_sid and old_sid != sid:
            # The same participant opened the study again (another tab): the newest page wins.
            self.by_sid.pop(old_sid, None)
            message = {"message": "This study was opened in another tab or window."}
            await self.sio.emit("session_replaced", message, to=old_sid)
            await self.sio.disconnect(old_sid)
        self.by_sid[sid] = Connection(sid, pid)
        self.sid_of[pid] = sid
        await self.sio.enter_room(sid, _room(pid))
        kind = "join" if record.scene_id is None else "rejoin"
        self.store.add_event(pid, record.scene_id, kind, {"sid": sid}, time.time())
        if "terminal" in record.data:
            return {"participant_id": pid, "scene": record.data["terminal"]}
        index = min(record.scene_index, len(self.experiment.scenes) - 1)
        if record.scene_id is None or record.status == "active":
            self._enter(pid, index)
        game = self._game(pid)
        if game is not None:
            await self.sio.enter_room(sid, _game_room(game.game_id))
            game.connection_restored(pid)
        # The page starts loading the browser runtime early when a client-side scene lies ahead.
        ahead = self.experiment.scenes[index:]
        preload = any(isinstance(s, GymScene) and s.runs_in_browser for s in ahead)
        return {"participant_id": pid, "scene": self.scene_spec(pid, index), "preload_runtime": preload}

    async def disconnect(self, sid: str) -> None:
        conn = self.by_sid.pop(sid, None)
        if conn is None:
            return
        pid = conn.participant_id
        self.store.add_event(pid, None, "disconnect", {"sid": sid}, time.time())
        if self.sid_of.get(pid) != sid:
            return  # an older page of a participant who has a newer one
        del self.sid_of[pid]
        self.rtt_ms.pop(pid, None)
        game = self._game(pid)
        if game is not None:
            game.connection_lost(pid)
        for room in self.waitrooms.values():
            if room.remove(pid):
                self.store.add_event(pid, room.scene_id, "waitroom_left", {}, time.time())
                await self._broadcast_waitroom(room)

    def participant_of(self, sid: str) -> str:
        conn = self.by_sid.get(sid)
        if conn is None:
            raise ProtocolError("send 'join' first")
        return conn.participant_id

    # -- scene flow ------------------------------------------------------------------------

    def current(self, pid: str) -> tuple[int, Scene]:
        record = self.store.get_participant(pid)
        assert record is not None
        if "terminal" in record.data:
            raise ProtocolError("this participant has finished the experiment")
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
            if not scene.runs_in_browser:
                raise ProtocolError(f"scene {scene.scene_id!r} moves on by itself when its game ends")
            self._end_browser_game(pid, scene, advance)
        if isinstance(scene, StaticScene) and advance.answers:
            self.store.add_form(pid, scene.scene_id or "", advance.answers, time.time())
        return {"scene": self._go_to(pid, index + 1)}

    def _go_to(self, pid: str, index: int) -> dict[str, Any]:
        """Enter scene `index` and return its spec; past the last scene the participant has finished."""
        if index < len(self.experiment.scenes):
            self._enter(pid, index)
            return self.scene_spec(pid, index)
        # An experiment need not end with an end scene: after its last scene the participant is done.
        now = time.time()
        spec = {
            "scene_id": "finished",
            "scene_type": "end",
            "index": len(self.experiment.scenes),
            "count": len(self.experiment.scenes),
            "header": "Thank you!",
            "body": "<p>You have finished. You may close this page.</p>",
            "continue": None,
            "redirect_url": None,
        }
        self.store.complete_participant(pid, None, now)
        self.store.update_participant_data(pid, {"terminal": spec}, now)
        return spec

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
        if isinstance(scene, GymScene) and scene.runs_in_browser:
            spec["game"] = self._browser_game(pid, scene)
        elif isinstance(scene, GymScene):
            game = self._game(pid)
            spec["game"] = game.snapshot(pid) if game and game.scene is scene else None
        if isinstance(scene, CompletionCodeScene):
            record = self.store.get_participant(pid)
            spec["completion_code"] = record.completion_code if record else None
        notice = self.notices.pop(pid, None)
        if notice:
            spec["notice"] = notice
        return spec

    async def _move_on(self, pid: str, scene: Scene) -> None:
        """Send a participant who is still in `scene` to the next scene."""
        record = self.store.get_participant(pid)
        if record is None or "terminal" in record.data:
            return
        index = min(record.scene_index, len(self.experiment.scenes) - 1)
        if self.experiment.scenes[index] is not scene:
            return
        await self._send(pid, "scene", self._go_to(pid, index + 1))

    async def _end_with_code(
        self, pid: str, scene: Scene, reason: str, header: str, message: str, redirect_url: str | None = None
    ) -> None:
        """End the experiment for a participant early, with a message and a recorded completion code."""
        code = _completion_code()
        now = time.time()
        spec = {
            "scene_id": f"{scene.scene_id}.ended",
            "scene_type": "completion_code",
            "index": len(self.experiment.scenes) - 1,
            "count": len(self.experiment.scenes),
            "header": header,
            "body": f"<p>{html.escape(message)}</p>",
            "continue": None,
            "completion_code": code,
            "redirect_url": redirect_url,
            "append_subject_id": False,
            "redirect_param": "participant",
            "ended": reason,
        }
        self.store.complete_participant(pid, code, now)
        self.store.update_participant_data(pid, {"terminal": spec}, now)
        self.store.add_event(pid, scene.scene_id, "ended_early", {"reason": reason, "completion_code": code}, now)
        await self._send(pid, "scene", spec)

    # -- games -----------------------------------------------------------------------------

    def _game(self, pid: str) -> ServerGame | RemoteGame | None:
        game_id = self.game_of.get(pid)
        return self.games.get(game_id) if game_id else None

    async def start_game(self, sid: str, scene_id: str) -> dict[str, Any]:
        pid = self.participant_of(sid)
        _, scene = self.current(pid)
        if scene.scene_id != scene_id or not isinstance(scene, GymScene):
            raise ProtocolError(f"cannot start a game in {scene_id!r}: the participant is in {scene.scene_id!r}")
        if scene.runs_in_browser:
            return {"game": self._start_browser_game(pid, scene)}
        game = self._game(pid)
        if game is not None and game.scene is scene:
            return {"game": game.snapshot(pid)}
        if scene.multiplayer_options is None:
            humans = scene.human_agents
            game = await self._new_game(scene, {humans[0] if humans else "__viewer__": pid})
            return {"game": game.snapshot(pid)}
        room = self._waitroom(scene)
        if pid not in room:
            room.add(pid)
            self.store.add_event(pid, scene_id, "waitroom_entered", {"waiting": len(room.waiting)}, time.time())
        waited = {p: room.waited_s(p) for p in room.waiting}
        group = room.take_group()
        if group is not None:
            game = await self._new_game(scene, dict(zip(scene.human_agents, group, strict=True)))
            self.store.add_event(
                None,
                scene_id,
                "matched",
                {
                    "game_id": game.game_id,
                    "players": {p.agent_id: p.participant_id for p in game.players.values()},
                    "waited_s": {p: round(waited.get(p, 0.0), 3) for p in group},
                },
                time.time(),
            )
            for player in group:
                await self._send(player, "matched", {"scene_id": scene_id, **game.snapshot(player)})
            await self._broadcast_waitroom(room)
            return {"game": game.snapshot(pid)}
        await self._broadcast_waitroom(room)
        return {"waitroom": self._waitroom_status(room, pid)}

    async def _new_game(self, scene: GymScene, players: dict[str, str]) -> ServerGame | RemoteGame:
        grace = scene.multiplayer_options.reconnect_grace_s if scene.multiplayer_options else self.reconnect_grace_s
        game_id = uuid.uuid4().hex
        game: ServerGame | RemoteGame
        if self.processes is not None:
            game = RemoteGame(
                self.processes,
                scene,
                self.experiment.scene_index(scene.scene_id or ""),
                players,
                game_id=game_id,
                reconnect_grace_s=grace,
                deliver=lambda target, text: self.sio.send_encoded(
                    text, _game_room(game_id) if target is None else _room(target)
                ),
                on_finished=self._game_finished,
                on_dropped=self._player_dropped,
            )
        else:
            game = ServerGame(
                scene,
                players,
                self.store,
                self.recorder,
                _GameChannel(self, game_id),
                self.executor,
                reconnect_grace_s=grace,
                on_finished=self._game_finished,
                on_dropped=self._player_dropped,
                game_id=game_id,
                phases=self.phases,
            )
        self.games[game_id] = game
        for pid in players.values():
            self.game_of[pid] = game_id
            sid = self.sid_of.get(pid)
            if sid:
                await self.sio.enter_room(sid, _game_room(game_id))
        game.start()
        return game

    # -- client-side games (the env runs in the browser; the server records) ---------------

    def _browser_game(self, pid: str, scene: GymScene) -> dict[str, Any] | None:
        record = self.store.get_participant(pid)
        games = (record.data.get("browser_games") or {}) if record else {}
        return games.get(scene.scene_id or "")

    def _start_browser_game(self, pid: str, scene: GymScene) -> dict[str, Any]:
        """A new game for this page; a game the participant started before (then reloaded) is interrupted.

        The env's state lived in the page that is gone, so the game starts over under a new id:
        the steps the old page recorded stay with the old game, none are lost or mixed up.
        """
        now = time.time()
        previous = self._browser_game(pid, scene)
        if previous is not None:
            self.store.end_game(previous["game_id"], "interrupted", now)
        seed = scene.seed if scene.seed is not None else secrets.randbits(31)
        game = {"game_id": uuid.uuid4().hex, "seed": seed, "status": "starting", "episode": 0, "step": 0}
        humans = scene.human_agents
        roster = {
            a: pid if a in humans else f"{POLICY_PREFIX}{policy_label(p)}" for a, p in scene.policy_mapping.items()
        }
        self.store.start_game(game["game_id"], scene.scene_id or "", "client_pyodide", roster, seed, now)
        record = self.store.get_participant(pid)
        games = dict((record.data.get("browser_games") or {}) if record else {})
        games[scene.scene_id or ""] = game
        ids = [*((record.data.get("browser_game_ids") or []) if record else []), game["game_id"]]
        self.store.update_participant_data(pid, {"browser_games": games, "browser_game_ids": ids}, now)
        return game

    def _end_browser_game(self, pid: str, scene: GymScene, advance: Advance) -> None:
        game = self._browser_game(pid, scene)
        if game is None or advance.game_id != game["game_id"]:
            raise ProtocolError(f"'advance' from {scene.scene_id!r} must name the participant's current game")
        outcome = "completed" if advance.outcome == "done" else "error"
        self.store.end_game(game["game_id"], outcome, time.time())
        if outcome == "error":
            self.notices[pid] = "The game stopped because of an error. Your data so far is saved."

    def client_records(self, sid: str, records: list[dict[str, Any]]) -> dict[str, Any]:
        """Commit a batch from the page's outbox; the reply acknowledges what is committed.

        Records the server refuses (invalid, or for a game this participant did not start in the
        browser) are named in the reply too, so the page drops them instead of resending them
        forever; each refusal is recorded as an event.
        """
        pid = self.participant_of(sid)
        record = self.store.get_participant(pid)
        own_games = set((record.data.get("browser_game_ids") or []) if record else [])
        accepted: list[dict[str, Any]] = []
        refused: list[dict[str, Any]] = []
        for item in records:
            problem = _foreign_game(item, own_games)
            if problem:
                refused.append({"seq": item.get("seq") if isinstance(item, dict) else None, "error": problem})
                continue
            if item.get("kind") == "episode" and isinstance(item.get("payload"), dict):
                item = {**item, "payload": {**item["payload"], "participant_ids": [pid]}}
            accepted.append(item)
        try:
            committed = self.store.add_client_records(pid, accepted)
        except (ValueError, TypeError):
            committed = []  # one bad record refuses a batch: commit the others one by one
            for item in accepted:
                try:
                    committed += self.store.add_client_records(pid, [item])
                except (ValueError, TypeError) as exc:
                    refused.append({"seq": item.get("seq"), "error": str(exc)[:300]})
        if refused:
            self.store.add_event(
                pid, None, "client_records_refused", {"count": len(refused), "first": refused[:10]}, time.time()
            )
        return {"committed": committed, "refused": [r["seq"] for r in refused if isinstance(r["seq"], int)]}

    def action(self, sid: str, scene_id: str, action: Any) -> None:
        pid = self.participant_of(sid)
        game = self._game(pid)
        if game is None or game.scene.scene_id != scene_id or game.status in ("done", "error"):
            raise ProtocolError(f"no running game in scene {scene_id!r} for this participant")
        problem = game.submit_action(pid, action)
        if problem:
            raise ProtocolError(problem)

    async def _player_dropped(self, game: ServerGame | RemoteGame, pid: str) -> None:
        self.game_of.pop(pid, None)
        await self._end_with_code(pid, game.scene, "dropped", "Session ended", AWAY_TOO_LONG)

    async def _game_finished(self, game: ServerGame | RemoteGame) -> None:
        self.games.pop(game.game_id, None)
        for pid in game.participant_ids:
            if self.game_of.get(pid) == game.game_id:
                del self.game_of[pid]
        for pid in game.participant_ids:
            if pid in game.dropped and len(game.players) > 1:
                continue  # already ended with a code when dropped (see _player_dropped)
            if game.outcome == "player_dropped":
                await self._end_with_code(pid, game.scene, "partner_left", "The game has ended", PARTNER_LEFT)
            elif game.outcome == "abandoned":
                await self._end_with_code(pid, game.scene, "abandoned", "Session ended", AWAY_TOO_LONG)
            else:
                if game.outcome == "error":
                    self.notices[pid] = "The game stopped because of an error. Your data so far is saved."
                await self._move_on(pid, game.scene)

    # -- waitrooms -------------------------------------------------------------------------

    def _waitroom(self, scene: GymScene) -> Waitroom:
        sid = scene.scene_id or ""
        room = self.waitrooms.get(sid)
        if room is None:
            opts = scene.effective_waitroom()
            room = Waitroom(
                sid,
                len(scene.human_agents),
                opts.timeout,
                lambda pid: self._spawn(self._waitroom_timeout(scene, pid)),
            )
            self.waitrooms[sid] = room
        return room

    def _waitroom_status(self, room: Waitroom, pid: str) -> dict[str, Any]:
        return {
            "scene_id": room.scene_id,
            "waiting": len(room.waiting),
            "needed": room.needed,
            "seconds_left": round(room.seconds_left(pid), 1),
        }

    async def _broadcast_waitroom(self, room: Waitroom) -> None:
        for pid in room.waiting:
            await self._send(pid, "waitroom", self._waitroom_status(room, pid))

    async def _waitroom_timeout(self, scene: GymScene, pid: str) -> None:
        opts = scene.effective_waitroom()
        self.store.add_event(pid, scene.scene_id, "waitroom_timeout", {"timeout_s": opts.timeout}, time.time())
        if opts.timeout_scene_id is not None:
            index = self.experiment.scene_index(opts.timeout_scene_id)
            self.notices[pid] = opts.timeout_message
            await self._send(pid, "scene", self._go_to(pid, index))
        else:
            await self._end_with_code(
                pid, scene, "waitroom_timeout", "No partner found", opts.timeout_message, opts.timeout_redirect_url
            )
        await self._broadcast_waitroom(self._waitroom(scene))

    # -- plumbing --------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _send(self, pid: str, event: str, payload: dict[str, Any]) -> None:
        await self.sio.emit(event, payload, room=_room(pid))

    async def shutdown(self) -> None:
        for room in self.waitrooms.values():
            room.close()
        for game in list(self.games.values()):
            await game.cancel()
        self.games.clear()
        if self.processes is not None:
            await self.processes.stop()
        await self.recorder.close()
        self.executor.shutdown(wait=True, cancel_futures=True)

    def _choose_id(self, join: Join) -> str:
        for name in ID_PARAMS:
            value = join.query.get(name)
            if value:
                if not PARTICIPANT_ID.match(value):
                    raise ProtocolError(f"query parameter {name!r} is not a valid participant id")
                return value
        return join.participant_id or uuid.uuid4().hex


class _GameChannel:
    """Delivers a game's messages through Socket.IO rooms (encoded once per message)."""

    def __init__(self, sessions: Sessions, game_id: str) -> None:
        self._sessions = sessions
        self._room = _game_room(game_id)

    async def to_game(self, event: str, payload: dict[str, Any]) -> None:
        await self._sessions.sio.broadcast(event, payload, room=self._room)

    async def to_player(self, participant_id: str, event: str, payload: dict[str, Any]) -> None:
        await self._sessions.sio.broadcast(event, payload, room=_room(participant_id))


def _foreign_game(item: Any, own_games: set[str]) -> str | None:
    """Why a page's step or episode record may not be stored: it names a game the page did not run."""
    if not isinstance(item, dict) or item.get("kind") not in ("step", "episode"):
        return None  # events and forms concern only the sender; the store checks their shape
    payload = item.get("payload")
    game_id = payload.get("game_id") if isinstance(payload, dict) else None
    if game_id not in own_games:
        return f"game {game_id!r} is not a game this participant played in the browser"
    return None


def _room(pid: str) -> str:
    return f"participant:{pid}"


def _game_room(game_id: str) -> str:
    return f"game:{game_id}"


def _completion_code() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(10))
