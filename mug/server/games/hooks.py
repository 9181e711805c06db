"""Runs a server-run game's hooks (``gameplay(callback=...)``, `mug.scenes.hooks`) and keeps what they record.

Why apart from `mug.server.games.game`: researcher code fails in its own ways, and the game must
not. Every hook call goes through `GameHooks.call`, which catches what it raises: the first
failure of each hook in a game is logged once and recorded with its traceback (event
``callback_error``); later failures of the same hook are counted, and the count is recorded when
the game ends. The game goes on.

Threading: the hooks are called where the env is touched (the game's worker thread, or the loop
while its steps are quick, see `mug.server.games.placement`), never two at once for one game.
What they record is collected on the context and written by `flush`, which runs on the loop.
"""

from __future__ import annotations

import logging
import traceback
from typing import TYPE_CHECKING, Any

from mug.scenes.hooks import GameContext

if TYPE_CHECKING:
    from mug.scenes.gym import GymScene
    from mug.server.writer import StoreWriter

log = logging.getLogger("mug.server.games.hooks")


class GameHooks:
    """The hooks of one game, with its context; inert when the scene has none."""

    def __init__(self, scene: GymScene, game_id: str, players: dict[str, str], participant_id: str | None) -> None:
        self.callbacks = scene.callbacks
        self.scene_id = scene.scene_id
        self.participant_id = participant_id  # whom the events are filed under (None: several players)
        self.ctx = GameContext(game_id, scene.scene_id, players, list(scene.policy_mapping))
        self.ctx.num_episodes = scene.num_episodes
        self.ctx.max_steps = scene.max_steps
        self._failures: dict[tuple[str, str], int] = {}  # (callback class, hook) -> how many times
        self._last_error: dict[tuple[str, str], str] = {}
        self._errors: list[dict[str, Any]] = []

    @property
    def active(self) -> bool:
        return bool(self.callbacks)

    def call(self, hook: str) -> None:
        """Call `hook` of every callback (in order) with the context; failures are caught and kept."""
        ctx = self.ctx
        for callback in self.callbacks:
            method = getattr(callback, hook, None)
            if method is None:
                continue
            ctx.hook = hook
            try:
                method(ctx)
            except Exception as exc:
                self._failed(hook, callback, exc)

    def _failed(self, hook: str, callback: Any, exc: Exception) -> None:
        key = (type(callback).__qualname__, hook)
        error = f"{type(exc).__name__}: {exc}"
        count = self._failures.get(key, 0) + 1
        self._failures[key] = count
        self._last_error[key] = error
        if count > 1:
            return
        log.warning(
            "game %s (scene %s): %s.%s raised; the game goes on (recorded as a callback_error event)\n%s",
            self.ctx.game_id, self.scene_id, key[0], hook, traceback.format_exc(),
        )  # fmt: skip
        self._errors.append(
            {
                "game_id": self.ctx.game_id,
                "hook": hook,
                "callback": key[0],
                "episode": self.ctx.episode,
                "step": self.ctx.step,
                "error": error,
                "traceback": traceback.format_exc(),
            }
        )

    def flush(self, writer: StoreWriter) -> None:
        """Write what the hooks recorded and their first failures (on the loop, after a hook call)."""
        for data in self.ctx.take_records():
            writer.event(self.participant_id, self.scene_id, "callback", data)
        errors, self._errors = self._errors, []
        for data in errors:
            writer.event(self.participant_id, self.scene_id, "callback_error", data)

    def summarise(self, writer: StoreWriter) -> None:
        """At the game's end: how often each hook that failed more than once failed in all."""
        self.flush(writer)
        for (callback, hook), count in self._failures.items():
            if count > 1:
                writer.event(
                    self.participant_id, self.scene_id, "callback_error",
                    {"game_id": self.ctx.game_id, "hook": hook, "callback": callback, "failures": count,
                     "error": self._last_error[callback, hook]},
                )  # fmt: skip

    # -- what the game tells its hooks (on the thread that touches the env) -------------------

    def episode_started(self, episode: int, observations: dict[str, Any]) -> None:
        ctx = self.ctx
        ctx.episode, ctx.step, ctx.outcome = episode, 0, None
        ctx.actions, ctx.rewards, ctx.terminated, ctx.truncated, ctx.infos = {}, {}, {}, {}, {}
        ctx.observations = observations
        ctx.returns = {a: 0.0 for a in ctx.agents}
        self.call("on_episode_start")

    def stepped(self, step: int, actions: dict[str, Any], result: Any, returns: dict[str, float]) -> None:
        ctx = self.ctx
        ctx.step = step
        ctx.actions = actions
        ctx.rewards, ctx.terminated, ctx.truncated = result.rewards, result.terminated, result.truncated
        ctx.infos, ctx.observations = result.infos, result.observations
        ctx.returns = dict(returns)
        self.call("on_step")

    def episode_ended(self, outcome: str, returns: dict[str, float]) -> None:
        self.ctx.outcome = outcome
        self.ctx.returns = dict(returns)
        self.call("on_episode_end")

    def game_ended(self, outcome: str) -> None:
        self.ctx.outcome = outcome
        self.call("on_game_end")
