"""Games whose players are connected to other servers: their actions go to the game, its frames to them.

A server-run game runs on one server (its host). A player connected to another server (they came
back through the load balancer to a different server) plays it through their own server, which
keeps a stand-in for the game (`mug.server.cluster.linked.LinkedGame`) and talks to the host over
the servers' bus (`mug.server.cluster.bus`):

===========  =====================  ====================================================================
message      from → to              what it does
===========  =====================  ====================================================================
``attach``   player's → host        this participant is connected here now; the host answers
                                    ``attached`` (the game's scene, players and where it is) or why not
``action``   player's → host        the participant's action (checked on both sides)
``lost``     player's → host        their page went away (the game waits for them, as on one server)
``out``      host → player's        a message for a room of the game or of the participant, already
                                    encoded; the player's server writes it to its own members
``dropped``  host → player's        the participant was dropped after the grace period
``finished`` host → player's        the game ended: the player's server moves its players on
``detach``   host → player's        the participant is connected elsewhere now: forget them here
``linked``   host → player's        the participant, matched at the host's waitroom, plays this game
                                    (`mug.server.cluster.waitrooms`); their server tells their page
===========  =====================  ====================================================================

A peer of a P2P game whose page comes back on another server attaches the same way; the game's host
answers with what a stand-in of it needs (`mug.server.cluster.p2p_links`).

Only the server a participant is connected to may act for them: the host takes ``action`` and
``lost`` for a participant only from the server that attached them last.

Before a join, `Relay.settle` finds where the participant's game runs (``playing/<id>``, kept by
`mug.server.sessions.presence`): on another server that answers, the player attaches to it; on a
server that does not, the join waits until that server counts as gone and its games are closed as
``interrupted`` (`mug.server.cluster.members`), so the join already tells the participant.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from mug.scenes.gym import GymScene
from mug.server.cluster import members
from mug.server.cluster.bus import Bus
from mug.server.cluster.linked import LinkedGame
from mug.server.cluster.state import StateError
from mug.server.web.rooms import GAME_ROOM, game_room, participant_room
from mug.server.web.transport import NAMESPACE, DirectSocketServer

if TYPE_CHECKING:
    from mug.server.cluster.members import Members
    from mug.server.cluster.p2p_links import P2PLinks
    from mug.server.games.handle import GameHandle
    from mug.server.sessions.sessions import Sessions

__all__ = ["ATTACH_TIMEOUT_S", "Relay", "RelaySocketServer"]

log = logging.getLogger("mug.server.cluster.relay")

#: Seconds a join waits for a live game's server to answer ``attach``.
ATTACH_TIMEOUT_S = 1.5
#: Seconds a join waits, once the server keeping its P2P game is gone, for another to take it over.
TAKEOVER_WAIT_S = 3 * members.HEARTBEAT_S



class RelaySocketServer(DirectSocketServer):
    """The server's Socket.IO server when several servers serve one experiment.

    What is sent to a room with `send_encoded` (and so `broadcast`: game frames, a participant's
    game messages) also goes to the other servers that have members of that room (`Relay`).
    Events sent with ``emit`` reach them through python-socketio's Redis manager.
    """

    relay: Relay | None = None

    def send_encoded(self, body: str, room: str) -> None:
        super().send_encoded(body, room)
        if self.relay is not None:
            self.relay.forward(body, room)

    def send_here(self, body: str, room: str) -> None:
        """Send to this server's own members of `room` only (what came from another server)."""
        super().send_encoded(body, room)


