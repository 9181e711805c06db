"""Participant sessions: who is connected, which scene each participant is in, and moving them on.

Every database call goes through the server's database thread (`mug.server.writer`): the event
loop never waits on SQLite.
"""

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
from typing import TYPE_CHECKING, Any

from mug.data import ParticipantRecord, Store
from mug.experiment import Experiment
from mug.scenes import CompletionCodeScene, EndScene, GymScene, Scene, StaticScene
from mug.scenes.redirects import fill as fill_redirect
from mug.scenes.surveys import AnswerError, SurveyScene
from mug.server.cluster.linked import LinkedGame
from mug.server.games.handle import GameHandle
from mug.server.games.processes.parent import GameProcesses
from mug.server.games.recorder import StepRecorder
from mug.server.games.ticks import TickPhases
from mug.server.sessions import binding, entry
from mug.server.sessions.browser_games import BrowserGames
from mug.server.sessions.game_pages import GamePages
from mug.server.sessions.intake import ClientLimits
from mug.server.sessions.interruptions import Interruptions
from mug.server.sessions.matching import Matching
from mug.server.sessions.orders import SceneOrders
from mug.server.sessions.p2p import P2PGames
from mug.server.sessions.presence import Presence

if TYPE_CHECKING:
    from mug.server.cluster.relay import Relay
from mug.server.sessions.refusals import Refusals
from mug.server.sessions.server_games import ServerGames
from mug.server.sessions.texts import GAME_ERROR
from mug.server.sessions.watch import Watch
from mug.server.web.protocol import PARTICIPANT_ID, Advance, ClientRecords, Join, ProtocolError
from mug.server.web.rooms import game_room, participant_room
from mug.server.web.transport import DirectSocketServer
from mug.server.writer import StoreWriter

log = logging.getLogger("mug.server.sessions.sessions")

