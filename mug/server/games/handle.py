"""`GameHandle`: what the session layer may do with a server-run game, wherever the game runs.

A game runs in the server's own process (`mug.server.games.game.ServerGame`) or in a game
process, where the server holds a stand-in for it (`mug.server.games.processes.parent.RemoteGame`).
Sessions, the monitor and the server's stats use only what this protocol declares, so either
kind serves, and a test checks that both keep it (tests/server/test_game_handle.py).
"""

from __future__ import annotations

from collections import deque
from typing import Any, Protocol, runtime_checkable

from mug.scenes.gym import GymScene


@runtime_checkable
class GameHandle(Protocol):
    """A server-run game as the session layer sees it."""

    game_id: str
    scene: GymScene
    status: str  # starting, running, resetting, paused, done, error
    outcome: str | None  # how it ended (None while it runs)
    error: str | None  # the error that ended it, if one did
    episode: int
    step: int
    players: dict[str, Any]  # participant id -> that player's state (it has `agent_id`)
    dropped: list[str]  # participants dropped after the grace period
    lateness_ms: deque[float]  # tick lateness samples, for the server's stats

    @property
    def participant_ids(self) -> list[str]:
        """The participants playing, in the order of the game's agents."""
        ...

    def start(self) -> None:
        """Start running (on the server's loop)."""
        ...

    async def cancel(self) -> None:
        """Stop the game (server shutdown); it is recorded as aborted."""
        ...

    def submit_action(self, participant_id: str, action: Any) -> str | None:
        """Take a player's action; returns why it is refused, or None."""
        ...

    def connection_lost(self, participant_id: str) -> None:
        """The player's page went away (their agent takes the default action until they return)."""
        ...

    def connection_restored(self, participant_id: str) -> None:
        """The player is back within the grace period."""
        ...

    def snapshot(self, participant_id: str | None = None) -> dict[str, Any]:
        """Where the game is, for the scene spec a (re)joining page receives."""
        ...
