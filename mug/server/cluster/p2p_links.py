"""P2P games whose peers are connected to different servers: one server keeps the game, the others stand-ins.

A P2P game's server part (`mug.server.sessions.p2p`) is signaling, the relay fallback and its
peers' state: away, back, dropped, done. With several servers, a P2P scene's waitroom is shared
like a server-run scene's (`mug.server.cluster.waitrooms`), so a group may hold participants of
different servers. Its game is kept by one server, its *host* (placed as a server-run game is: where
most of its peers are connected); every other server with a peer keeps a *stand-in*: a copy of the
game (a `P2PGame` whose ``host`` names the host) that its own peers' pages talk to.

* **Signals and relayed packets** go from the sender's server straight to the target's page: each
  server with a peer routes every other peer's room to that peer's server (`Relay.remote_rooms`),
  so a relayed packet crosses the bus once, as a server-run game's frame does.
* **What changes a peer's state** goes to the host (``p2p_peer``), which decides as on one server
  (grace timers, ``on_player_drop``, the record's end) and tells the stand-ins (``p2p_state``). A
  peer whose session ends (dropped, or its partner left) is ended by its own server (``p2p_end``).
* **A page that comes back on another server** (a reload through the load balancer) finds its game
  by ``playing/<participant>`` (`mug.server.sessions.presence`) and attaches to the host as a
  server-run game's player does (`Relay.attach`): the host moves the peer to the new server and
  tells the stand-ins, and the server the page left forgets it.

===============  ==================  ==============================================================
message          from → to           what it does
===============  ==================  ==============================================================
``p2p_linked``   host → peer's       these peers of yours play this game: keep a stand-in, send
                                     their pages ``matched``
``p2p_peer``     peer's → host       a peer's page went away (``away``), came back (``back``),
                                     ended the game (``done``, with its outcome) or reported its
                                     links (``status``, for the host's monitor)
``p2p_state``    host → stand-ins    the host, the peers' state and servers; ``ended`` once the record
                                     is closed
``p2p_end``      host → peer's       the peer is out (``dropped``, ``partner_left``): end its session
``p2p_forward``  peer's → home       a page waiting at another server's waitroom signals, relays or
                                     answers for the probe its group runs there (below)
===============  ==================  ==============================================================

**Probes.** With a matchmaker's ``max_p2p_rtt_ms``, a proposed group's pages first measure their
round trips to each other (`mug.server.sessions.p2p_probe`), at the waitroom's home. A member
waiting there through another server sends its probe's signals, packets and figures to its own
server, which passes them on to the home (``p2p_forward``); the home's answers reach its page
as the waitroom's messages do.

The host takes ``p2p_peer`` for a participant only from the server it knows the page is at.

**A host that dies.** The browsers play on over their DataChannels; only the server's part stops.
Every server with a stand-in watches the hosts of its stand-ins' games (``alive/<id>``,
`mug.server.cluster.members`); once one stops announcing itself, the live server with a peer of
the game and the lowest id takes the game over (every stand-in picks the same one): it keeps the
game from then on, writes itself into the peers' ``playing/`` entries and tells the other
stand-ins (``p2p_state`` names the host). The peers whose pages were connected to the dead server
have the scene's ``reconnect_grace_s`` to come back, to any server; a join that finds the dead
server in ``playing/`` waits for the new one (`Relay.settle`). So a P2P game outlives the process
that matched it, and its record ends as its peers end it (a server-run game cannot: its env ran
in the dead process).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from mug.scenes.gym import GymScene
from mug.server.cluster import members
from mug.server.cluster.state import StateError
from mug.server.sessions.p2p_game import P2PGame, Peer
from mug.server.sessions.texts import AWAY_TOO_LONG
from mug.server.web.protocol import P2PProbeResult, P2PRelay, P2PSignal, ProtocolError
from mug.server.web.rooms import participant_room

if TYPE_CHECKING:
    from mug.server.cluster.relay import Relay
    from mug.server.sessions.p2p import P2PGames

__all__ = ["P2PLinks"]

log = logging.getLogger("mug.server.cluster.p2p_links")

_WHAT = ("away", "back", "done", "status")
#: Probes of other servers' waitrooms whose pages' late messages are still recognised here.
PROBES_KEPT = 1_000


class P2PLinks:
    """This server's part in P2P games whose peers are connected to several servers."""

    def __init__(self, p2p: P2PGames, relay: Relay) -> None:
        self.p2p = p2p
        self.relay = relay
        self.server_id = relay.server_id
        self._routes: dict[str, set[tuple[str, str]]] = {}  # game -> (room, server) routed from here
        self._out: dict[str, set[str]] = {}  # game -> peers whose `playing/` entry was removed
        self._probes_of: dict[str, set[str]] = {}  # probe at another server's waitroom -> pages here in it
        self._watch: asyncio.Task[None] | None = None
        relay.handlers.update(
            p2p_linked=self._on_linked,
            p2p_peer=self._on_peer,
            p2p_state=self._on_state,
            p2p_end=self._on_end,
            p2p_forward=self._on_forward,
        )
        p2p.links = self
        relay.p2p = self

    # -- at the host ---------------------------------------------------------------------------------

    async def started(self, game: P2PGame) -> None:
        """A game kept here started: every page may come back anywhere; the peers' servers keep stand-ins."""
        presence = self.p2p.sessions.presence
        if presence is not None:
            await presence.game_started(game.game_id, [p.participant_id for p in game.peers], p2p=True)
        if not game.servers:
            return
        self._route(game)
        for server in self._stand_ins(game):
            local = [pid for pid, at in game.servers.items() if at == server]
            self.relay.bus.send(server, {"t": "p2p_linked", "pids": local, **self.described(game)})

    def described(self, game: P2PGame) -> dict[str, Any]:
        """What a server needs to keep a stand-in of ``game``, and its state."""
        experiment = self.p2p.sessions.experiment
        return {
            "game": game.game_id,
            "host": self.server_id,
            "scene_index": experiment.scene_index(game.scene.scene_id or ""),
            "seed": game.seed,
            "started_at": game.started_at,
            "peers": [[p.index, p.agent_id, p.participant_id] for p in game.peers],
            **self._state(game),
        }

    def _state(self, game: P2PGame) -> dict[str, Any]:
        return {
            "host": self.server_id,
            "state": [[p.connected, p.dropped, p.outcome] for p in game.peers],
            "servers": dict(game.servers),
            "ended": game.ended,
        }

    def _stand_ins(self, game: P2PGame) -> set[str]:
        return set(game.servers.values()) - {self.server_id}

    def sync(self, game: P2PGame, *, also: str | None = None) -> None:
        """``game`` (kept here) changed: the stand-ins learn its state (``also``: a server that just lost its peer)."""
        servers = self._stand_ins(game) | ({also} if also and also != self.server_id else set())
        message = {"t": "p2p_state", "game": game.game_id, **self._state(game)}
        for server in servers:
            self.relay.bus.send(server, message)
        self._route(game)
        self.relay.spawn(self._playing_ended(game))

    async def _playing_ended(self, game: P2PGame) -> None:
        """Peers done with the game (or all, once it ended) no longer come back to it."""
        presence = self.p2p.sessions.presence
        out = self._out.setdefault(game.game_id, set())
        gone = [p.participant_id for p in game.peers if (game.ended or not p.in_game) and p.participant_id not in out]
        if game.ended:
            self._out.pop(game.game_id, None)
        else:
            out.update(gone)
        if gone and presence is not None:
            await presence.game_ended(game.game_id, gone, p2p=True)

    def end_peer(self, game: P2PGame, peer: Peer, reason: str, left: dict[str, Any] | None = None) -> None:
        """``peer``, connected to another server, is out of the game (``reason``: ``dropped`` or
        ``partner_left``, with the ``p2p_peer_left`` message): its server ends its session."""
        server = game.servers[peer.participant_id]
        message = {"t": "p2p_end", "game": game.game_id, "pid": peer.participant_id, "reason": reason}
        self.relay.bus.send(server, {**message, "left": left or {}})

    def _on_peer(self, message: dict[str, Any]) -> None:
        game_id, pid, server, what = message.get("game"), message.get("pid"), message.get("server"), message.get("what")
        game = self.p2p.games.get(str(game_id)) or self.p2p.finished.get(str(game_id))
        if game is None or game.host is not None or what not in _WHAT or not isinstance(pid, str):
            return
        if game.servers.get(pid) != server:
            return  # (a server the peer's page is no longer at)
        if what == "status":
            peer = game.peer_of(pid)
            if peer is not None and isinstance(message.get("status"), dict):
                peer.status, peer.status_at = message["status"], time.time()
        elif what == "away":
            self.relay.spawn(self.p2p.connection_lost(pid, relayed=True))
        elif what == "back":
            self.relay.spawn(self.p2p.connection_restored(pid, relayed=True))
        elif isinstance(message.get("outcome"), str):
            self.relay.spawn(self.p2p.peer_finished(pid, game.game_id, message["outcome"], relayed=True))

    def attach(self, game_id: str, pid: str, server: str) -> dict[str, Any] | None:
        """A peer's page came back on ``server``: it plays from there now. What that server needs for a
        stand-in (``refused`` and why, if not); None if ``game_id`` is not a P2P game kept here."""
        game = self.p2p.games.get(game_id)
        if game is None or game.host is not None:
            return None
        peer = game.peer_of(pid)
        if peer is None or not peer.in_game:
            return {"refused": "not a peer still in this game"}
        before = game.servers.get(pid, self.server_id)
        if not game.servers:
            game.servers = {p.participant_id: self.server_id for p in game.peers}
        game.servers[pid] = server
        if before != server and peer.connected:
            # Its old page's close may reach its server after the new page joined: it left all the same.
            self.relay.spawn(self.p2p.page_moved(pid))
        self.sync(game, also=before)
        return {"p2p": self.described(game)}

    # -- at a peer's server ---------------------------------------------------------------------------

    def to_host(
        self, game: P2PGame, peer: Peer, what: str, *, outcome: str | None = None, status: dict[str, Any] | None = None
    ) -> None:
        """Tell the game's host what happened to ``peer``, whose page is connected here (``status``: its
        page's last report, for the host's monitor)."""
        assert game.host is not None
        message = {"t": "p2p_peer", "game": game.game_id, "pid": peer.participant_id, "server": self.server_id}
        self.relay.bus.send(game.host, {**message, "what": what, "outcome": outcome, "status": status})

    def stand_in(self, described: dict[str, Any]) -> P2PGame | None:
        """Keep (or update) the stand-in of a game kept on another server."""
        p2p = self.p2p
        game = p2p.games.get(described["game"])
        if game is None:
            experiment = p2p.sessions.experiment
            try:
                scene = experiment.scenes[int(described["scene_index"])]
            except (IndexError, TypeError, ValueError):
                scene = None
            if not isinstance(scene, GymScene) or not scene.is_p2p:
                log.warning("a P2P game of an unknown scene from server %s was dropped", described.get("host"))
                return None
            peers = [Peer(int(i), str(agent), str(pid)) for i, agent, pid in described["peers"]]
            game = P2PGame(
                described["game"],
                scene,
                int(described["seed"]),
                peers,
                started_at=float(described["started_at"]),
                host=str(described["host"]),
            )
            p2p.games[game.game_id] = game
        self._apply(game, described)
        return game

    def _apply(self, game: P2PGame, state: dict[str, Any]) -> None:
        """Take the host's view of the game: its peers' state, where they are, whether it ended."""
        for peer, (connected, dropped, outcome) in zip(game.peers, state.get("state") or [], strict=False):
            peer.connected, peer.dropped = bool(connected), bool(dropped)
            if peer.outcome in (None, "unverified"):
                peer.outcome = outcome
        servers = state.get("servers")
        if isinstance(servers, dict):
            game.servers = {str(k): str(v) for k, v in servers.items()}
        if isinstance(state.get("host"), str) and state["host"] != self.server_id:
            game.host = state["host"]  # (another server took the game over: see `_adopt`)
        p2p = self.p2p
        for peer in game.peers:
            pid = peer.participant_id
            here = game.servers.get(pid) == self.server_id
            if here and peer.in_game and not state.get("ended"):
                p2p.game_of[pid] = game.game_id
            elif p2p.game_of.get(pid) == game.game_id:
                del p2p.game_of[pid]  # (out of the game, or its page is at another server now)
        if state.get("ended") or self.server_id not in game.servers.values():
            game.ended = state.get("ended") or game.ended
            p2p.retire(game)
            self._unroute(game.game_id)
        else:
            self._route(game)

    def _on_linked(self, message: dict[str, Any]) -> None:
        game = self.stand_in(message)
        if game is None:
            return
        shared = self.p2p.sessions.matching.shared
        for pid in message.get("pids") or []:
            peer = game.peer_of(pid)
            if peer is None:
                continue
            if shared is not None:
                shared.matched(pid)
            if pid in self.p2p.sessions.sid_of:
                self.relay.spawn(self.p2p.send_matched(game, peer))
            else:  # (its page went away while the game was being recorded)
                self.to_host(game, peer, "away")

    def _on_state(self, message: dict[str, Any]) -> None:
        game = self.p2p.games.get(str(message.get("game")))
        if game is not None and game.host is not None:
            self._apply(game, message)

    def _on_end(self, message: dict[str, Any]) -> None:
        game = self.p2p.games.get(str(message.get("game"))) or self.p2p.finished.get(str(message.get("game")))
        pid = message.get("pid")
        if game is None or game.host is None or not isinstance(pid, str) or game.peer_of(pid) is None:
            return
        if self.p2p.game_of.get(pid) == game.game_id:
            del self.p2p.game_of[pid]
        sessions = self.p2p.sessions
        if message.get("reason") == "dropped":
            coro = sessions.end_with_code(pid, game.scene, "dropped", "Session ended", AWAY_TOO_LONG)
            self.relay.spawn(_discard(coro))
        else:
            self.relay.spawn(self.p2p.partner_left(pid, game.scene, dict(message.get("left") or {})))

    # -- a game's host gone ---------------------------------------------------------------------------

    def start(self) -> None:
        """Watch the hosts of the games this server keeps stand-ins of."""
        self._watch = asyncio.get_running_loop().create_task(self._watch_hosts())

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch

    async def _watch_hosts(self) -> None:
        while True:
            await asyncio.sleep(members.HEARTBEAT_S)
            try:
                await self.check_hosts()
            except asyncio.CancelledError:
                raise
            except StateError as exc:
                log.warning("P2P games: could not check their servers: %s", exc)
            except Exception:
                log.exception("P2P games: checking their servers failed")

    async def check_hosts(self) -> None:
        """Games whose host stopped announcing itself go on: the live server with a peer of the game and
        the lowest id takes each over (every server with a stand-in picks the same one)."""
        state = self.relay.members.state if self.relay.members is not None else None
        hosts = {g.host for g in self.p2p.games.values() if g.host is not None and not g.ended}
        if state is None or not hosts:
            return
        gone = {host for host in hosts if await state.get(f"alive/{host}") is None}
        if not gone:
            return
        alive = {key.split("/", 1)[1] for key in await state.scan("alive/")} | {self.server_id}
        for game in [g for g in self.p2p.games.values() if g.host in gone and not g.ended]:
            dead = game.host
            assert dead is not None
            heirs = sorted({s for s in game.servers.values() if s in alive} or {self.server_id})
            if heirs[0] == self.server_id:
                await self._adopt(game, dead)
            else:
                game.host = heirs[0]  # (that server takes it over and tells this one)

    async def _adopt(self, game: P2PGame, dead: str) -> None:
        """Keep ``game``, whose host ``dead`` is gone, here: its peers whose pages were connected there
        have the scene's grace to come back (to any server), as after a reload."""
        log.warning("P2P game %s: its server %s stopped; this server keeps it now", game.game_id, dead)
        game.host = None
        away = []
        for peer in game.peers:
            pid = peer.participant_id
            if game.servers.get(pid, dead) == dead:
                game.servers[pid] = self.server_id
                away.append(pid)
            if peer.in_game:
                self.p2p.game_of[pid] = game.game_id
        self.p2p.sessions.writer.event(None, game.scene.scene_id, "p2p_game_taken_over", {
            "game_id": game.game_id, "from": dead, "to": self.server_id,
        })  # fmt: skip
        presence = self.p2p.sessions.presence
        if presence is not None:  # (pages that come back to any server find it here)
            await presence.game_started(game.game_id, [p.participant_id for p in game.peers if p.in_game], p2p=True)
        for pid in away:
            if pid not in self.p2p.sessions.sid_of:
                await self.p2p.connection_lost(pid, relayed=True)
        self.sync(game)  # (the other stand-ins learn its host)

    # -- probes: a proposed group measuring its round trips at the waitroom's home ---------------------

    def forwards(self, pid: str, game_id: str) -> bool:
        """Whether a page's P2P message here is for a probe run at the waitroom's home on another server:
        its page waits there through this server and the id is no game or probe of this one, or its
        page sent that probe's messages before (then the probe is over: `forward` drops it quietly,
        as one server drops a finished probe's last packets)."""
        if pid in self._probes_of.get(game_id, ()):
            return True
        shared = self.p2p.sessions.matching.shared
        return (
            shared is not None
            and pid in shared.waiting_elsewhere
            and game_id not in self.p2p.games
            and game_id not in self.p2p.finished
            and self.p2p.sessions.matching.probes.of(game_id) is None
        )

    def forward(self, pid: str, event: str, fields: dict[str, Any]) -> None:
        """Pass a page's P2P message (``event``, its checked fields) on to the waitroom's home."""
        shared = self.p2p.sessions.matching.shared
        waiting = shared.waiting_elsewhere.get(pid) if shared is not None else None
        if waiting is None:
            return  # (its group's probe is over, and the page waits there no more)
        game_id = str(fields["game_id"])
        self._probes_of.setdefault(game_id, set()).add(pid)
        while len(self._probes_of) > PROBES_KEPT:
            del self._probes_of[next(iter(self._probes_of))]
        message = {"t": "p2p_forward", "pid": pid, "server": self.server_id, "event": event, "fields": fields}
        self.relay.bus.send(waiting[1], message)

    def _on_forward(self, message: dict[str, Any]) -> None:
        shared = self.p2p.sessions.matching.shared
        pid, fields = message.get("pid"), message.get("fields")
        if shared is None or not isinstance(pid, str) or shared.remote_waiters.get(pid) != message.get("server"):
            return  # (a page that no longer waits here through that server)
        if not isinstance(fields, dict):
            return
        self.relay.spawn(self._forwarded(pid, str(message.get("event")), fields))

    async def _forwarded(self, pid: str, event: str, fields: dict[str, Any]) -> None:
        """Handle a page's P2P message passed on by its server, as if the page had sent it here."""
        probes = self.p2p.sessions.matching.probes
        try:
            game_id = str(fields["game_id"])
            if event == "p2p_signal":
                await self.p2p.signal(pid, P2PSignal(game_id, int(fields["to"]), dict(fields["signal"])))
            elif event == "p2p_relay":
                packets = [(int(to), str(data)) for to, data in fields["packets"]]
                await self.p2p.relay(pid, P2PRelay(game_id, packets))
            elif event == "p2p_probe_result":
                rtts = {int(k): None if v is None else float(v) for k, v in dict(fields["rtt_ms"]).items()}
                await probes.result(pid, P2PProbeResult(game_id, rtts))
        except ProtocolError as exc:  # (its page was answered by its own server; the refusal is logged here)
            log.info("a P2P message of %s passed on by its server was refused: %s", pid, exc)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("a malformed %r passed on for %s was dropped: %r", event, pid, exc)

    # -- routes to the peers' pages ---------------------------------------------------------------------

    def _route(self, game: P2PGame) -> None:
        """Route every other peer's room from here to the server its page is at (and no more than that)."""
        want = {
            (participant_room(pid), server)
            for pid, server in game.servers.items()
            if server != self.server_id and not game.ended
        }
        have = self._routes.get(game.game_id, set())
        for room, server in have - want:
            self.relay.drop_room(room, server)
        for room, server in want - have:
            self.relay.remote_rooms.setdefault(room, set()).add(server)
        if want:
            self._routes[game.game_id] = want
        else:
            self._routes.pop(game.game_id, None)

    def _unroute(self, game_id: str) -> None:
        for room, server in self._routes.pop(game_id, set()):
            self.relay.drop_room(room, server)


async def _discard(coro: Any) -> None:
    await coro
