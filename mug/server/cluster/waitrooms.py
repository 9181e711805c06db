"""One waitroom per multiplayer scene across the servers: participants of any server are matched together.

A scene's waitroom is run by one server at a time, its home: the server holding the lease
``waitroom/<scene>`` in the shared state, which it renews while it lives (a server that dies
loses it within `mug.server.cluster.members.SILENT_S` seconds, and the next participant to arrive
makes their own server the home). A participant who starts the scene on another server waits at
the home through their own server:

============  ======================  ================================================================
message       from → to               what it does
============  ======================  ================================================================
``wait``      player's → home         queue this participant (the home reads their group history,
                                      link and answers from the shared store, as for its own)
``unwait``    player's → home         their page went away: out of the queue
``timed_out`` home → player's         nobody was matched with them in time: their server applies the
                                      scene's timeout (AI fill-in, timeout scene or the end)
``play``      home → game's server    this group plays on you (members, where each is connected, the
                                      game's id): start its game; members elsewhere play through theirs
``placed``    game's server → home    the game started (or ``failed``, and why)
============  ======================  ================================================================

A group whose game did not start where it was placed (that server failed to start it, or went
silent before saying it had) waits again: its members still connected to live servers are queued
anew and told (``waitroom_requeued`` event), instead of waiting for a game that never comes.

The home's matchmaker sees every waiting participant. A group's game runs on the server most of
its members are connected to (frames to the others cross the bus); between servers with as many,
on the one running fewest games (as each announces with its heartbeat, plus those the home placed
since): so games spread over the servers instead of all running on the waitroom's home, and a
group whose members all came through one server plays there without the bus. Members connected
to another server than the game's play through their own (`mug.server.cluster.relay`: the
game's server links them to it). The waitroom's messages to the pages (how many wait, the countdown) reach them through
their servers as a game's frames do. A peer-to-peer group's game is kept on the server placed the
same way, its peers on other servers play through stand-ins there (`mug.server.cluster.p2p_links`,
which also passes on the messages of pages measuring their round trips in a probe at the home).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mug.scenes.gym import GymScene
from mug.server.cluster import members
from mug.server.cluster.state import StateError
from mug.server.web.rooms import participant_room

if TYPE_CHECKING:
    from mug.server.cluster.relay import Relay
    from mug.server.cluster.state import SharedState
    from mug.server.sessions.matching import Matching

__all__ = ["SharedWaitrooms"]

log = logging.getLogger("mug.server.cluster.waitrooms")

#: Seconds a home remembers a game it placed on another server without an answer (then it counts as started).
PLACED_KEPT_S = 60.0


@dataclass
class _Placed:
    """A game a waitroom's home placed on another server, until that server says it started."""

    host: str
    scene_id: str
    servers: dict[str, str]  # member -> the server their page is connected to
    since: float  # monotonic time of the placement


