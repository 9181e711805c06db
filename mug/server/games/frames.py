"""What a server-run game shows its players: render states with HUD text, sent as frames that carry
only what changed (one shared view, or one per player), and the game's status messages.

Apart from the tick loop (`mug.server.games.game`) because it is the game's whole output contract
with the page (docs/protocol.md: ``frame``, ``game_status``): what a frame holds and when it is full
can be read here without the loop's scheduling around it. Rendering runs on the game's worker
thread with the env (`_render_all`); sending runs on the event loop.

What a tick costs here is paid ~30 times a second per game, so the per-tick path avoids work:
the delta comes from `mug.server.games.delta.FrameDiffer` (RenderDiffer's output for less) and
the HUD text is not prepared when the scene has no HUD. A game process running 25 of the
benchmark's duel games (driven by a bare stand-in for the server process, 3 actions/s per player,
3 runs each way, load average 2.7-3.7 from other programs) took 447-456 µs of CPU per frame sent
before the delta, shared tick timers (`mug.server.games.ticks.sleep_until`) and this change, and
375-393 µs after (13.0-13.7 -> 10.8-11.6 thousandths of a core per game).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Protocol

from mug.scenes.assets import check_sprites
from mug.scenes.gym import GymScene, HudInfo
from mug.scenes.hud import format_hud, hud_score

if TYPE_CHECKING:
    from mug.env import EnvAdapter
    from mug.server.games.players import Player

__all__ = ["Channel", "GameFrames"]


class Channel(Protocol):
    """Where a game sends its messages: to all its players, or to one."""

    async def to_game(self, event: str, payload: dict[str, Any]) -> None: ...

    async def to_player(self, participant_id: str, event: str, payload: dict[str, Any]) -> None: ...


class GameFrames:
    """The output side of `ServerGame` (a mixin: it shares the game's attributes, declared below)."""

    # (set by ServerGame.__init__ and its loop)
    scene: GymScene
    game_id: str
    status: str
    episode: int
    step: int
    players: dict[str, Player]
    _channel: Channel
    _adapter: EnvAdapter | None
    _per_player_views: bool
    _shared_view: Player
    _anyone_here: asyncio.Event
    _returns: dict[str, float]
    _carried: dict[str, float]

    # -- worker-thread work (touches the env) ------------------------------------------------

    def _render_all(self) -> dict[str, tuple[dict[str, Any], str | None]]:
        """Full render states and HUD text: one shared view, or one per connected player."""
        assert self._adapter is not None
        hud = self._hud_text()
        if not self._per_player_views:
            frames = {"*": (self._adapter.render(), hud)}
        else:
            frames = {
                p.participant_id: (self._adapter.render(p.agent_id), hud) for p in self.players.values() if p.connected
            }
        if self.step == 0:  # an episode's first frame: its sprites name declared textures (docs/assets.md)
            for state, _ in frames.values():
                check_sprites(self.scene, state)
        return frames

    def _hud_text(self) -> str | None:
        hud, scene = self.scene.hud, self.scene
        if hud is None:  # (before the returns are copied: most scenes have no HUD, and this runs every tick)
            return None
        returns = dict(self._returns)
        if scene.hud_score_carry_over:
            returns = {a: self._carried.get(a, 0.0) + returns.get(a, 0.0) for a in {*self._carried, *returns}}
        if isinstance(hud, str):
            score = hud_score(returns, scene.human_agents)
            return format_hud(hud, score=score, episode=self.episode, num_episodes=scene.num_episodes,
                              step=self.step, max_steps=scene.max_steps)  # fmt: skip
        info = HudInfo(
            episode=self.episode,
            num_episodes=scene.num_episodes,
            step=self.step,
            max_steps=scene.max_steps,
            returns=returns,
            env=self._adapter.env if self._adapter else None,
        )
        return str(hud(info))

    # -- sending ---------------------------------------------------------------------------

    async def _send_frames(self, frames: dict[str, tuple[dict[str, Any], str | None]]) -> None:
        if not self._anyone_here.is_set():
            return
        for target, (state, hud) in frames.items():
            view = self._shared_view if target == "*" else self.players.get(target)
            if view is None or (target != "*" and not view.connected):
                continue
            frame: dict[str, Any] = {
                "scene_id": self.scene.scene_id,
                "game_id": self.game_id,
                "episode": self.episode,
                "step": self.step,
                "state": view.differ.diff(state),
            }
            if view.full_next:
                frame["full"] = True
                view.full_next = False
            if hud != view.last_hud:
                frame["hud"] = hud
                view.last_hud = hud
            if target == "*":
                await self._channel.to_game("frame", frame)
            else:
                await self._channel.to_player(target, "frame", frame)

    def _status_payload(self, status: str, **extra: Any) -> dict[str, Any]:
        return {
            "scene_id": self.scene.scene_id,
            "game_id": self.game_id,
            "status": status,
            "episode": self.episode,
            "num_episodes": self.scene.num_episodes,
            **extra,
        }

    async def _set_status(self, status: str, **extra: Any) -> None:
        self.status = status
        await self._channel.to_game("game_status", self._status_payload(status, **extra))
