"""P2P games: matched by the server, played in the browsers, which talk through the server only to connect.

In a P2P scene (``multiplayer(mode="p2p")`` with ``runtime()``) every participant's browser runs the
env; the inputs travel between the browsers over WebRTC DataChannels. The server's part is small
and must stay small (one server process holds many such games):

* **matching**: the scene's waitroom forms a group as for server-run games; instead of a game loop
  the server records a game (mode ``client_p2p``), registers it with each participant as a
  client-side game (so the records intake takes each peer's records for it and ``advance`` ends it
  for that peer), and sends each page the game: its peer index, the peers, the ICE servers;
* **signaling**: ``p2p_signal`` carries WebRTC offers, answers and candidates to one named peer;
* **relay**: ``p2p_relay`` carries netcode packets between peers whose DataChannel did not open,
  with a budget of its own (`RELAY_EVENTS_PER_S`): a relayed game sends one event per frame;
* **status**: each page reports its transports, RTTs and rollback counts (``p2p_status``); the
  server keeps the last report in memory for the monitor, never a row each;
* **partners leaving**: a peer whose socket goes is announced to the others (``p2p_peer_left``),
  and after the scene's ``reconnect_grace_s`` dropped, with ``on_player_drop`` applied as in
  server-run games (the same message and completion code).

Everything a page sends is checked against the game: the sender must be one of its peers, still
in it; the target another peer. What is refused gets the usual error reply and is counted.

With several servers (`mug.server.cluster.p2p_links`), peers of one game may be connected to
different servers: one server keeps the game (its *host*: timers, drops, the record's end), every
other server with a peer a stand-in (a `P2PGame` whose ``host`` names the host). Signals and
relayed packets go from the sender's server straight to the target's; what changes a peer's state
goes to the host, which decides and tells the stand-ins.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import secrets
import time
import uuid
from typing import TYPE_CHECKING, Any

from mug.data.results import POLICY_PREFIX
from mug.policies import policy_label
from mug.scenes import GymScene
from mug.server.sessions.p2p_game import P2PGame, Peer, recorded_through
from mug.server.sessions.texts import AWAY_TOO_LONG, PARTNER_LEFT
from mug.server.web.protocol import P2PRelay, P2PSignal, P2PStatus, ProtocolError

if TYPE_CHECKING:
    from mug.server.cluster.p2p_links import P2PLinks
    from mug.server.sessions.sessions import Sessions

log = logging.getLogger("mug.server.sessions.p2p")

#: `p2p_relay` events one connection may send a second (sustained, and in a burst). Separate from
#: `ClientLimits.events_per_s`: a game relayed through the server sends one per frame (60 fps and
#: retransmissions stay far inside it), and must not starve the page's other events.
RELAY_EVENTS_PER_S = 200.0
RELAY_EVENTS_BURST = 400.0
#: The environment variable that turns on the pages' P2P test hooks (tests only).
TEST_HOOKS_ENV = "MUG_P2P_TEST_HOOKS"
#: How the game record of a P2P game ends, from how its peers left it (see `P2PGame.outcome`).
MODE = "client_p2p"
#: Ended games kept in memory (their peers' late records may still change the outcome).
FINISHED_KEPT = 10_000


class P2PGames:
    """The running P2P games of a server (in memory; the store holds their records)."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions
        self.writer = sessions.writer
        self.store = sessions.store
        self.games: dict[str, P2PGame] = {}
        self.game_of: dict[str, str] = {}  # participant -> their live P2P game
        self.finished: dict[str, P2PGame] = {}  # ended games (a late verification may change the outcome)
        #: Peers connected to other servers (`mug.server.cluster.p2p_links`); None with one server.
        self.links: P2PLinks | None = None

    # -- matching ----------------------------------------------------------------------------

    def live(self, participant_id: str) -> tuple[P2PGame, Peer] | None:
        """The participant's P2P game and place in it, while they are in it."""
        game = self.games.get(self.game_of.get(participant_id, ""))
        peer = game.peer_of(participant_id) if game else None
        return (game, peer) if game and peer and peer.in_game else None

    def current(self, participant_id: str, scene: GymScene) -> dict[str, Any] | None:
        """The game payload of the participant's running P2P game in `scene`, for a page that comes back."""
        found = self.live(participant_id)
        if found is None or found[0].scene is not scene:
            return None
        return self.payload(found[0], found[1], rejoin=True)

    async def rejoin(self, participant_id: str, scene: GymScene) -> dict[str, Any] | None:
        """The running game for a page that comes back (`current`), with ``recorded``: the last of its
        records of the game the store holds, so the page neither sends a step twice nor leaves one out.

        The page asks once its outbox has sent what the page before it kept (docs/p2p.md, "Rejoining").
        """
        payload = self.current(participant_id, scene)
        if payload is None:
            return None
        progress = await self.writer.call(self.store.game_progress, payload["game_id"], participant_id)
        payload["recorded"] = recorded_through(progress)
        return payload

    async def start(
        self, scene: GymScene, group: list[str], *, game_id: str | None = None, elsewhere: dict[str, str] | None = None
    ) -> P2PGame:
        """Record a P2P game for a matched group (peer i plays the scene's i-th human agent).

        ``elsewhere``: the peers connected to other servers (participant -> server), whose servers
        keep stand-ins of the game; ``game_id``: the id the waitroom's home gave a game it placed here.
        """
        now = time.time()
        game_id = game_id or uuid.uuid4().hex
        seed = scene.seed if scene.seed is not None else secrets.randbits(31)
        humans = scene.human_agents
        peers = [Peer(i, agent, pid) for i, (agent, pid) in enumerate(zip(humans, group, strict=True))]
        by_agent = {p.agent_id: p.participant_id for p in peers}
        roster = {
            a: by_agent[a] if a in by_agent else f"{POLICY_PREFIX}{policy_label(p)}"
            for a, p in scene.policy_mapping.items()
        }
        scene_id = scene.scene_id or ""
        await self.writer.call(self.store.start_game, game_id, scene_id, MODE, roster, seed, now, host=self.writer.host)
        game = P2PGame(game_id, scene, seed, peers, started_at=now)
        if elsewhere and self.links is not None:
            game.servers = {pid: elsewhere.get(pid, self.links.server_id) for pid in group}
        for peer in peers:
            record = await self.writer.call(self.store.get_participant, peer.participant_id)
            data = record.data if record else {}
            games = dict(data.get("browser_games") or {})
            # What the page's records and `advance` are checked against (mug.server.sessions.browser_games),
            # on whichever server it is connected to; no ICE servers here: session data is stored,
            # and credentials never are.
            games[scene_id] = {
                "game_id": game_id, "seed": seed, "status": "starting", "episode": 0, "step": 0,
                "mode": "p2p", "peer": peer.index,
            }  # fmt: skip
            ids = [*(data.get("browser_game_ids") or []), game_id]
            update = {"browser_games": games, "browser_game_ids": ids}
            await self.writer.call(self.store.update_participant_data, peer.participant_id, update, now)
            self.game_of[peer.participant_id] = game_id
        self.games[game_id] = game
        if self.links is not None:
            await self.links.started(game)
        for peer in peers:  # (a page that went away while the game was being recorded)
            if not self.elsewhere(game, peer) and peer.participant_id not in self.sessions.sid_of:
                await self.connection_lost(peer.participant_id)
        return game

    async def start_group(
        self,
        scene: GymScene,
        group: list[str],
        waited: dict[str, float],
        *,
        game_id: str | None = None,
        elsewhere: dict[str, str] | None = None,
    ) -> str:
        """A group formed in the waitroom: record its game, send each page here its part (the servers of
        peers connected elsewhere send theirs: `mug.server.cluster.p2p_links`); the game's id."""
        game = await self.start(scene, group, game_id=game_id, elsewhere=elsewhere)
        players = {peer.agent_id: peer.participant_id for peer in game.peers}
        waited_s = {p: round(waited.get(p, 0.0), 3) for p in group}
        where = {"game_id": game.game_id, "mode": "p2p", "players": players, "waited_s": waited_s}
        self.writer.event(None, scene.scene_id, "matched", where)
        for peer in game.peers:
            if not self.elsewhere(game, peer):
                await self.send_matched(game, peer)
        return game.game_id

    async def send_matched(self, game: P2PGame, peer: Peer) -> None:
        """Send ``peer``'s page (connected here) the game it plays."""
        await self.sessions.send_to(peer.participant_id, "matched", {"scene_id": game.scene.scene_id,
                                                                     **self.payload(game, peer)})  # fmt: skip

    def elsewhere(self, game: P2PGame, peer: Peer) -> bool:
        """Whether ``peer``'s page is connected to another server than this one."""
        if self.links is None:
            return False
        here = self.links.server_id
        return game.servers.get(peer.participant_id, here) != here

    def payload(self, game: P2PGame, peer: Peer, *, rejoin: bool = False) -> dict[str, Any]:
        """What `peer`'s page needs to play (docs/protocol.md, "P2P games")."""
        scene = game.scene
        opts = scene.multiplayer_options
        assert opts is not None
        webrtc = scene.webrtc_options or self.sessions.experiment.webrtc_options
        page = self.sessions.game_pages.add(scene, peer.participant_id, {"game_id": game.game_id}, peer.agent_id)
        return {
            **page,
            "game_id": game.game_id,
            "seed": game.seed,
            "status": "running",
            "episode": 0,
            "step": 0,
            "players": len(game.peers),
            "agent_id": peer.agent_id,
            "mode": "p2p",
            "peer": peer.index,
            "peers": [{"peer": p.index, "agent": p.agent_id} for p in game.peers],
            "away": [p.index for p in game.peers if not p.connected and not p.dropped],
            "dropped": [p.index for p in game.peers if p.dropped],
            "ice_servers": webrtc.client_ice_servers() if webrtc else [],
            "force_relay": bool(webrtc and webrtc.force_relay),
            "connect_timeout_s": opts.p2p_connect_timeout_s,
            "input_delay": opts.input_delay,
            "max_prediction": opts.max_prediction,
            "reconnect_grace_s": opts.reconnect_grace_s,
            "session_tag": game.session_tag,
            "test_hooks": os.environ.get(TEST_HOOKS_ENV) == "1",
            "rejoin": rejoin,
        }

    def count(self) -> int:
        """How many P2P games this server keeps (not counting stand-ins of other servers' games)."""
        return sum(game.host is None for game in self.games.values())

    # -- what pages send -----------------------------------------------------------------------

    def _late(self, participant_id: str, game_id: str) -> bool:
        """A packet or report one of a game's own peers sent as the game ended: dropped without a word.

        (The last relayed packets and the status timer's last tick cross the end of the game; an
        error reply for each would read as a fault of the page.)
        """
        game = self.finished.get(game_id)
        if game is None:  # (or a probe's: its pages answer their partners' pings a moment after it ended)
            return self.sessions.matching.probes.ended_with(game_id, participant_id)
        return game.peer_of(participant_id) is not None

    def _sender(self, participant_id: str, game_id: str, event: str) -> tuple[P2PGame, Peer]:
        # (A probe's pages signal and relay like a game's: mug.server.sessions.p2p_probe.)
        game = self.games.get(game_id) or self.sessions.matching.probes.of(game_id)
        peer = game.peer_of(participant_id) if game else None
        if game is None or peer is None:
            ended = game_id in self.finished
            raise ProtocolError(
                f"'{event}': game {game_id[:40]!r} is over" if ended
                else f"'{event}': this participant is not a peer of a running P2P game {game_id[:40]!r}"
            )  # fmt: skip
        if peer.dropped:
            raise ProtocolError(f"'{event}': this participant was dropped from game {game_id[:40]!r}")
        return game, peer

    @staticmethod
    def _target(game: P2PGame, sender: Peer, to: int, event: str) -> Peer:
        if to == sender.index:
            raise ProtocolError(f"'{event}' field 'to' names the sender itself (peer {to})")
        if to >= len(game.peers):
            raise ProtocolError(f"'{event}' field 'to' must be a peer of the game (0-{len(game.peers) - 1}), got {to}")
        return game.peers[to]

    async def signal(self, participant_id: str, message: P2PSignal) -> None:
        """Carry a WebRTC signaling message to the named peer (to that participant's pages only)."""
        if self.sessions.matching.probes.ended_with(message.game_id, participant_id):
            return  # (a probe's channels close a moment after it ended)
        if self.links is not None and self.links.forwards(participant_id, message.game_id):
            self.links.forward(participant_id, "p2p_signal", dataclasses.asdict(message))
            return  # (a probe at the waitroom's home, on another server)
        game, peer = self._sender(participant_id, message.game_id, "p2p_signal")
        if not peer.in_game:
            raise ProtocolError(f"'p2p_signal': this participant has finished game {message.game_id[:40]!r}")
        target = self._target(game, peer, message.to, "p2p_signal")
        if target.in_game:  # (a peer that left takes no more signals; not the sender's fault)
            payload = {"game_id": game.game_id, "from": peer.index, "signal": message.signal}
            await self.sessions.send_to(target.participant_id, "p2p_signal", payload)

    async def relay(self, participant_id: str, message: P2PRelay) -> None:
        """Carry netcode packets to peers whose DataChannel is not open: one event per target."""
        if self._late(participant_id, message.game_id):
            return
        if self.links is not None and self.links.forwards(participant_id, message.game_id):
            self.links.forward(participant_id, "p2p_relay", dataclasses.asdict(message))
            return  # (a probe at the waitroom's home, on another server)
        game, peer = self._sender(participant_id, message.game_id, "p2p_relay")
        by_target: dict[int, list[str]] = {}
        for to, data in message.packets:
            self._target(game, peer, to, "p2p_relay")
            by_target.setdefault(to, []).append(data)
        for to, data in by_target.items():
            target = game.peers[to]
            if target.in_game:
                payload = {"game_id": game.game_id, "from": peer.index, "data": data}
                await self.sessions.send_to(target.participant_id, "p2p_relay", payload)

    def status(self, participant_id: str, message: P2PStatus) -> None:
        """Keep a peer's report for the monitor (the page records its final one itself, as `p2p_stats`)."""
        if self._late(participant_id, message.game_id):
            return
        game, peer = self._sender(participant_id, message.game_id, "p2p_status")
        for other in message.peers:
            self._target(game, peer, other, "p2p_status")
        peer.status = {
            "frame": message.frame,
            "peers": {str(k): v for k, v in sorted(message.peers.items())},
            "rollbacks": message.rollbacks,
            "max_rollback": message.max_rollback,
            "predicted_frames": message.predicted_frames,
            "frames": message.frames,
            "desyncs": message.desyncs,
        }
        peer.status_at = time.time()
        if game.host is not None:  # (the monitor of the game's host shows it)
            assert self.links is not None
            self.links.to_host(game, peer, "status", status=peer.status)

    # -- connections ---------------------------------------------------------------------------

    async def connection_lost(self, participant_id: str, *, relayed: bool = False) -> None:
        """A peer's page went away: the others are told, and it has the scene's grace to come back.

        ``relayed``: reported by the server the page was connected to (at the game's host); a page
        here whose peer is connected to another server by now is an older page, and says nothing.
        """
        found = self.live(participant_id)
        if found is None:
            return
        game, peer = found
        if not relayed and self.elsewhere(game, peer):
            return
        if game.host is not None:  # (a stand-in: the game's host decides)
            assert self.links is not None
            self.links.to_host(game, peer, "away")
            return
        peer.connected = False
        opts = game.scene.multiplayer_options
        grace = opts.reconnect_grace_s if opts else self.sessions.reconnect_grace_s
        if peer.away_timer is not None:
            peer.away_timer.cancel()
        peer.away_timer = asyncio.get_running_loop().call_later(
            grace, lambda: self.sessions.spawn(self._grace_over(game, peer))
        )
        self.writer.event(participant_id, game.scene.scene_id, "p2p_peer_away", {"game_id": game.game_id,
                                                                                  "peer": peer.index})  # fmt: skip
        await self._tell_others(game, peer, "p2p_peer_left", {"game_id": game.game_id, "peer": peer.index,
                                                              "final": False})  # fmt: skip
        self._changed(game)

    async def connection_restored(self, participant_id: str, *, relayed: bool = False) -> None:
        """A peer's page (the same or a reloaded one) is back within the grace: the others are told.

        ``relayed``: reported by the server the page is connected to (at the game's host).
        """
        found = self.live(participant_id)
        if found is None:
            return
        game, peer = found
        if game.host is not None:  # (a stand-in: the game's host decides)
            assert self.links is not None
            self.links.to_host(game, peer, "back")
            return
        moved_from = None
        if not relayed and self.links is not None and self.elsewhere(game, peer):
            moved_from = game.servers[participant_id]  # (it played from another server until now)
            game.servers[participant_id] = self.links.server_id
            if peer.connected:  # (its old page's close may reach its server after the new page joined here)
                await self.page_moved(participant_id)
        if peer.away_timer is not None:
            peer.away_timer.cancel()
            peer.away_timer = None
        was_away = not peer.connected
        peer.connected = True
        if was_away:
            self.writer.event(participant_id, game.scene.scene_id, "p2p_peer_back", {"game_id": game.game_id,
                                                                                      "peer": peer.index})  # fmt: skip
        await self._tell_others(game, peer, "p2p_peer_back", {"game_id": game.game_id, "peer": peer.index})
        self._changed(game, also=moved_from)

    async def page_moved(self, participant_id: str) -> None:
        """The peer's page is connected to another server now, while its old page still counted as
        connected: the old page is gone, told as any page that left (its return follows)."""
        await self.connection_lost(participant_id, relayed=True)

    async def _grace_over(self, game: P2PGame, peer: Peer) -> None:
        """The peer did not come back in time: dropped; ``on_player_drop`` decides for the others."""
        peer.away_timer = None
        if peer.connected or not peer.in_game or game.ended:
            return
        peer.dropped = True
        self.game_of.pop(peer.participant_id, None)
        if self.links is not None and self.elsewhere(game, peer):
            self.links.end_peer(game, peer, "dropped")  # (its session ends at its own server)
        else:
            await self.sessions.end_with_code(
                peer.participant_id, game.scene, "dropped", "Session ended", AWAY_TOO_LONG
            )
        await self._partner_gone(game, peer, "p2p_peer_dropped")
        await self._maybe_end(game)
        self._changed(game)

    async def _partner_gone(self, game: P2PGame, peer: Peer, kind: str) -> None:
        """`peer` is out of the game for good: the others are told, and ``on_player_drop`` applies to them."""
        scene = game.scene
        opts = scene.multiplayer_options
        end_game = opts is None or opts.on_player_drop == "end_game"
        self.writer.event(
            peer.participant_id, scene.scene_id, kind,
            {"game_id": game.game_id, "peer": peer.index, "on_player_drop": "end_game" if end_game else "continue"},
        )  # fmt: skip
        left = {"game_id": game.game_id, "peer": peer.index, "final": True, "game_over": end_game}
        for other in game.peers:
            if not other.in_game:
                continue
            if not end_game:
                await self.sessions.send_to(other.participant_id, "p2p_peer_left", left)
                continue
            other.outcome = "partner_left"
            self.game_of.pop(other.participant_id, None)
            if self.links is not None and self.elsewhere(game, other):
                self.links.end_peer(game, other, "partner_left", left)  # (its session ends at its own server)
                continue
            await self.partner_left(other.participant_id, scene, left)

    async def partner_left(self, participant_id: str, scene: GymScene, left: dict[str, Any]) -> None:
        """The participant's game ended because a partner left it: their session ends with a code."""
        spec = await self.sessions.end_with_code(
            participant_id, scene, "partner_left", "The game has ended", PARTNER_LEFT, send=False
        )
        message = {**left, "message": PARTNER_LEFT, "completion_code": spec["completion_code"]}
        await self.sessions.send_to(participant_id, "p2p_peer_left", message)
        await self.sessions.send_to(participant_id, "scene", spec)

    async def _tell_others(self, game: P2PGame, peer: Peer, event: str, payload: dict[str, Any]) -> None:
        for other in game.peers:
            if other is not peer and other.in_game:
                await self.sessions.send_to(other.participant_id, event, payload)

    def _changed(self, game: P2PGame, *, also: str | None = None) -> None:
        """A game kept here changed: the servers with stand-ins of it (and ``also``) learn its state."""
        if self.links is not None and game.host is None:
            self.links.sync(game, also=also)

    # -- the end -----------------------------------------------------------------------------

    async def peer_finished(self, participant_id: str, game_id: str, outcome: str, *, relayed: bool = False) -> None:
        """A peer's page ended the game (``advance``), or its records were verified later: its outcome.

        The game's record ends once every peer is done with it or dropped. (At a stand-in, the
        outcome goes to the game's host, which decides.)
        """
        game = self.games.get(game_id) or self.finished.get(game_id)
        peer = game.peer_of(participant_id) if game else None
        if game is None or peer is None:
            return  # (a game of a server that has since restarted: the record was closed then)
        if game.host is not None:
            assert self.links is not None
            if peer.outcome in (None, "unverified"):
                peer.outcome = outcome
            if self.game_of.get(participant_id) == game_id:
                del self.game_of[participant_id]
            self.links.to_host(game, peer, "done", outcome=outcome)
            return
        if peer.away_timer is not None:
            peer.away_timer.cancel()
            peer.away_timer = None
        playing = peer.in_game
        if peer.outcome in (None, "unverified"):
            peer.outcome = outcome
        if self.game_of.get(participant_id) == game_id:
            del self.game_of[participant_id]
        if playing and outcome == "error" and not game.ended:
            # Its page could not go on (the runtime failed): the others cannot count on its inputs.
            await self._partner_gone(game, peer, "p2p_peer_failed")
        await self._maybe_end(game)
        self._changed(game)

    async def _maybe_end(self, game: P2PGame) -> None:
        outcome = game.outcome()
        if outcome is None or outcome == game.ended:
            return
        game.ended = outcome
        self.retire(game)
        await self.writer.call(self.store.end_game, game.game_id, outcome, time.time())

    def retire(self, game: P2PGame) -> None:
        """The game (or the stand-in of it) ended: among the finished ones, its peers out of it."""
        self.games.pop(game.game_id, None)
        self.finished[game.game_id] = game
        while len(self.finished) > FINISHED_KEPT:
            del self.finished[next(iter(self.finished))]
        for peer in game.peers:
            if self.game_of.get(peer.participant_id) == game.game_id:
                del self.game_of[peer.participant_id]

    def shutdown(self) -> None:
        """The server stops: the games' signaling and relay end with it; their records end ``interrupted``.

        (Peers whose DataChannels are open may play on; their records are still taken afterwards.)
        Stand-ins of games kept by other servers are only forgotten: their pages come back to
        another server, which plays on with the game's host.
        """
        now = time.time()
        for game in list(self.games.values()):
            if game.host is not None:
                continue
            for peer in game.peers:
                if peer.away_timer is not None:
                    peer.away_timer.cancel()
            where = {"game_id": game.game_id, "peers": {str(p.index): p.participant_id for p in game.peers}}
            self.writer.event(None, game.scene.scene_id, "p2p_game_interrupted", where)
            self.writer.submit(self.store.end_game, game.game_id, "interrupted", now)
            game.ended = "interrupted"
            self._changed(game)  # (servers with stand-ins of it forget it)
        self.games.clear()
        self.game_of.clear()

    # -- monitoring ----------------------------------------------------------------------------

    def monitor(self) -> list[dict[str, Any]]:
        """The running P2P games as the monitor shows games, plus their transport and RTT per peer pair."""
        now = time.time()
        return [game.monitor(now) for game in self.games.values() if game.host is None]