class SharedWaitrooms:
    """This server's part in the experiment's shared waitrooms: as a scene's home, and as a player's server."""

    def __init__(self, matching: Matching, relay: Relay, state: SharedState) -> None:
        self.matching = matching
        self.relay = relay
        self.state = state
        self.server_id = relay.server_id
        self.homes: set[str] = set()  # the scenes whose waitroom this server runs
        # As a home: participant -> the server they are connected to. As a player's server:
        # participant -> (scene id, the home they wait at).
        self.remote_waiters: dict[str, str] = {}
        self.waiting_elsewhere: dict[str, tuple[str, str]] = {}
        self._task: asyncio.Task[None] | None = None
        self._placed: list[tuple[float, str]] = []  # (when, where): games this home placed lately
        self._pending: dict[str, _Placed] = {}  # games placed on other servers that have not said they started
        relay.handlers.update(
            wait=self._on_wait,
            unwait=self._on_unwait,
            timed_out=self._on_timed_out,
            play=self._on_play,
            placed=self._on_placed,
        )

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._keep())

    async def home(self, scene: GymScene) -> str:
        """The server running the scene's waitroom (this one, if none did)."""
        name = f"waitroom/{scene.scene_id}"
        if await self.state.claim(name, self.server_id, members.SILENT_S):
            self.homes.add(scene.scene_id or "")
            return self.server_id
        holder = await self.state.get(f"lease/{name}")
        return str(holder) if holder else self.server_id

    async def wait_at(self, home: str, pid: str, scene: GymScene) -> dict[str, Any]:
        """Queue ``pid`` at the scene's home; the page's first waitroom status (the home sends the next)."""
        scene_id = scene.scene_id or ""
        self.waiting_elsewhere[pid] = (scene_id, home)
        samples = list(self.matching.rtt_samples.get(pid, ()))
        message = {"t": "wait", "scene": scene_id, "pid": pid, "server": self.server_id, "rtt": samples}
        self.relay.bus.send(home, message)
        opts = scene.effective_waitroom()
        needed = len(scene.human_agents)
        return {"waitroom": {"scene_id": scene_id, "waiting": 1, "needed": needed, "seconds_left": opts.timeout}}

    async def left(self, pid: str) -> None:
        """The participant's page went away while waiting at another server's waitroom."""
        waiting = self.waiting_elsewhere.pop(pid, None)
        if waiting is not None:
            scene_id, home = waiting
            self.relay.bus.send(home, {"t": "unwait", "scene": scene_id, "pid": pid, "server": self.server_id})

    def matched(self, pid: str) -> None:
        """The participant was linked to a game: they wait no more."""
        self.waiting_elsewhere.pop(pid, None)

    # -- at the home -----------------------------------------------------------------------------------

    def _scene(self, scene_id: str) -> GymScene | None:
        try:
            scene = self.matching.sessions.experiment.scenes[self.matching.sessions.experiment.scene_index(scene_id)]
        except (KeyError, ValueError, IndexError):
            return None
        return scene if isinstance(scene, GymScene) else None

    def _on_wait(self, message: dict[str, Any]) -> None:
        scene = self._scene(message.get("scene", ""))
        pid, server = message.get("pid"), message.get("server")
        if scene is None or not isinstance(pid, str) or not isinstance(server, str):
            return
        self.remote_waiters[pid] = server
        self.relay.remote_rooms.setdefault(participant_room(pid), set()).add(server)
        for rtt in message.get("rtt") or []:
            self.matching.note_rtt(pid, rtt)
        self.relay.spawn(self._enter_here(pid, scene))

    async def _enter_here(self, pid: str, scene: GymScene) -> None:
        reply = await self.matching.enter(pid, scene, here=True)
        if "waitroom" in reply:
            await self.matching.sessions.send_to(pid, "waitroom", reply["waitroom"])

    def _on_unwait(self, message: dict[str, Any]) -> None:
        pid = message.get("pid", "")
        if self.remote_waiters.get(pid) != message.get("server"):
            return
        self.forget(pid)
        self.relay.spawn(self.matching.leave(pid))

    def forget(self, pid: str) -> None:
        """A remote waiter is no longer waiting here (they left, timed out or play)."""
        server = self.remote_waiters.pop(pid, None)
        if server is not None and pid not in self.relay.remote:
            self.relay.drop_room(participant_room(pid), server)

    async def play(self, scene: GymScene, members: list[str], waited: dict[str, float]) -> str:
        """A group matched here plays: on this server or the one placed (see the module docstring); its id."""
        servers = {pid: self.remote_waiters.get(pid, self.server_id) for pid in members}
        host = await self._place(servers)
        if host == self.server_id:
            return await self._start(scene, members, waited)
        game_id = uuid.uuid4().hex
        for pid in members:
            self.forget(pid)
        self._pending[game_id] = _Placed(host, scene.scene_id or "", servers, time.monotonic())
        self.relay.bus.send(
            host,
            {
                "t": "play",
                "scene": scene.scene_id,
                "game": game_id,
                "members": members,
                "servers": servers,
                "waited": waited,
                "home": self.server_id,
            },
        )
        return game_id

    async def _place(self, servers: dict[str, str]) -> str:
        """The live server a group's game runs on: most members there, then fewest games, then this one."""
        counts = Counter(servers.values())
        now = time.monotonic()
        self._placed = [(t, s) for t, s in self._placed if now - t < 2 * members.HEARTBEAT_S]
        load: dict[str, int] = {}
        for server in counts:
            if server == self.server_id:
                load[server] = self.matching.sessions.server_games.count()
                continue
            announced = await self.state.get(f"alive/{server}")
            if isinstance(announced, dict):  # (a server that is gone is no place for a game)
                load[server] = int(announced.get("games") or 0) + sum(s == server for _, s in self._placed)
        if not load:
            return self.server_id
        host = min(load, key=lambda s: (-counts[s], load[s], s != self.server_id, s))
        if host != self.server_id:
            self._placed.append((now, host))
        return host

    def _on_play(self, message: dict[str, Any]) -> None:
        scene = self._scene(message.get("scene", ""))
        members_, servers, game_id = message.get("members"), message.get("servers"), message.get("game")
        if (
            scene is None
            or not isinstance(members_, list)
            or not isinstance(servers, dict)
            or not isinstance(game_id, str)
            or set(servers) != set(members_)
        ):
            log.warning("a malformed 'play' message from another server was dropped: %r", message)
            return
        for pid in members_:
            if servers[pid] == self.server_id:
                self.waiting_elsewhere.pop(pid, None)
        elsewhere = {pid: str(server) for pid, server in servers.items() if server != self.server_id}
        waited = message.get("waited") if isinstance(message.get("waited"), dict) else {}
        home = str(message.get("home") or "")
        self.relay.spawn(self._play_here(scene, members_, waited, game_id, elsewhere, home))

    async def _play_here(
        self,
        scene: GymScene,
        group: list[str],
        waited: dict[str, float],
        game_id: str,
        elsewhere: dict[str, str],
        home: str,
    ) -> None:
        reply: dict[str, Any] = {"t": "placed", "game": game_id}
        try:
            await self._start(scene, group, waited, game_id=game_id, elsewhere=elsewhere)
        except Exception as exc:
            log.exception("the game %s placed here by the waitroom's home did not start", game_id)
            reply["failed"] = f"{type(exc).__name__}: {exc}"
        if home:
            self.relay.bus.send(home, reply)

    def _on_placed(self, message: dict[str, Any]) -> None:
        placed = self._pending.pop(str(message.get("game")), None)
        if placed is not None and message.get("failed"):
            log.warning("game %s did not start on %s (%s)", message.get("game"), placed.host, message["failed"])
            self.relay.spawn(self._back_to_waiting(placed))

    async def _back_to_waiting(self, placed: _Placed) -> None:
        """A group's game did not start where it was placed: its members whose pages are still
        connected (to a live server) wait again, with new deadlines, and are told so."""
        scene = self._scene(placed.scene_id)
        if scene is None:
            return
        for pid, server in placed.servers.items():
            if server != self.server_id:
                if server == placed.host or await self.state.get(f"alive/{server}") is None:
                    continue  # (their page was connected to a server that is gone: it comes back anew)
                self.remote_waiters[pid] = server
                self.relay.remote_rooms.setdefault(participant_room(pid), set()).add(server)
            elif pid not in self.matching.sessions.sid_of:
                continue
            self.matching.sessions.writer.event(pid, placed.scene_id, "waitroom_requeued", {"host": placed.host})
            await self._enter_here(pid, scene)

    async def _check_placed(self) -> None:
        """Games placed on a server that went silent before saying they started: their groups wait again."""
        now = time.monotonic()
        for game_id, placed in list(self._pending.items()):
            if now - placed.since < members.SILENT_S:
                continue
            if now - placed.since > PLACED_KEPT_S:  # (its answer was lost: the host is alive, so it started)
                del self._pending[game_id]
            elif await self.state.get(f"alive/{placed.host}") is None:
                del self._pending[game_id]
                log.warning("game %s was placed on %s, which stopped before starting it", game_id, placed.host)
                await self._back_to_waiting(placed)

    async def _start(
        self,
        scene: GymScene,
        group: list[str],
        waited: dict[str, float],
        *,
        game_id: str | None = None,
        elsewhere: dict[str, str] | None = None,
    ) -> str:
        """Start a group's game here: a server-run game, or a P2P game kept here (its id)."""
        sessions = self.matching.sessions
        if elsewhere is None:  # (matched here: the members who waited through their own servers)
            elsewhere = {p: s for p in group if (s := self.remote_waiters.get(p))}
        if not scene.is_p2p:
            return await sessions.server_games.start_group(scene, group, waited, game_id=game_id, elsewhere=elsewhere)
        for pid in elsewhere:
            self.forget(pid)  # (the game's links route to their pages from now on: mug.server.cluster.p2p_links)
        return await sessions.p2p.start_group(scene, group, waited, game_id=game_id, elsewhere=elsewhere)

    def timed_out_elsewhere(self, pid: str, scene: GymScene) -> bool:
        """A remote waiter's time ran out here: their server applies the timeout. Whether they were remote."""
        server = self.remote_waiters.get(pid)
        if server is None:
            return False
        self.forget(pid)
        self.relay.bus.send(server, {"t": "timed_out", "scene": scene.scene_id, "pid": pid})
        return True

    # -- at a player's server -------------------------------------------------------------------------

    def _on_timed_out(self, message: dict[str, Any]) -> None:
        pid = message.get("pid", "")
        scene = self._scene(message.get("scene", ""))
        if scene is None or self.waiting_elsewhere.pop(pid, None) is None:
            return
        self.relay.spawn(self.matching.timed_out(scene, pid))

    async def _keep(self) -> None:
        """Renew the leases of the waitrooms run here; re-queue whoever waited at a home that is gone."""
        while True:
            await asyncio.sleep(members.HEARTBEAT_S)
            try:
                for scene_id in list(self.homes):
                    if not await self.state.claim(f"waitroom/{scene_id}", self.server_id, members.SILENT_S):
                        self.homes.discard(scene_id)
                await self._check_placed()
                homes = {home for _, home in self.waiting_elsewhere.values()}
                for home in homes:
                    if await self.state.get(f"alive/{home}") is None:
                        await self._requeue(home)
            except asyncio.CancelledError:
                raise
            except StateError as exc:
                log.warning("shared waitrooms: %s", exc)
            except Exception:
                log.exception("shared waitrooms: keeping the leases failed")

    async def _requeue(self, home: str) -> None:
        """The home of some waiting participants here is gone: they wait at the scene's new home."""
        for pid, (scene_id, at) in list(self.waiting_elsewhere.items()):
            scene = self._scene(scene_id)
            if at != home or scene is None:
                continue
            del self.waiting_elsewhere[pid]
            reply = await self.matching.enter(pid, scene)
            if "waitroom" in reply:
                await self.matching.sessions.send_to(pid, "waitroom", reply["waitroom"])

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for scene_id in self.homes:
            with contextlib.suppress(StateError):
                await self.state.release(f"waitroom/{scene_id}", self.server_id)