class Relay:
    """This server's part in games that span servers: as a game's host, and as a player's server."""

    def __init__(self, sessions: Sessions, bus: Bus, server_id: str) -> None:
        self.sessions = sessions
        self.bus = bus
        self.server_id = server_id
        self.members: Members | None = None  # (set once membership has started)
        # As a host: participant -> the server they are connected to; room -> servers with members.
        self.remote: dict[str, str] = {}
        self.remote_rooms: dict[str, set[str]] = {}
        self._attaching: dict[tuple[str, str], asyncio.Future[dict[str, Any]]] = {}
        self._background: set[asyncio.Task[None]] = set()
        #: Message kinds other parts handle (`mug.server.cluster.waitrooms`, `.p2p_links`), by kind.
        self.handlers: dict[str, Callable[[dict[str, Any]], None]] = {}
        #: P2P games with peers on several servers (set by `P2PLinks`).
        self.p2p: P2PLinks | None = None

    async def start(self) -> None:
        """Listen on this server's channel."""
        await self.bus.listen(self.server_id, self._receive)

    # -- outgoing frames (RelaySocketServer) -------------------------------------------------------

    def forward(self, body: str, room: str) -> None:
        servers = self.remote_rooms.get(room)
        if not servers:
            return
        message: dict[str, Any] = {"t": "out", "room": room, "text": body}
        if room.startswith(GAME_ROOM):
            game = self.sessions.games.get(room[len(GAME_ROOM) :])
            if game is not None:
                message["game"] = game.game_id
                message["mirror"] = {"status": game.status, "episode": game.episode, "step": game.step}
        for server in servers:
            self.bus.send(server, message)

    # -- a player's server ---------------------------------------------------------------------------

    async def settle(self, participant_id: str) -> None:
        """Before a join: attach to the participant's game on another server, or wait until that
        server counts as gone and close its games (see the module docstring)."""
        presence = self.sessions.presence
        if presence is None:
            return
        loop = asyncio.get_running_loop()
        try:
            playing = await presence.state.get(f"playing/{participant_id}")
            if not isinstance(playing, dict) or playing.get("server") in (None, self.server_id):
                return
            host, game_id = str(playing["server"]), str(playing.get("game"))
            if participant_id in self.sessions.game_of or participant_id in self.sessions.p2p.game_of:
                return  # attached already (a second join of this page)
            if await self.attach(participant_id, game_id, host) is not None:
                return  # (taken, or refused by a host that answered: its game is over for them)
            # No answer: the game's server may be gone. An announcement lives SILENT_S seconds and
            # is renewed every HEARTBEAT_S: one still there after both was renewed.
            deadline = loop.time() + members.SILENT_S + members.HEARTBEAT_S
            while await presence.state.get(f"alive/{host}") is not None:
                if loop.time() >= deadline:
                    return
                await asyncio.sleep(members.HEARTBEAT_S / 4)
            if playing.get("p2p") and self.p2p is not None:
                await self._taken_over(participant_id, game_id, host)
                return
        except StateError as exc:
            log.warning("could not check where %s plays: %s", participant_id, exc)
            return
        if self.members is not None:
            await self.members.check()  # (its games close here, or by another server meanwhile)

    async def _taken_over(self, participant_id: str, game_id: str, gone: str) -> None:
        """The server keeping the participant's P2P game is gone: a server with a peer of the game takes
        it over within a heartbeat or two (`P2PLinks.check_hosts`); play on through that one."""
        assert self.p2p is not None and self.sessions.presence is not None
        await self.p2p.check_hosts()  # (this server may be the one)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TAKEOVER_WAIT_S
        while loop.time() < deadline:
            playing = await self.sessions.presence.state.get(f"playing/{participant_id}")
            server = playing.get("server") if isinstance(playing, dict) and playing.get("game") == game_id else None
            if server is None or server == self.server_id:
                return  # (over for them, or kept here now)
            if server != gone:
                await self.attach(participant_id, game_id, server)
                return
            await asyncio.sleep(members.HEARTBEAT_S / 4)

    async def attach(self, participant_id: str, game_id: str, host: str) -> bool | None:
        """Play ``game_id`` on ``host`` from here; whether the host took the participant (None: no answer)."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._attaching[(game_id, participant_id)] = future
        self.bus.send(host, {"t": "attach", "game": game_id, "pid": participant_id, "server": self.server_id})
        try:
            reply = await asyncio.wait_for(future, ATTACH_TIMEOUT_S)
        except asyncio.TimeoutError:
            return None
        finally:
            self._attaching.pop((game_id, participant_id), None)
        if "refused" in reply:
            log.info("%s could not rejoin game %s on %s: %s", participant_id, game_id, host, reply["refused"])
            return False
        if "p2p" in reply:  # (a peer of a P2P game: mug.server.cluster.p2p_links)
            return self.p2p is not None and self.p2p.stand_in(reply["p2p"]) is not None
        self._link_here(host, reply)
        return True

    def _link_here(self, host: str, reply: dict[str, Any]) -> LinkedGame:
        """Make (or find) the stand-in of a game on ``host`` and play it here as ``reply["pid"]``."""
        sessions = self.sessions
        game_id, participant_id = reply["game"], reply["pid"]
        game = sessions.games.get(game_id)
        if not isinstance(game, LinkedGame):
            scene = sessions.experiment.scenes[int(reply["scene_index"])]
            assert isinstance(scene, GymScene)
            game = LinkedGame(
                host,
                scene.filled_in(reply["players"]),
                game_id,
                reply["players"],
                send=lambda message: self.bus.send(host, {**message, "server": self.server_id}),
                on_finished=sessions.server_games.finished,
                on_dropped=sessions.server_games.dropped,
            )
            sessions.games[game_id] = game
        game.mirror(reply.get("mirror", {}))
        if participant_id not in game.local:
            game.local.append(participant_id)
        game.connection_restored(participant_id)
        sessions.game_of[participant_id] = game_id
        return game

    # -- messages from other servers --------------------------------------------------------------

    def _receive(self, message: dict[str, Any]) -> None:
        kind = message.get("t")
        handler = self.handlers.get(str(kind)) or getattr(self, f"_on_{kind}", None)
        if handler is None:
            log.warning("a message of unknown kind %r from another server was dropped", kind)
            return
        handler(message)

    # As a host.

    def _on_attach(self, message: dict[str, Any]) -> None:
        game_id, pid, server = message["game"], message["pid"], message["server"]
        game = self.sessions.games.get(game_id)
        reply: dict[str, Any] = {"t": "attached", "game": game_id, "pid": pid}
        p2p = self.p2p.attach(game_id, pid, server) if self.p2p is not None and game is None else None
        if p2p is not None:
            reply.update(p2p)
        elif game is None or isinstance(game, LinkedGame) or game.outcome is not None:
            reply["refused"] = "the game is not running on this server"
        elif pid not in game.players or pid in game.dropped:
            reply["refused"] = "not a player of this game"
        else:
            before = self.remote.get(pid)
            if before is not None and before != server:
                self._forget(pid, game_id, before)
                self.bus.send(before, {"t": "detach", "game": game_id, "pid": pid})
            self.remote[pid] = server
            self.remote_rooms.setdefault(participant_room(pid), set()).add(server)
            self.remote_rooms.setdefault(game_room(game_id), set()).add(server)
            game.connection_restored(pid)
            reply.update(self._described(game))
        self.bus.send(server, reply)

    def _described(self, game: GameHandle) -> dict[str, Any]:
        """What a player's server needs to make a game's stand-in."""
        return {
            "scene_index": self.sessions.experiment.scene_index(game.scene.scene_id or ""),
            "players": {p.agent_id: p_id for p_id, p in game.players.items()},
            "mirror": {"status": game.status, "episode": game.episode, "step": game.step},
        }

    def link(self, game: GameHandle, participant_id: str, server: str, matched: dict[str, Any]) -> None:
        """A participant connected to ``server`` plays ``game``, which starts here (they were matched
        in this server's waitroom): their server makes its stand-in and sends their page ``matched``.
        Call it right after the game starts, before its first tick (frames go to them from then on)."""
        self.remote[participant_id] = server
        self.remote_rooms.setdefault(participant_room(participant_id), set()).add(server)
        self.remote_rooms.setdefault(game_room(game.game_id), set()).add(server)
        message = {"t": "linked", "game": game.game_id, "pid": participant_id, "host": self.server_id}
        self.bus.send(server, {**message, "matched": matched, **self._described(game)})

    def _from_attached(self, message: dict[str, Any]) -> GameHandle | None:
        """The host's game a message is about, if the sender is the server its participant is at."""
        pid = message.get("pid")
        if pid is None or self.remote.get(pid) != message.get("server"):
            return None  # a server that no longer holds this participant
        game = self.sessions.games.get(message.get("game", ""))
        return None if game is None or isinstance(game, LinkedGame) else game

    def _on_action(self, message: dict[str, Any]) -> None:
        game = self._from_attached(message)
        if game is not None:
            game.submit_action(message["pid"], message["action"])

    def _on_lost(self, message: dict[str, Any]) -> None:
        game = self._from_attached(message)
        if game is not None:
            game.connection_lost(message["pid"])

    def is_remote(self, participant_id: str) -> bool:
        """Whether this participant, a player of a game here, is connected to another server."""
        return participant_id in self.remote

    def back_here(self, participant_id: str, game_id: str) -> None:
        """A remote player of a game here joined this server again: their other server forgets them."""
        server = self.remote.get(participant_id)
        if server is not None:
            self._forget(participant_id, game_id, server)
            self.bus.send(server, {"t": "detach", "game": game_id, "pid": participant_id})

    def player_dropped(self, game: GameHandle, participant_id: str) -> bool:
        """A remote player was dropped: their server ends their session. Whether they were remote."""
        server = self.remote.get(participant_id)
        if server is None:
            return False
        self.bus.send(server, {"t": "dropped", "game": game.game_id, "pid": participant_id})
        return True

    def game_finished(self, game: GameHandle, *, outcome: str | None = None) -> list[str]:
        """The game ended (``outcome``: as its players' servers should see it, when not the game's
        own): the servers of its remote players move them on. Returns those players."""
        moved = []
        told: set[str] = set()
        for pid in list(game.players):
            server = self.remote.get(pid)
            if server is None:
                continue
            moved.append(pid)
            self._forget(pid, game.game_id, server)
            if server not in told:
                told.add(server)
                self.bus.send(
                    server,
                    {
                        "t": "finished",
                        "game": game.game_id,
                        "outcome": outcome or game.outcome,
                        "dropped": list(game.dropped),
                        "error": game.error,
                    },
                )
        self.remote_rooms.pop(game_room(game.game_id), None)
        return moved

    def _forget(self, pid: str, game_id: str, server: str) -> None:
        """`pid` of `game_id` is no longer played from `server`."""
        if self.remote.get(pid) == server:
            del self.remote[pid]
        self.drop_room(participant_room(pid), server)
        game = self.sessions.games.get(game_id)
        if game is None or not any(self.remote.get(p) == server for p in game.players):
            self.drop_room(game_room(game_id), server)  # (no other player of the game there)

    def drop_room(self, room: str, server: str) -> None:
        """``server`` has no member of ``room`` any more."""
        servers = self.remote_rooms.get(room)
        if servers is not None:
            servers.discard(server)
            if not servers:
                del self.remote_rooms[room]

    # As a player's server.

    def _on_linked(self, message: dict[str, Any]) -> None:
        # Done before the next message is handled: the game's first messages (its ``running``
        # status, its first frames) follow in the same batch from the host, and reach the page
        # only if it is in the game's room by then. (As a spawned task it entered later: 2 of 20
        # participants arriving at once never saw ``running``.) python-socketio's room entry is a
        # coroutine only by signature: its manager's `basic_enter_room` is what it runs.
        sessions = self.sessions
        pid = message["pid"]
        shared = sessions.matching.shared
        if shared is not None:
            shared.matched(pid)
        linked = self._link_here(message["host"], message)
        sid = sessions.sid_of.get(pid)
        if sid is not None:
            sessions.sio.manager.basic_enter_room(sid, NAMESPACE, game_room(linked.game_id))
        self.spawn(sessions.send_to(pid, "matched", message["matched"]))

    def _on_attached(self, message: dict[str, Any]) -> None:
        future = self._attaching.get((message.get("game", ""), message.get("pid", "")))
        if future is not None and not future.done():
            future.set_result(message)

    def _linked(self, message: dict[str, Any]) -> LinkedGame | None:
        game = self.sessions.games.get(message.get("game", ""))
        return game if isinstance(game, LinkedGame) else None

    def _on_out(self, message: dict[str, Any]) -> None:
        linked = self._linked(message) if "mirror" in message else None
        if linked is not None:
            linked.mirror(message["mirror"])
        sio = self.sessions.sio
        if isinstance(sio, RelaySocketServer):
            sio.send_here(message["text"], message["room"])

    def _on_dropped(self, message: dict[str, Any]) -> None:
        linked = self._linked(message)
        if linked is not None:
            self.spawn(linked.dropped_player(message["pid"]))

    def _on_finished(self, message: dict[str, Any]) -> None:
        linked = self._linked(message)
        if linked is not None:
            self.spawn(linked.finished(message.get("outcome"), message.get("dropped", []), message.get("error")))

    def _on_detach(self, message: dict[str, Any]) -> None:
        linked = self._linked(message)
        pid = message.get("pid", "")
        if linked is None or pid not in linked.local:
            return
        linked.local.remove(pid)
        if self.sessions.game_of.get(pid) == linked.game_id:
            del self.sessions.game_of[pid]
        if not linked.local:
            self.sessions.games.pop(linked.game_id, None)

    def linked_to(self, host: str) -> list[LinkedGame]:
        """The stand-ins here of games that run on ``host``."""
        return [g for g in self.sessions.games.values() if isinstance(g, LinkedGame) and g.host == host]

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` on the server's loop, kept until it ends."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._background, return_exceptions=True)
        await self.bus.close()
