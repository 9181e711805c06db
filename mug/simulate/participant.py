"""One simulated participant: a Socket.IO client that goes through a study as a participant page does.

It speaks the page's protocol (docs/protocol.md) to the real server: ``join`` with the session
secret it keeps (as a browser keeps its own), ``advance`` with answers made from the scene's form
(`mug.simulate.answers`), ``start_game`` and the waitroom, ``action`` for each frame of a
server-run game (chosen by its policy, `mug.simulate.actions`), and for a client-side game the
env run here with its records sent through ``client_records`` (`mug.simulate.browser_game`); for
a P2P game the same, its inputs exchanged with its partners through the server's relay in lockstep
(`mug.simulate.p2p_game`). It never reaches into the server: what it learns comes in the server's
messages.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import socketio

from mug.experiment import Experiment
from mug.scenes import GymScene
from mug.simulate.actions import SimulatedPlayer, policy_for_scene
from mug.simulate.answers import form_answers, survey_answers
from mug.simulate.browser_game import BrowserGameError, Outbox, play_browser_game
from mug.simulate.p2p_game import P2PLink, play_p2p_game

__all__ = ["ParticipantOutcome", "SimulatedParticipant", "SimulationProblem"]

#: How long one request may wait for the server's acknowledgement (seconds).
REQUEST_TIMEOUT_S = 30.0


@dataclass
class ParticipantOutcome:
    """How one simulated participant's study went.

    ``status``: ``completed`` (reached the end), ``ended_early`` (the study ended for them with a
    completion code, ``reason`` says why: ``waitroom_timeout``, ``partner_left``, ``dropped``...),
    ``error`` (something failed, ``reason`` says what) or ``unfinished`` (still going when the
    simulation's time ran out; ``reason`` says where).
    """

    participant_id: str
    status: str = "unfinished"
    reason: str | None = None
    scenes: list[str] = field(default_factory=list)
    completion_code: str | None = None
    errors: list[str] = field(default_factory=list)
    steps: int = 0
    duration_s: float = 0.0

    @property
    def scene_id(self) -> str | None:
        """The last scene the participant was in."""
        return self.scenes[-1] if self.scenes else None


class SimulationProblem(Exception):
    """Something a simulated participant met that stops it (the message says what and where)."""


class SimulatedParticipant:
    """Goes through the experiment served at ``url`` as participant ``participant_id``."""

    def __init__(
        self,
        experiment: Experiment,
        url: str,
        participant_id: str,
        secret: str,
        *,
        policy: Any,
        realtime: bool,
        rng: random.Random,
        query: dict[str, str] | None = None,
        observe: Callable[[str, str], tuple[bool, Any]] | None = None,
    ) -> None:
        self.experiment = experiment
        self.url = url
        self.secret = secret
        self.policy = policy
        self.realtime = realtime
        self.rng = rng
        self.query = dict(query or {})
        self.observe = observe  # (game_id, agent_id) -> (game running, the agent's observation): server-run games
        self.outcome = ParticipantOutcome(participant_id)
        self._scenes = {s.scene_id: s for s in experiment.scenes}
        self._inbox: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._client = socketio.AsyncClient(reconnection=False)
        self._waiting = False
        self._errors_seen: set[str] = set()
        #: P2P games' links by game id (made at the first relayed packet or when the game starts).
        self._links: dict[str, P2PLink] = {}
        self._client.on("p2p_relay", self._on_relay)
        self._client.on("p2p_peer_left", self._on_peer_left)
        self._client.on("p2p_probe", self._on_probe)
        for event in ("scene", "frame", "game_status", "waitroom", "matched", "session_replaced"):
            self._client.on(event, self._receiver(event))
        self._client.on("error", self._on_error)

    @property
    def participant_id(self) -> str:
        return self.outcome.participant_id

    def _receiver(self, event: str) -> Callable[[Any], Any]:
        async def receive(payload: Any = None) -> None:
            self._inbox.put_nowait((event, payload))

        return receive

    def _link(self, game_id: Any) -> P2PLink | None:
        if not isinstance(game_id, str) or len(game_id) < 8:
            return None
        link = self._links.get(game_id)
        if link is None:
            try:
                link = self._links[game_id] = P2PLink(game_id)
            except ValueError:
                return None
        return link

    async def _on_relay(self, payload: Any = None) -> None:
        # (A partner's packets may come before this page has read its own `matched`: kept for the game.)
        link = self._link(payload.get("game_id") if isinstance(payload, dict) else None)
        if link is not None:
            link.relayed(payload)

    async def _on_peer_left(self, payload: Any = None) -> None:
        link = self._link(payload.get("game_id") if isinstance(payload, dict) else None)
        if link is not None:
            link.peer_left(payload)

    async def _on_probe(self, payload: Any = None) -> None:
        """A proposed P2P group measures its DataChannels (a matchmaker's ``max_p2p_rtt_ms``): a
        simulated page has none, and says so at once (the server dissolves the group, as for pages
        that cannot connect)."""
        if not isinstance(payload, dict) or not isinstance(payload.get("peers"), list):
            return
        me = payload.get("peer")
        peers = [{"peer": p, "rtt_ms": None} for p in payload["peers"] if p != me]
        self._note(
            f"scene {payload.get('scene_id')!r}: its matchmaker's max_p2p_rtt_ms makes the server measure the "
            "pages' DataChannels, which simulated participants do not have: they are never grouped there"
        )
        await self._client.emit("p2p_probe_result", {"game_id": payload.get("probe_id"), "peers": peers})

    async def _on_error(self, payload: Any = None) -> None:
        message = payload.get("message") if isinstance(payload, dict) else str(payload)
        event = payload.get("event") if isinstance(payload, dict) else None
        if event == "action" and "no running game" in str(message):
            return  # (an action that crossed the game's end on the way: a page's do too, and nothing is lost)
        self._note(f"the server refused '{event}': {message}" if event else f"server error: {message}")

    def _note(self, message: str) -> None:
        if message not in self._errors_seen and len(self.outcome.errors) < 20:
            self._errors_seen.add(message)
            self.outcome.errors.append(message)

    async def _call(self, event: str, payload: dict[str, Any]) -> Any:
        try:
            return await self._client.call(event, payload, timeout=REQUEST_TIMEOUT_S)
        except socketio.exceptions.TimeoutError:
            raise SimulationProblem(f"the server did not answer '{event}' within {REQUEST_TIMEOUT_S:g} s") from None

    async def _request(self, event: str, payload: dict[str, Any]) -> dict[str, Any]:
        reply = await self._call(event, payload)
        if not isinstance(reply, dict) or reply.get("ok") is False:
            error = reply.get("error") if isinstance(reply, dict) else reply
            raise SimulationProblem(f"the server refused '{event}' in scene {self.outcome.scene_id!r}: {error}")
        return reply

    # -- the study -------------------------------------------------------------------------

    async def run(self, deadline: float) -> ParticipantOutcome:
        """Go through the study until its end (or ``deadline``, a ``time.monotonic()``); never raises."""
        started = time.monotonic()
        pinger: asyncio.Task[None] | None = None
        try:
            await self._client.connect(self.url, transports=["websocket"], socketio_path="socket.io")
            pinger = asyncio.get_running_loop().create_task(self._ping())
            await asyncio.wait_for(self._go(), timeout=max(0.1, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            where = self.outcome.scene_id
            doing = "waiting in its waitroom" if self._waiting else "still in it"
            self.outcome.status, self.outcome.reason = "unfinished", f"time ran out in scene {where!r} ({doing})"
        except SimulationProblem as exc:
            self.outcome.status, self.outcome.reason = "error", str(exc)
        except Exception as exc:  # a failure of the simulator itself is reported, not raised
            self.outcome.status, self.outcome.reason = "error", f"{type(exc).__name__}: {exc}"
        finally:
            if pinger is not None:
                pinger.cancel()
            if self._client.connected:
                await self._client.disconnect()
            self.outcome.duration_s = time.monotonic() - started
        return self.outcome

    async def _go(self) -> None:
        reply = await self._request(
            "join", {"query": {**self.query, "participant": self.participant_id}, "secret": self.secret}
        )
        scene: dict[str, Any] = reply["scene"]
        while True:
            self.outcome.scenes.append(str(scene.get("scene_id")))
            if scene.get("notice"):  # (e.g. a game that stopped with an error)
                self._note(f"scene {scene.get('scene_id')!r} came with the notice: {scene['notice']}")
            kind = scene.get("scene_type")
            if kind in ("end", "completion_code"):
                self.outcome.completion_code = scene.get("completion_code")
                if scene.get("ended"):
                    self.outcome.status, self.outcome.reason = "ended_early", str(scene["ended"])
                else:
                    self.outcome.status = "completed"
                return
            if kind == "gym":
                scene = await self._game(scene)
            else:
                scene = await self._page(scene)

    async def _pushed_scene(self) -> dict[str, Any] | None:
        """A scene the server sent by itself (the study ended early, an exclusion), if one came."""
        found = None
        while not self._inbox.empty():
            event, payload = self._inbox.get_nowait()
            if event == "scene":
                found = payload
            elif event == "session_replaced":
                raise SimulationProblem(f"the session was opened elsewhere: {payload}")
        return found

    async def _page(self, scene: dict[str, Any]) -> dict[str, Any]:
        if self.realtime:  # reading the page
            await asyncio.sleep(self.rng.uniform(1.0, 4.0))
        pushed = await self._pushed_scene()
        if pushed is not None:
            return pushed
        if isinstance(scene.get("survey"), list):
            answers = survey_answers(scene["survey"], self.rng)
        else:
            answers = form_answers(str(scene.get("body") or ""), self.rng)
        payload: dict[str, Any] = {"scene_id": scene["scene_id"]}
        if answers:
            payload["answers"] = answers
        return (await self._request("advance", payload))["scene"]

    def _scene_object(self, spec: dict[str, Any]) -> GymScene:
        scene = self._scenes.get(spec["scene_id"])
        if not isinstance(scene, GymScene):
            raise SimulationProblem(f"the server showed game scene {spec['scene_id']!r}, which this experiment lacks")
        return scene

    async def _game(self, spec: dict[str, Any]) -> dict[str, Any]:
        scene = self._scene_object(spec)
        if scene.is_p2p:
            return await self._p2p_game(scene, spec)
        if scene.runs_in_browser:
            return await self._browser_game(scene, spec)
        return await self._server_game(scene, spec)

    def _player(self, scene: GymScene, agent_id: str | None) -> SimulatedPlayer | None:
        if agent_id is None:
            return None
        spec = policy_for_scene(self.policy, scene.scene_id or "")
        return SimulatedPlayer(spec, scene, agent_id, self.rng)

    async def _browser_game(
        self, scene: GymScene, spec: dict[str, Any], game: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        if game is None:
            reply = await self._request("start_game", {"scene_id": spec["scene_id"]})
            game = reply.get("game")
        if not isinstance(game, dict):
            raise SimulationProblem(f"start_game in client-side scene {spec['scene_id']!r} gave no game: {game}")
        human = scene.human_agents[0] if scene.human_agents else None
        outbox = Outbox(self._call, self._note)
        outcome = "done"
        try:
            self.outcome.steps += await play_browser_game(
                scene=scene,
                spec=spec,
                game=game,
                participant_id=self.participant_id,
                player=self._player(scene, human),
                outbox=outbox,
                realtime=self.realtime,
            )
        except BrowserGameError as exc:
            outcome = "error"
            self._note(f"client-side game in scene {spec['scene_id']!r}: {exc}")
        await outbox.flush()
        payload = {"scene_id": spec["scene_id"], "game_id": game["game_id"], "outcome": outcome}
        return (await self._request("advance", payload))["scene"]

    async def _matched(self, scene_id: str) -> dict[str, Any]:
        """``start_game``, then the waitroom: the game once a group is formed (``matched``), or the
        scene the server moved the participant to (the wait ended): ``{"game": ...}`` or ``{"scene": ...}``."""
        reply = await self._request("start_game", {"scene_id": scene_id})
        game: dict[str, Any] | None = reply.get("game")
        self._waiting = game is None
        try:
            while game is None:  # the waitroom: until a group is formed (matched) or the wait ends (scene)
                event, payload = await self._inbox.get()
                if event == "matched" and isinstance(payload, dict) and payload.get("scene_id") == scene_id:
                    game = payload
                elif event == "scene":
                    return {"scene": payload}
                elif event == "session_replaced":
                    raise SimulationProblem(f"the session was opened elsewhere: {payload}")
        finally:
            self._waiting = False
        return {"game": game}

    async def _p2p_game(self, scene: GymScene, spec: dict[str, Any]) -> dict[str, Any]:
        """A P2P scene: the waitroom, then this peer's part of the game in lockstep through the relay
        (or, when the waitroom's ``timeout_policy`` fills in, a client-side game alone)."""
        scene_id = spec["scene_id"]
        found = await self._matched(scene_id)
        if "scene" in found:
            return found["scene"]
        game = found["game"]
        if game.get("mode") == "client":  # the AI fill-in: this page plays alone, the policy in the others' place
            filled = scene.filled_in({scene.human_agents[0]: self.participant_id})
            runtime = {**(spec.get("runtime") or {}), "policies": game.get("policies")}
            return await self._browser_game(filled, {**spec, "runtime": runtime}, game)
        if game.get("mode") != "p2p":
            raise SimulationProblem(f"the server sent a game of mode {game.get('mode')!r} for P2P scene {scene_id!r}")
        link = self._link(game.get("game_id"))
        if link is None:
            raise SimulationProblem(f"the server sent P2P game id {game.get('game_id')!r}, which names no game")
        outbox = Outbox(self._call, self._note)
        outcome = "done"
        try:
            ended, steps = await play_p2p_game(
                scene=scene,
                spec=spec,
                game=game,
                participant_id=self.participant_id,
                player=self._player(scene, game.get("agent_id")),
                outbox=outbox,
                link=link,
                emit=self._client.emit,
                realtime=self.realtime,
            )
            self.outcome.steps += steps
        except BrowserGameError as exc:
            ended, outcome = "error", "error"
            self._note(f"P2P game in scene {scene_id!r}: {exc}")
        await outbox.flush()
        self._links.pop(game["game_id"], None)
        if ended == "stopped":  # the server ended the game (a partner left): its scene follows
            while True:
                event, payload = await self._inbox.get()
                if event == "scene":
                    return payload
                if event == "session_replaced":
                    raise SimulationProblem(f"the session was opened elsewhere: {payload}")
        payload = {"scene_id": scene_id, "game_id": game["game_id"], "outcome": outcome}
        return (await self._request("advance", payload))["scene"]

    async def _server_game(self, scene: GymScene, spec: dict[str, Any]) -> dict[str, Any]:
        scene_id = spec["scene_id"]
        found = await self._matched(scene_id)
        if "scene" in found:
            return found["scene"]
        game: dict[str, Any] = found["game"]
        game_id = game.get("game_id")
        agent_id = game.get("agent_id")
        player = self._player(scene, agent_id)
        held: Any = scene.default_action
        episode = None
        single = scene.input_mode == "single_keystroke"
        over = False
        while True:
            events = [await self._inbox.get()]
            while not self._inbox.empty():  # behind: act on the newest frame only, as a page shows the latest
                events.append(self._inbox.get_nowait())
            frame = None
            for event, payload in events:
                if event == "scene":
                    return payload
                if event == "session_replaced":
                    raise SimulationProblem(f"the session was opened elsewhere: {payload}")
                if event == "game_status" and isinstance(payload, dict) and payload.get("status") in ("done", "error"):
                    over = True
                    if payload.get("status") == "error":
                        self._note(f"the game in scene {scene_id!r} stopped with an error: {payload.get('message')}")
                if event == "frame" and isinstance(payload, dict) and payload.get("game_id") == game_id:
                    frame = payload
            if frame is None or player is None or over:
                continue
            if frame.get("episode") != episode:
                episode = frame.get("episode")
                player.reset(None)
            self.outcome.steps += 1
            observation = None
            if self.observe is not None and player.needs_observation:
                running, observation = self.observe(game_id, player.agent_id)
                if not running:
                    continue
            try:
                action = player.act(observation)
            except Exception as exc:
                raise SimulationProblem(f"the policy failed in scene {scene_id!r}: {exc}") from exc
            if single or action != held:
                held = action
                await self._client.emit("action", {"scene_id": scene_id, "action": action})

    async def _ping(self) -> None:
        """Ping like a page: every 3 s, twice a second in a waitroom (latency matchmakers use it)."""
        rtt: float | None = None
        while self._client.connected:
            sent = time.perf_counter()
            try:
                await self._client.call("ping", {"t": time.time() * 1000.0, "rtt": rtt}, timeout=10)
                rtt = (time.perf_counter() - sent) * 1000.0
            except Exception:
                return
            await asyncio.sleep(0.5 if self._waiting else 3.0)