# Query parameters that carry a participant id, in order of preference (ours, Prolific, MTurk).
ID_PARAMS = ("participant", "participant_id", "PROLIFIC_PID", "workerId", "subject_id")



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
        limits: ClientLimits | None = None,
        host: str | None = None,
        presence: Presence | None = None,
    ) -> None:
        """Create the session layer; call `start()` on the server loop before serving.

        ``host``: this server's id when several servers share the store (`mug.server.cluster`);
        None for a server of its own. ``presence``: where participants' pages are connected across
        those servers (`mug.server.sessions.presence`).
        """
        self.presence = presence
        self.relay: Relay | None = None  # (games spanning servers: set by the server when it has Redis)
        self.experiment = experiment
        self.store = store
        self.writer = StoreWriter(store, host=host)
        self.refusals = Refusals(self.writer)
        self.limits = limits or ClientLimits()
        self.browser_games = BrowserGames(self.writer, self.refusals, self.limits)
        # Each player's own in-game text (content(game_page_html_fn=...); mug.server.sessions.game_pages).
        self.game_pages = self.browser_games.pages = GamePages(self.writer)
        self.sio = sio
        self.reconnect_grace_s = reconnect_grace_s
        self.processes = processes
        self.by_sid: dict[str, Connection] = {}
        self.sid_of: dict[str, str] = {}
        self.games: dict[str, GameHandle] = {}
        self.game_of: dict[str, str] = {}
        self.rtt_ms: dict[str, float] = {}
        self.notices: dict[str, str] = {}
        self.active: set[str] = set()  # participants known to have done something (see mark_active)
        self.scene_of: dict[str, str | None] = {}  # the scene each connected participant is in (for client events)
        self.closing = False  # the server is stopping: no new joins or games
        self._background: set[asyncio.Task[None]] = set()
        # Env work of every game runs here (see mug/server/games/game.py for the concurrency model).
        self.executor = ThreadPoolExecutor(max_workers=min(8, 2 * (os.cpu_count() or 1)), thread_name_prefix="mug-env")
        self.recorder = StepRecorder(self.writer)
        self.phases = TickPhases()
        # P2P games: matched here, played in the browsers (mug.server.sessions.p2p).
        self.p2p = P2PGames(self)
        # Waitrooms and matchmaking (mug.server.sessions.matching).
        self.matching = Matching(self)
        # Continuous monitoring of participants while they play (mug.server.sessions.watch).
        self.watch = Watch(self)
        self.entry_pings = entry.PingScreening(self)
        self.browser_games.on_p2p_outcome = self.p2p.peer_finished
        # Server-run games (mug.server.sessions.server_games), and those a stopped server cut off.
        self.server_games = ServerGames(self)
        self.interruptions = Interruptions(self)
        # Each participant's order of scenes; a scene index is a position in it (mug.server.sessions.orders).
        self.orders = SceneOrders(experiment)

    async def start(self) -> None:
        """Close what a crash left open, then start recording (on the server loop, before serving).

        A server that shares its store with others (``host``) closes only the games of servers that
        are gone, as `mug.server.cluster.members` finds them: the others' games are running.
        """
        if self.writer.host is None:
            await self.interruptions.recover()
        self.recorder.start()
        self.watch.start()
        if self.processes is not None:
            self.processes.attach(asyncio.get_running_loop(), self.writer)

    # -- connection lifecycle --------------------------------------------------------------

    async def join(self, sid: str, join: Join) -> dict[str, Any]:
        pid = self._choose_id(join)
        current = self.by_sid.get(sid)
        if current is not None and current.participant_id != pid:
            raise ProtocolError("this connection already belongs to another participant; reconnect to switch")
        if self.closing:
            raise ProtocolError("the server is stopping; try again in a moment")
        if self.relay is not None:  # (their game may run on another server: mug.server.cluster.relay)
            await self.relay.settle(pid)
        record, decision, secret, entered = await self.writer.call(self._admit, pid, join, time.time())
        if not self.sio.manager.is_connected(sid, "/"):
            return {"ok": False, "error": "the connection closed while joining"}  # (its disconnect ran already)
        if not decision.allowed:
            # Another browser holds this session: recorded (as a refusal, so a flood is one row).
            self.refusals.note(pid, sid, "join", "open elsewhere: this browser does not hold the session's secret")
            return {"ok": False, "error": binding.OPEN_ELSEWHERE, "refused": "open_elsewhere"}
        if decision.switched:
            self.writer.event(pid, record.scene_id, "device_switched", {"sid": sid})
        # The same participant opened the study again (another tab, or a device switch): the newest
        # page wins. The older page may be on this server or, behind a load balancer, on another
        # (then python-socketio's Redis manager takes the message and the disconnect there).
        where = "on another device" if decision.switched else "in another tab or window"
        replaced = {"message": f"This study was opened {where}."}
        old_sid = self.sid_of.get(pid)
        if old_sid and old_sid != sid:
            self.by_sid.pop(old_sid, None)
            await self.sio.emit("session_replaced", replaced, to=old_sid)
            await self.sio.disconnect(old_sid)
        elsewhere = None if self.presence is None else await self.presence.arrive(pid, sid)
        if elsewhere is not None:
            await self.sio.emit("session_replaced", replaced, to=elsewhere["sid"])
            await self.sio.disconnect(elsewhere["sid"])
        self.by_sid[sid] = Connection(sid, pid)
        self.sid_of[pid] = sid
        self.scene_of[pid] = None if "terminal" in record.data else record.scene_id
        if record.active_at is not None:
            self.active.add(pid)
        await self.sio.enter_room(sid, participant_room(pid))
        kind = "join" if record.scene_id is None else "rejoin"
        self.writer.event(pid, record.scene_id, kind, {"sid": sid})
        issued: dict[str, Any] = {"secret": secret} if secret else {}
        if "terminal" in record.data:
            return {"participant_id": pid, "scene": record.data["terminal"], **issued}
        screening = self.experiment.screening
        if screening is not None and record.scene_id is None:  # (their first join: mug.server.sessions.entry)
            out = await entry.screen(self, screening, sid, pid, join.query)
            if out is not None:
                reason, message = out
                first = self.orders.scene_at(pid, 0)
                spec = await self._end_with_code(
                    pid, first, "screened_out", "Thank you for your interest", message,
                    screening.screen_out_redirect_url, send=False, excluded=f"screening: {reason}",
                )  # fmt: skip
                return {"participant_id": pid, "scene": spec, **issued}
        pings = self.entry_pings.pings_to_ask(pid, record.data)  # (screening by round trip)
        if pings:
            issued["measure_pings"] = pings
        index = min(record.scene_index, self.orders.count(pid) - 1)
        # (A first join entered the first scene on the database thread: the record read before says none.)
        self.scene_of[pid] = self.orders.scene_at(pid, index).scene_id
        if not entered and (record.scene_id is None or record.status == "active"):
            await self._enter(pid, index)
        interrupted = record.data.get("interrupted_game")
        if interrupted:
            spec = await self.interruptions.tell(pid, index, interrupted, join.seen)
            if spec is not None:
                return {"participant_id": pid, "scene": spec, "preload_runtime": False, **issued}
        game = self._game(pid)
        if game is not None:
            if self.relay is not None and not isinstance(game, LinkedGame) and self.relay.is_remote(pid):
                self.relay.back_here(pid, game.game_id)  # (they played it from another server)
            await self.sio.enter_room(sid, game_room(game.game_id))
            game.connection_restored(pid)
        await self.p2p.connection_restored(pid)
        # The page starts loading the browser runtime early when a client-side scene lies ahead.
        ahead = self.orders.ahead(pid, index)
        preload = any(isinstance(s, GymScene) and s.runs_in_browser for s in ahead)
        spec = await self.scene_spec(pid, index)
        return {"participant_id": pid, "scene": spec, "preload_runtime": preload, **issued}

    def _admit(self, pid: str, join: Join, now: float) -> tuple[ParticipantRecord, binding.Decision, str | None, bool]:
        """On the database thread, a join's store work in one go: (record, decision, new secret, entered).

        Gets or creates the participant, applies the binding rule (`mug.server.sessions.binding`), and
        re-enters the participant's scene unless it is an end scene (`_enter` does those). One
        hand-over to the database thread instead of four: a crowd of joins costs the loop less.
        """
        record = self.store.get_or_create_participant(pid, join.query, now)
        decision = binding.decide(record.secret_hash, join.secret, self.experiment.allow_device_switch)
        if not decision.allowed:
            return record, decision, None, False
        secret = decision.bind if decision.issued else None
        if decision.bind is not None:
            self.store.bind_secret(pid, binding.digest(decision.bind), now)
        self.orders.remember(pid, record.data)
        if self.orders.needs_order(pid, record.scene_index):
            self.orders.assign(self.store, pid)
        index = min(record.scene_index, self.orders.count(pid) - 1)
        scene = self.orders.scene_at(pid, index)
        enter = "terminal" not in record.data and (record.scene_id is None or record.status == "active")
        if enter and not isinstance(scene, EndScene):
            self.store.enter_scene(pid, index, scene.scene_id or "", scene.scene_type, now)
            return record, decision, secret, True
        return record, decision, secret, False

    async def disconnect(self, sid: str) -> None:
        conn = self.by_sid.pop(sid, None)
        if conn is None:
            return
        pid = conn.participant_id
        self.writer.event(pid, None, "disconnect", {"sid": sid})
        if self.sid_of.get(pid) != sid:
            return  # an older page of a participant who has a newer one
        del self.sid_of[pid]
        if self.presence is not None:
            await self.presence.leave(pid, sid)
        self.rtt_ms.pop(pid, None)
        self.scene_of.pop(pid, None)
        game = self._game(pid)
        if game is not None:
            game.connection_lost(pid)
        await self.p2p.connection_lost(pid)
        await self.matching.leave(pid)
        self.watch.forget(pid)

    def participant_of(self, sid: str) -> str:
        conn = self.by_sid.get(sid)
        if conn is None:
            raise ProtocolError("send 'join' first")
        return conn.participant_id

    def mark_active(self, pid: str) -> None:
        """The participant did something (moved on, started a game, sent records): they count in the data."""
        if pid not in self.active:
            self.active.add(pid)
            self.writer.submit(self.store.mark_active, pid, time.time())

    # -- scene flow ------------------------------------------------------------------------

    async def current(self, pid: str) -> tuple[int, Scene]:
        record = await self.record(pid)
        if "terminal" in record.data:
            raise ProtocolError("this participant has finished the experiment")
        self.orders.remember(pid, record.data)
        index = min(record.scene_index, self.orders.count(pid) - 1)
        return index, self.orders.scene_at(pid, index)

    async def record(self, pid: str) -> ParticipantRecord:
        """The participant's stored record (they have one: they joined)."""
        record = await self.writer.call(self.store.get_participant, pid)
        assert record is not None, pid
        return record

    async def advance(self, sid: str, advance: Advance) -> dict[str, Any]:
        pid = self.participant_of(sid)
        index, scene = await self.current(pid)
        if advance.scene_id != scene.scene_id:
            raise ProtocolError(
                f"'advance' is for scene {advance.scene_id!r} but the participant is in {scene.scene_id!r}"
            )
        if isinstance(scene, EndScene):
            raise ProtocolError(f"scene {scene.scene_id!r} is the end of the experiment")
        self.mark_active(pid)
        if isinstance(scene, GymScene):
            if not scene.runs_in_browser:
                raise ProtocolError(f"scene {scene.scene_id!r} moves on by itself when its game ends")
            if await self.browser_games.end(pid, scene, advance) == "error":
                self.notices[pid] = GAME_ERROR
        answers = advance.answers
        if isinstance(scene, SurveyScene):
            try:  # (the page checks too; a page that did not is refused, and stays in the scene)
                answers = scene.clean_answers(answers)
            except AnswerError as exc:
                raise ProtocolError(f"cannot continue: {exc}") from None
        if isinstance(scene, StaticScene) and answers:
            # The server's clock and the scene the participant is in: a page cannot date or place a form.
            await self.writer.call(self.store.add_form, pid, scene.scene_id or "", answers, time.time())
        return {"scene": await self.go_to(pid, index + 1)}

    async def go_to(self, pid: str, index: int) -> dict[str, Any]:
        """Enter scene `index` and return its spec; past the last scene the participant has finished."""
        await self._ensure_order(pid, index)
        if index < self.orders.count(pid):
            await self._enter(pid, index)
            return await self.scene_spec(pid, index)
        # An experiment need not end with an end scene: after its last scene the participant is done.
        now = time.time()
        spec = {
            "scene_id": "finished",
            "scene_type": "end",
            "index": self.orders.count(pid),
            "count": self.orders.count(pid),
            "header": "Thank you!",
            "body": "<p>You have finished. You may close this page.</p>",
            "continue": None,
            "redirect_url": None,
        }
        self.scene_of[pid] = None
        await self.writer.call(self.store.complete_participant, pid, None, now)
        await self.writer.call(self.store.update_participant_data, pid, {"terminal": spec}, now)
        return spec

    async def _ensure_order(self, pid: str, index: int) -> None:
        """Draw the participant's scene order if position `index` depends on it and it is not drawn yet."""
        if self.orders.needs_order(pid, index):
            await self.writer.call(self.orders.assign, self.store, pid)

    async def _enter(self, pid: str, index: int) -> None:
        scene = self.orders.scene_at(pid, index)
        self.scene_of[pid] = scene.scene_id
        now = time.time()
        await self.writer.call(self.store.enter_scene, pid, index, scene.scene_id or "", scene.scene_type, now)
        if isinstance(scene, EndScene):
            record = await self.record(pid)
            if record.status != "completed":
                code = _completion_code() if isinstance(scene, CompletionCodeScene) else None
                await self.writer.call(self.store.complete_participant, pid, code, now)

    async def scene_spec(self, pid: str, index: int) -> dict[str, Any]:
        scene = self.orders.scene_at(pid, index)
        spec = {**scene.client_spec(), "index": index, "count": self.orders.count(pid)}
        if isinstance(scene, GymScene) and scene.is_p2p:
            spec["game"] = self.p2p.current(pid, scene)  # (a page that comes back plays on)
        elif isinstance(scene, GymScene) and scene.runs_in_browser:
            spec["game"] = await self.browser_games.current(pid, scene)
        elif isinstance(scene, GymScene):
            game = self._game(pid)
            on = game is not None and game.scene.scene_id == scene.scene_id
            spec["game"] = self.game_pages.add(scene, pid, game.snapshot(pid)) if game and on else None
        if isinstance(scene, CompletionCodeScene):
            record = await self.record(pid)
            spec["completion_code"] = record.completion_code
        if spec.get("redirect_url"):  # (its placeholders filled in for this participant: mug.scenes.redirects)
            record = await self.record(pid)
            spec["redirect_url"] = fill_redirect(
                spec["redirect_url"], participant_id=pid, code=spec.get("completion_code"), query=record.query
            )
        notice = self.notices.pop(pid, None)
        if notice:
            spec["notice"] = notice
        return spec

    async def move_on(self, pid: str, scene: Scene) -> None:
        """Send a participant who is still in `scene` to the next scene."""
        record = await self.writer.call(self.store.get_participant, pid)
        if record is None or "terminal" in record.data:
            return
        self.orders.remember(pid, record.data)
        index = min(record.scene_index, self.orders.count(pid) - 1)
        if self.orders.scene_at(pid, index).scene_id != scene.scene_id:
            return
        await self._send(pid, "scene", await self.go_to(pid, index + 1))

    async def _end_with_code(
        self,
        pid: str,
        scene: Scene,
        reason: str,
        header: str,
        message: str,
        redirect_url: str | None = None,
        *,
        send: bool = True,
        excluded: str | None = None,
    ) -> dict[str, Any]:
        """End the experiment for a participant early, with a message and a recorded completion code.

        ``excluded``: the participant is excluded for this reason (status ``excluded``, not
        ``completed``). A participant whose study has ended already keeps that ending (its spec is
        returned, and sent again): the first ending, e.g. an exclusion, is the one that counts.
        """
        record = await self.writer.call(self.store.get_participant, pid)
        if record is not None and "terminal" in record.data:
            if send:
                await self._send(pid, "scene", record.data["terminal"])
            return dict(record.data["terminal"])
        code = _completion_code()
        now = time.time()
        # (The platform link this participant is sent to, with their code: mug.scenes.redirects.)
        query = record.query if record is not None else {}
        url = fill_redirect(redirect_url, participant_id=pid, code=code, query=query) if redirect_url else None
        spec = {
            "scene_id": f"{scene.scene_id}.ended",
            "scene_type": "completion_code",
            "index": self.orders.count(pid) - 1,
            "count": self.orders.count(pid),
            "header": header,
            "body": f"<p>{html.escape(message)}</p>",
            "continue": None,
            "completion_code": code,
            "redirect_url": url,
            "append_subject_id": False,
            "redirect_param": "participant",
            "ended": reason,
        }
        if excluded is not None:
            await self.writer.call(self.store.exclude_participant, pid, excluded, now, code)
        else:
            await self.writer.call(self.store.complete_participant, pid, code, now)
        await self.writer.call(self.store.update_participant_data, pid, {"terminal": spec}, now)
        if pid in self.scene_of:  # (connected)
            self.scene_of[pid] = None
        self.writer.event(pid, scene.scene_id, "ended_early", {"reason": reason, "completion_code": code})
        if send:
            await self._send(pid, "scene", spec)
        return spec

    # -- games -----------------------------------------------------------------------------

    def _game(self, pid: str) -> GameHandle | None:
        game_id = self.game_of.get(pid)
        return self.games.get(game_id) if game_id else None

    async def start_game(self, sid: str, scene_id: str) -> dict[str, Any]:
        pid = self.participant_of(sid)
        if self.closing:
            raise ProtocolError("the server is stopping; try again in a moment")
        _, scene = await self.current(pid)
        if scene.scene_id != scene_id or not isinstance(scene, GymScene):
            raise ProtocolError(f"cannot start a game in {scene_id!r}: the participant is in {scene.scene_id!r}")
        self.mark_active(pid)
        if scene.is_p2p:
            running = await self.p2p.rejoin(pid, scene)
            if running is not None:  # (a reloaded page: the same game, `rejoin: true`)
                return {"game": running}
        elif scene.runs_in_browser:
            return {"game": await self.browser_games.start(pid, scene)}
        game = self._game(pid)
        if game is not None and game.scene.scene_id == scene.scene_id:  # (a filled-in game's scene is a copy)
            return {"game": self.game_pages.add(scene, pid, game.snapshot(pid))}
        if scene.multiplayer_options is None:
            humans = scene.human_agents
            game = await self.server_games.new_game(scene, {humans[0] if humans else "__viewer__": pid})
            return {"game": self.game_pages.add(scene, pid, game.snapshot(pid))}
        return await self.matching.enter(pid, scene)

    def game_of_participant(self, pid: str) -> GameHandle | None:
        """The server-run game the participant plays in, if any."""
        return self._game(pid)

    # -- client-side games (the env runs in the browser; the server records: mug.server.sessions.browser_games)

    async def client_records(self, sid: str, batch: ClientRecords) -> dict[str, Any]:
        """Commit a batch from the page's outbox; the reply acknowledges what is committed."""
        pid = self.participant_of(sid)
        reply = await self.browser_games.records(pid, batch)
        if reply.get("committed"):
            self.mark_active(pid)
        return reply

    def action(self, sid: str, scene_id: str, action: Any) -> None:
        pid = self.participant_of(sid)
        game = self._game(pid)
        if game is None or game.scene.scene_id != scene_id or game.status in ("done", "error"):
            raise ProtocolError(f"no running game in scene {scene_id!r} for this participant")
        problem = game.submit_action(pid, action)
        if problem:
            raise ProtocolError(problem)

    # -- waitrooms (mug.server.sessions.matching) ----------------------------------------------

    async def waitroom_timed_out(self, pid: str, scene: GymScene) -> None:
        """Nobody was matched with `pid` in time: the waitroom's timeout scene, or the end with a code."""
        opts = scene.effective_waitroom()
        await self._ensure_order(pid, self.orders.flow.prefix)
        index = None if opts.timeout_scene_id is None else self.orders.position(pid, opts.timeout_scene_id)
        if index is not None:
            self.notices[pid] = opts.timeout_message
            await self._send(pid, "scene", await self.go_to(pid, index))
        else:
            await self._end_with_code(
                pid, scene, "waitroom_timeout", "No partner found", opts.timeout_message, opts.timeout_redirect_url
            )

    # -- plumbing --------------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run `coro` on the server loop, kept until it ends (for timers of other parts)."""
        self._spawn(coro)

    async def send_to(self, pid: str, event: str, payload: dict[str, Any]) -> None:
        """Send an event to every page of one participant (encoded once)."""
        await self.sio.broadcast(event, payload, room=participant_room(pid))

    async def end_with_code(
        self,
        pid: str,
        scene: Scene,
        reason: str,
        header: str,
        message: str,
        *,
        send: bool = True,
        excluded: str | None = None,
    ) -> dict[str, Any]:
        """End the experiment for `pid` early with a message and a recorded completion code (the spec);
        ``excluded``: as an exclusion, for this reason."""
        return await self._end_with_code(pid, scene, reason, header, message, send=send, excluded=excluded)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _send(self, pid: str, event: str, payload: dict[str, Any]) -> None:
        await self.sio.emit(event, payload, room=participant_room(pid))

    async def shutdown(self) -> None:
        self.closing = True
        self.matching.shutdown()
        self.watch.stop()
        self.p2p.shutdown()
        cut = list(self.games.values())
        for game in cut:
            await game.cancel()
        self.games.clear()
        await self.interruptions.note_stopped(cut)
        if self.processes is not None:
            await self.processes.stop()
        await self.recorder.close()
        self.executor.shutdown(wait=True, cancel_futures=True)

    async def close(self) -> None:
        """After `shutdown` and the last disconnect: write what is counted, then stop the database thread."""
        for task in list(self._background):  # (timers and follow-ups of the ended games: no longer due)
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self.refusals.close()
        await self.writer.drain()
        self.writer.close()

    def _choose_id(self, join: Join) -> str:
        for name in ID_PARAMS:
            value = join.query.get(name)
            if value:
                if not PARTICIPANT_ID.match(value):
                    raise ProtocolError(f"query parameter {name!r} is not a valid participant id")
                return value
        return join.participant_id or uuid.uuid4().hex


def _completion_code() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(10))
