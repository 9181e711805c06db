"""`LinkedGame`: a server-run game that runs on another server, as the server of its player sees it.

With several servers behind a load balancer, a player may be connected to one server while their
game runs on another (they came back through the load balancer to a different server, or were
matched with participants of another server). The player's server keeps its sessions as for any
game (`mug.server.games.handle.GameHandle`): this stand-in takes the player's actions and
connection changes to the game's server over the servers' bus (`mug.server.cluster.relay`), and
learns from it where the game is and how it ended. ``participant_ids`` are the players connected
here: the game's end moves on only those; the game's own server moves on its own.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from mug.scenes.gym import GymScene
from mug.server.games.players import check_action, game_snapshot
from mug.server.games.processes.parent import RemotePlayer
from mug.server.web.protocol import action_key

__all__ = ["LinkedGame"]


class LinkedGame:
    """This server's view of a game that runs on server ``host`` (the `GameHandle` surface)."""

    def __init__(
        self,
        host: str,
        scene: GymScene,
        game_id: str,
        players: dict[str, str],
        *,
        send: Callable[[dict[str, Any]], None],
        on_finished: Callable[[LinkedGame], Awaitable[None]],
        on_dropped: Callable[[LinkedGame, str], Awaitable[None]],
    ) -> None:
        self.host = host
        self.scene = scene
        self.game_id = game_id
        self.players = {pid: RemotePlayer(agent, pid) for agent, pid in players.items()}
        self.local: list[str] = []  # the players connected to this server
        self.status = "running"
        self.episode = 0
        self.step = 0
        self.outcome: str | None = None
        self.error: str | None = None
        self.dropped: list[str] = []
        self.lateness_ms: deque[float] = deque(maxlen=1)  # (ticks are measured on the game's server)
        self._allowed = {action_key(a): a for a in scene.allowed_actions()}
        self._send = send
        self._on_finished = on_finished
        self._on_dropped = on_dropped

    @property
    def participant_ids(self) -> list[str]:
        return list(self.local)

    def start(self) -> None:
        """(It runs on its own server already.)"""

    async def cancel(self) -> None:
        """This server stops: its players' connections go with it, and the game's server sees them go."""
        for pid in self.local:
            self._send({"t": "lost", "game": self.game_id, "pid": pid})

    def submit_action(self, participant_id: str, action: Any) -> str | None:
        if participant_id not in self.local:
            return "you are not a player of this game"
        problem, _ = check_action(self.scene, self._allowed, self.players.get(participant_id), action)
        if problem is not None:
            return problem
        self._send({"t": "action", "game": self.game_id, "pid": participant_id, "action": action})
        self.players[participant_id].held = action
        return None

    def connection_lost(self, participant_id: str) -> None:
        if participant_id in self.local:
            self.players[participant_id].connected = False
            self._send({"t": "lost", "game": self.game_id, "pid": participant_id})

    def connection_restored(self, participant_id: str) -> None:
        """(A player coming back to this server attaches again: `Relay.attach` tells the game's server.)"""
        if participant_id in self.players:
            self.players[participant_id].connected = True

    def snapshot(self, participant_id: str | None = None) -> dict[str, Any]:
        return game_snapshot(self, participant_id)

    # -- from the game's server ------------------------------------------------------------------

    def mirror(self, state: dict[str, Any]) -> None:
        """Where the game is now (status, episode, step), as its server said with a frame."""
        self.status = state.get("status", self.status)
        self.episode = state.get("episode", self.episode)
        self.step = state.get("step", self.step)

    async def dropped_player(self, participant_id: str) -> None:
        player = self.players.get(participant_id)
        if player is not None and not player.dropped:
            player.dropped = True
            self.dropped.append(participant_id)
            if participant_id in self.local:
                await self._on_dropped(self, participant_id)

    async def finished(self, outcome: str | None, dropped: list[str], error: str | None) -> None:
        self.outcome, self.error, self.status = outcome, error, "error" if outcome == "error" else "done"
        for pid in dropped:
            if pid in self.players and pid not in self.dropped:
                self.players[pid].dropped = True
                self.dropped.append(pid)
        await self._on_finished(self)
