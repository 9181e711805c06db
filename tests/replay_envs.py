"""Envs for the replay tests: deterministic given their seed, or nondeterministic on purpose."""

from __future__ import annotations

import itertools
import random
from typing import Any

from mug import GymScene
from mug.env import Surface
from mug.env.spaces import Discrete

_LAST_BITS_GLITCHES = itertools.count(1)


class Drift:
    """A dot pushed left/right by the player and by a seeded gust each step; observations [x, gust].

    ``glitch_at``: at that step the env reads an unseeded random number (a nondeterminism on
    purpose) into its reward (``glitch="reward"``) or into the gust it observes (``"observation"``);
    or it moves the last bits of its reward (``"last_bits"``) by a count of glitches kept in the
    process, which no seed restores: every such glitch in one process differs from every other by
    at least a few units in the last place, and by far less than 1e-12.
    """

    def __init__(self, length: int = 30, glitch_at: int | None = None, glitch: str = "reward") -> None:
        self.length, self.glitch_at, self.glitch = length, glitch_at, glitch
        self.surface = Surface(400, 200)
        self.action_space = Discrete(3)

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[list[float], dict]:
        self.rng = random.Random(seed)
        self.x, self.t, self.gust = 0.5, 0, 0.0
        return [self.x, self.gust], {}

    def step(self, action: int) -> tuple[list[float], float, bool, bool, dict]:
        self.t += 1
        self.gust = round(self.rng.uniform(-0.01, 0.01), 6)
        reward = float(action == 2) + self.gust
        self.x = min(1.0, max(0.0, self.x + {0: 0.0, 1: -0.02, 2: 0.02}[action] + self.gust))
        if self.t == self.glitch_at:
            if self.glitch == "reward":
                reward += random.SystemRandom().random()
            elif self.glitch == "last_bits":  # as a math function rounding differently elsewhere would
                # A random draw this small has only a few dozen distinct results (a replay could draw
                # the recorded one); the process-wide count never repeats.
                reward += next(_LAST_BITS_GLITCHES) * 2**-50 * max(abs(reward), 1.0)
            else:
                self.gust += random.SystemRandom().random()
        return [self.x, self.gust], reward, self.t >= self.length, False, {"t": self.t, "x": round(self.x, 6)}

    def render(self) -> dict[str, Any]:
        self.surface.rect(0, 0, 1, 1, fill="#f0f0ff", id="background")
        self.surface.circle(self.x, 0.5, 0.05, fill="#d03030", id="dot")
        self.surface.text(0.02, 0.02, f"t={self.t}", size=14)
        return self.surface.commit()


def drift_scene(scene_id: str = "drift", *, episodes: int = 2, **env_config: Any) -> GymScene:
    return (
        GymScene()
        .scene(scene_id)
        .environment(env_creator=Drift, env_config=env_config, seed=11)
        .rendering(fps=60, game_width=400, game_height=200, hud=lambda info: f"episode {info.episode} step {info.step}")
        .gameplay(
            action_mapping={"ArrowLeft": 1, "ArrowRight": 2}, default_action=0, num_episodes=episodes,
            record_observations=True,
        )
        .policies(policy_mapping={"walker": "human"})
    )
