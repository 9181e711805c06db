"""A P2P game as the server keeps it: its peers, their state, and how the game's record ends.

The server's part of a P2P game is small (`mug.server.sessions.p2p`): these are its data, apart
from the code that matches, signals and ends games, so the probe (`mug.server.sessions.p2p_probe`)
and the stand-ins of games kept by other servers (`mug.server.cluster.p2p_links`) use them too.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from mug.scenes import GymScene

__all__ = ["P2PGame", "Peer", "recorded_through"]


@dataclass
class Peer:
    """One participant of a P2P game: peer ``index`` plays human agent ``agent_id``."""

    index: int
    agent_id: str
    participant_id: str
    connected: bool = True
    away_timer: asyncio.TimerHandle | None = None
    dropped: bool = False
    outcome: str | None = None  # how this peer's page ended the game (completed, unverified, error, partner_left)
    status: dict[str, Any] | None = None  # its last p2p_status
    status_at: float | None = None

    @property
    def in_game(self) -> bool:
        """Still playing: neither dropped nor done with the game."""
        return not self.dropped and self.outcome is None


@dataclass
class P2PGame:
    """A P2P game of matched peers (or, with several servers, a stand-in of one another server keeps)."""

    game_id: str
    scene: GymScene
    seed: int
    peers: list[Peer]
    started_at: float = field(default_factory=time.time)
    ended: str | None = None  # the game record's outcome once ended
    #: The server keeping the game when this is a stand-in of it (`mug.server.cluster.p2p_links`); None: here.
    host: str | None = None
    #: Where each peer's page is connected, with several servers (participant -> server id); empty on one.
    servers: dict[str, str] = field(default_factory=dict)

    @property
    def session_tag(self) -> int:
        """A u32 naming the game in every netcode packet, so a stray packet of another game is dropped."""
        return int(self.game_id[:8], 16)

    def peer_of(self, participant_id: str) -> Peer | None:
        for peer in self.peers:
            if peer.participant_id == participant_id:
                return peer
        return None

    def outcome(self) -> str | None:
        """The game's outcome once every peer is done with it or dropped (None before)."""
        if any(p.in_game for p in self.peers):
            return None
        if all(p.dropped for p in self.peers):
            return "abandoned"
        outcomes = {p.outcome for p in self.peers if not p.dropped}
        if "error" in outcomes:
            return "error"
        if any(p.dropped for p in self.peers) or "partner_left" in outcomes:
            return "player_dropped"
        return "completed" if outcomes == {"completed"} else "unverified"

    def monitor(self, now: float) -> dict[str, Any]:
        """The game as the monitor shows games, plus its transport and RTT per peer pair."""
        scene = self.scene
        players = {
            p.participant_id: {
                "agent_id": p.agent_id, "peer": p.index, "connected": p.connected, "dropped": p.dropped,
                "outcome": p.outcome, "action": None,
                "status_age_s": None if p.status_at is None else round(now - p.status_at, 1),
                **({k: v for k, v in p.status.items() if k != "peers"} if p.status else {}),
            }
            for p in self.peers
        }  # fmt: skip
        links = []
        for a in self.peers:
            for b in self.peers[a.index + 1 :]:
                seen = {side.index: (side.status or {}).get("peers", {}).get(str(other.index))
                        for side, other in ((a, b), (b, a))}  # fmt: skip
                links.append({
                    "pair": [a.index, b.index],
                    "transport": {str(i): (s or {}).get("transport") for i, s in seen.items()},
                    "rtt_ms": {str(i): (s or {}).get("rtt_ms") for i, s in seen.items()},
                })  # fmt: skip
        frames = [p.status["frame"] for p in self.peers if p.status]
        return {
            "game_id": self.game_id,
            "scene_id": scene.scene_id,
            "mode": "p2p",
            "status": "running" if any(p.connected for p in self.peers if p.in_game) else "paused",
            "episode": None,
            "num_episodes": scene.num_episodes,
            "step": max(frames) if frames else 0,
            "max_steps": scene.max_steps,
            "players": players,
            "links": links,
            "outcome": None,
            "error": None,
            "tick_lateness_ms": None,
            "started_s_ago": round(now - self.started_at, 1),
        }


def recorded_through(progress: dict[str, Any]) -> dict[str, Any]:
    """The last step a peer's stored records reach, from `mug.data.Store.game_progress` of that peer.

    A page sends its records in order (steps, then the episode's record), so what is stored is a
    prefix: the episodes with a record, then the steps of the next one. Returns ``{"episode",
    "step", "closed"}``: the episode and step of the last stored step (episode 1, step 0 when there
    is none) and whether that episode's record is stored.
    """
    episodes = sorted(progress.get("episodes") or [], key=lambda e: e["episode"])
    in_records = sum(int(e.get("stored_steps") or 0) for e in episodes)
    rest = int(progress.get("steps") or 0) - in_records
    if rest > 0 or not episodes:
        return {"episode": (episodes[-1]["episode"] if episodes else 0) + 1, "step": max(rest, 0), "closed": False}
    last = episodes[-1]
    return {"episode": last["episode"], "step": int(last.get("stored_steps") or 0), "closed": True}
