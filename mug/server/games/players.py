"""A server-run game's players: who plays which agent, which actions they may send, and what happens
when a player's page goes away, comes back, or stays away past the grace period.

Apart from the tick loop (`mug.server.games.game`) because this is the part other kinds of game
share: a game process's stand-in (`mug.server.games.processes.parent`) and a game on another server
(`mug.server.cluster.linked`) check actions and describe the game with the same two functions,
`check_action` and `game_snapshot`. Everything here runs on the server's event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mug.scenes.gym import GymScene
from mug.server.games.delta import FrameDiffer
from mug.server.web.protocol import action_key

if TYPE_CHECKING:
    from mug.scenes.multiplayer import MultiplayerOptions
    from mug.server.games.frames import Channel
    from mug.server.writer import StoreWriter

__all__ = ["MISSING", "GameEnded", "Player", "PlayerBookkeeping", "check_action", "game_snapshot"]

#: A player's pending action when there is none (None is an action an env may take).
MISSING = object()


class GameEnded(Exception):
    """The game ends early (all players gone, or a player dropped and the scene ends the game)."""

    def __init__(self, outcome: str) -> None:
        super().__init__(outcome)
        self.outcome = outcome


@dataclass
class Player:
    """A participant playing one agent of a game."""

    agent_id: str
    participant_id: str
    held: Any
    pending: Any = MISSING
    connected: bool = True
    dropped: bool = False
    drop_timer: asyncio.TimerHandle | None = None
    differ: FrameDiffer = field(default_factory=FrameDiffer)
    full_next: bool = True
    last_hud: str | None = None


def game_snapshot(game: Any, participant_id: str | None) -> dict[str, Any]:
    """Where a game (a `ServerGame`, or its stand-in in the server process) is, for a (re)joining client."""
    snap: dict[str, Any] = {
        "game_id": game.game_id,
        "status": game.status,
        "episode": game.episode,
        "step": game.step,
        "players": len(game.players),
    }
    if participant_id in game.players:
        snap["agent_id"] = game.players[participant_id].agent_id
    return snap


def check_action(scene: GymScene, allowed: dict[Any, Any], player: Any, action: Any) -> tuple[str | None, Any]:
    """Whether `player` (a `Player`, or None if not in the game) may send `action`: (problem, the scene's action).

    `allowed` maps `action_key` of each of the scene's actions to the action itself.
    """
    if player is None or player.dropped:
        return "you are not a player of this game", None
    if player.agent_id not in scene.policy_mapping:
        return "you do not control an agent in this game", None
    original = allowed.get(action_key(action), MISSING)
    if original is MISSING:
        return f"action {action!r} is not one of this scene's actions", None
    return None, original


class PlayerBookkeeping:
    """The players' side of `ServerGame` (a mixin: it shares the game's attributes, declared below).

    Actions arrive here between ticks and are taken once per tick (`_human_actions`); a player whose
    connection drops plays the default action until they return, and is dropped when the grace
    period ends (the game then goes on, or ends, as the scene's multiplayer options say).
    """

    # (set by ServerGame.__init__)
    scene: GymScene
    game_id: str
    status: str
    outcome: str | None
    writer: StoreWriter
    players: dict[str, Player]
    dropped: list[str]
    _grace: float
    _multi: MultiplayerOptions | None
    _allowed: dict[Any, Any]
    _anyone_here: asyncio.Event
    _end: str | None
    _shared_view: Player
    _on_dropped: Callable[[Any, str], Awaitable[None]] | None
    _channel: Channel

    if TYPE_CHECKING:  # (declared for readers and type checkers; the game's class defines them)

        def _spawn(self, coro: Coroutine[Any, Any, None]) -> None: ...

        def _status_payload(self, status: str, **extra: Any) -> dict[str, Any]: ...

    @property
    def participant_ids(self) -> list[str]:
        return list(self.players)

    def submit_action(self, participant_id: str, action: Any) -> str | None:
        """Take a player's action for their own agent; returns an error message if it is not allowed."""
        player = self.players.get(participant_id)
        problem, original = check_action(self.scene, self._allowed, player, action)
        if problem is not None or player is None:
            return problem  # (player is None only with a problem; the test narrows its type)
        if self.scene.input_mode == "single_keystroke":
            player.pending = original
        else:
            player.held = original
        return None

    def connection_lost(self, participant_id: str) -> None:
        """The player's page went away: their agent takes the default action until they return."""
        player = self.players.get(participant_id)
        if player is None or player.dropped or not player.connected or self.outcome is not None:
            return  # (a game that is finishing hands its players on; a late disconnect drops nobody)
        player.connected = False
        player.held = self.scene.default_action
        player.pending = MISSING
        player.drop_timer = asyncio.get_running_loop().call_later(self._grace, self._drop, participant_id)
        if not any(p.connected for p in self.players.values()):
            self._anyone_here.clear()
        self._spawn(self._notify_away(player, back=False))

    def connection_restored(self, participant_id: str) -> None:
        """The player is back within the grace period; the next frame they get is a full frame."""
        player = self.players.get(participant_id)
        if player is None or player.dropped:
            return
        if player.drop_timer is not None:
            player.drop_timer.cancel()
            player.drop_timer = None
        was_away = not player.connected
        player.connected = True
        player.full_next = True
        player.last_hud = None
        player.differ.reset()
        self._shared_view.full_next = True  # shared views: everyone gets a full frame (harmless)
        self._shared_view.differ.reset()
        self._shared_view.last_hud = None
        self._anyone_here.set()
        if was_away:
            self._spawn(self._notify_away(player, back=True))

    def _drop(self, participant_id: str) -> None:
        if self.outcome is not None:
            return
        player = self.players[participant_id]
        player.dropped = True
        player.drop_timer = None
        self.dropped.append(participant_id)
        self.writer.event(
            participant_id,
            self.scene.scene_id,
            "player_dropped",
            {"game_id": self.game_id, "agent_id": player.agent_id, "grace_s": self._grace},
        )
        if self._on_dropped is not None and len(self.players) > 1:
            self._spawn(self._on_dropped(self, participant_id))
        remaining = [p for p in self.players.values() if not p.dropped]
        if not remaining:
            self._end = "abandoned"
        elif self._multi and self._multi.on_player_drop == "end_game":
            self._end = "player_dropped"
        else:
            message = "A player left; the game goes on without them."
            self._spawn(self._channel.to_game("game_status", self._status_payload(self.status, message=message)))
        self._anyone_here.set()  # wake a paused loop so it sees the end

    async def _notify_away(self, player: Player, *, back: bool) -> None:
        if len(self.players) < 2:
            return
        message = (
            "Your partner is back."
            if back
            else f"Your partner's connection dropped; waiting up to {self._grace:.0f} s for them to return."
        )
        for other in self.players.values():
            if other is not player and other.connected:
                await self._channel.to_player(
                    other.participant_id, "game_status", self._status_payload(self.status, message=message)
                )

    def _human_actions(self) -> dict[str, Any]:
        """Each player's action for this tick (taken on the loop, where actions arrive)."""
        keep_previous = self.scene.action_population_method == "previous_submitted_action"
        actions: dict[str, Any] = {}
        for player in self.players.values():
            if player.agent_id not in self.scene.policy_mapping:
                continue  # a viewer of a game without human agents
            if player.pending is not MISSING:
                actions[player.agent_id], player.pending = player.pending, MISSING
                if keep_previous:
                    player.held = actions[player.agent_id]
            else:
                actions[player.agent_id] = player.held
        return actions
