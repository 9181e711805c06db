"""The P2P probe: before a proposed P2P group plays, its pages measure their round trips to each other.

With a matchmaker's ``max_p2p_rtt_ms`` set, a group proposed for a P2P scene does not start at
once. Each member's page gets ``p2p_probe`` (a probe id, its peer index, the ICE servers): the
pages open their DataChannels to each other exactly as for a game (signaling through the server,
scoped by the probe id), ping each partner a few times over the channel and answer with
``p2p_probe_result``: the median round trip per partner, or null when no DataChannel opened. A
pair's round trip is the larger of the two sides' figures. When every member answered (or after
the connect timeout and `PROBE_SLACK_S`), the group plays if every pair is within the bound;
otherwise it is dissolved: its members go back to the front of the queue with their deadlines,
the pairs over the bound (or without a channel) are never proposed together again, and the next
matching pass goes on. Each outcome is a ``match_probe`` event in the match log.

Why the game's own transport and not a separate test connection: the figure is then the one the
game would have (same ICE servers, same relay policy), and the page code is the game's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mug.scenes import GymScene
from mug.server.sessions.p2p_game import P2PGame, Peer
from mug.server.sessions.waitroom import Proposal, Waiter, Waitroom
from mug.server.web.protocol import P2PProbeResult, ProtocolError

if TYPE_CHECKING:
    from mug.server.sessions.matching import Matching

#: Pings each page sends each partner over the DataChannel (the median is its figure).
PROBE_PINGS = 5
#: Ended probes remembered (their pages' last signals and packets are dropped quietly).
ENDED_KEPT = 1_000
#: Seconds a probe waits beyond the scene's p2p_connect_timeout_s for every member's answer.
PROBE_SLACK_S = 10.0


@dataclass
class Probe:
    """A proposed P2P group measuring its round trips (`game` holds its peers; its id is the probe's)."""

    game: P2PGame
    room: Waitroom
    proposal: Proposal
    waiters: list[Waiter]
    waited: dict[str, float]
    started: float = field(default_factory=time.monotonic)
    results: dict[int, dict[int, float | None]] = field(default_factory=dict)
    timer: asyncio.TimerHandle | None = None
    done: bool = False


class P2PProbes:
    """The probes under way on a server (their signaling goes through `P2PGames`, which looks them up here)."""

    def __init__(self, matching: Matching) -> None:
        self.matching = matching
        self.sessions = matching.sessions
        self.writer = matching.writer
        self.probes: dict[str, Probe] = {}
        self._ended: dict[str, frozenset[str]] = {}  # probe id -> its members

    def of(self, probe_id: str) -> P2PGame | None:
        """A running probe's peers, for the signaling and relay of its pages."""
        probe = self.probes.get(probe_id)
        return None if probe is None else probe.game

    def ended_with(self, probe_id: str, participant_id: str) -> bool:
        """Whether `participant_id` was in the probe `probe_id`, which has ended."""
        return participant_id in self._ended.get(probe_id, ())

    async def start(
        self, room: Waitroom, scene: GymScene, proposal: Proposal, waiters: list[Waiter], waited: dict[str, float]
    ) -> None:
        """Send every member of a proposed group its part of a probe; the group decides when it ends."""
        probe_id = uuid.uuid4().hex
        humans = scene.human_agents
        peers = [Peer(i, agent, pid) for i, (agent, pid) in enumerate(zip(humans, proposal.members, strict=True))]
        game = P2PGame(probe_id, scene, 0, peers)
        probe = Probe(game, room, proposal, waiters, waited)
        self.probes[probe_id] = probe
        opts = scene.multiplayer_options
        assert opts is not None and opts.matchmaker is not None
        timeout = opts.p2p_connect_timeout_s + PROBE_SLACK_S
        probe.timer = asyncio.get_running_loop().call_later(
            timeout, lambda: self.sessions.spawn(self._finish(probe, f"not every page answered within {timeout:g} s"))
        )
        payload = self.sessions.p2p.payload(game, peers[0])
        for peer in peers:
            message = {
                "scene_id": scene.scene_id,
                "probe_id": probe_id,
                "peer": peer.index,
                "peers": [p.index for p in peers],
                "ice_servers": payload["ice_servers"],
                "force_relay": payload["force_relay"],
                "connect_timeout_s": opts.p2p_connect_timeout_s,
                "pings": PROBE_PINGS,
                "test_hooks": payload["test_hooks"],
            }
            await self.sessions.send_to(peer.participant_id, "p2p_probe", message)
        for peer in peers:  # (a page that went away as the probe began cannot answer)
            if not self._present(peer.participant_id):
                self.results_of(probe, peer, {})

    def results_of(self, probe: Probe, peer: Peer, rtts: dict[int, float | None]) -> None:
        probe.results[peer.index] = {p.index: rtts.get(p.index) for p in probe.game.peers if p is not peer}

    async def result(self, participant_id: str, message: P2PProbeResult) -> None:
        """A page's figures (``p2p_probe_result``); the probe ends once every member answered."""
        probe = self.probes.get(message.game_id)
        links = self.sessions.p2p.links
        if probe is None and links is not None and links.forwards(participant_id, message.game_id):
            links.forward(participant_id, "p2p_probe_result", dataclasses.asdict(message))
            return  # (its probe runs at the waitroom's home, on another server)
        peer = probe.game.peer_of(participant_id) if probe else None
        if probe is None or peer is None:
            raise ProtocolError(f"'p2p_probe_result': no probe {message.game_id[:40]!r} with this participant")
        for other in message.rtt_ms:
            if other == peer.index or other >= len(probe.game.peers):
                raise ProtocolError(f"'p2p_probe_result' peer {other} is not a partner in this probe")
        self.results_of(probe, peer, message.rtt_ms)
        if len(probe.results) == len(probe.game.peers):
            await self._finish(probe, None)

    async def left(self, participant_id: str) -> None:
        """A member's page went away during a probe: it ends now, without that member's figures."""
        for probe in list(self.probes.values()):
            peer = probe.game.peer_of(participant_id)
            if peer is not None and not probe.done:
                self.results_of(probe, peer, {})
                await self._finish(probe, f"{participant_id!r} left during the probe")

    async def _finish(self, probe: Probe, why: str | None) -> None:
        if probe.done:
            return
        probe.done = True
        if probe.timer is not None:
            probe.timer.cancel()
        self.probes.pop(probe.game.game_id, None)
        self._ended[probe.game.game_id] = frozenset(p.participant_id for p in probe.game.peers)
        while len(self._ended) > ENDED_KEPT:
            del self._ended[next(iter(self._ended))]
        scene = probe.game.scene
        opts = scene.multiplayer_options
        assert opts is not None and opts.matchmaker is not None and opts.matchmaker.max_p2p_rtt_ms is not None
        bound = opts.matchmaker.max_p2p_rtt_ms
        peers = probe.game.peers
        pairs: dict[str, float | None] = {}
        failed: list[tuple[str, str]] = []
        for a in peers:
            for b in peers[a.index + 1 :]:
                sides = [probe.results.get(a.index, {}).get(b.index), probe.results.get(b.index, {}).get(a.index)]
                known = [s for s in sides if s is not None]
                rtt = max(known) if known else None
                pairs[f"{a.participant_id}|{b.participant_id}"] = rtt
                if rtt is None or rtt > bound:
                    failed.append((a.participant_id, b.participant_id))
        members = probe.proposal.members
        here = [w for w in probe.waiters if self._present(w.participant_id)]
        play = not failed and len(here) == len(members)
        reasons = [f"{a}–{b}: " + ("no DataChannel" if pairs[f"{a}|{b}"] is None else f"{pairs[f'{a}|{b}']:.0f} ms")
                   for a, b in failed]  # fmt: skip
        reason = (
            f"every pair within {bound:g} ms"
            if play
            else why or f"over the bound of {bound:g} ms or without a channel: {'; '.join(reasons)}"
        )
        entry = {
            "probe_id": probe.game.game_id,
            "members": members,
            "p2p_rtt_ms": pairs,
            "max_p2p_rtt_ms": bound,
            "took_s": round(time.monotonic() - probe.started, 2),
            "decision": "play" if play else "dissolved",
            "reason": reason,
        }
        self.writer.event(None, scene.scene_id, "match_probe", entry)
        room = probe.room
        if play:
            room.started(members)
            await self.matching.start_p2p(scene, members, probe.waited)
            return
        present = {w.participant_id for w in here}
        for a, b in failed:  # (a pair with someone who left is not to blame: they may come back)
            if a in present and b in present:
                room.avoid([a, b])
        room.put_back(here)
        if here:
            await self.matching.broadcast(room)
            await self.matching.run_pass(room, scene)
            self.matching.keep_matching(room, scene)

    def _present(self, participant_id: str) -> bool:
        """Whether the member's page is connected: here, or to a server it waits here through."""
        shared = self.matching.shared
        if participant_id in self.sessions.sid_of:
            return True
        return shared is not None and participant_id in shared.remote_waiters

    def shutdown(self) -> None:
        for probe in self.probes.values():
            probe.done = True
            if probe.timer is not None:
                probe.timer.cancel()
        self.probes.clear()

    def status(self) -> list[dict[str, Any]]:
        """The probes under way (for the monitor)."""
        now = time.monotonic()
        return [
            {"probe_id": p.game.game_id, "scene_id": p.game.scene.scene_id, "members": p.proposal.members,
             "answered": sorted(p.results), "age_s": round(now - p.started, 1)}
            for p in self.probes.values()
        ]  # fmt: skip
