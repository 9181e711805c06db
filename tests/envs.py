"""Small envs used by the tests (the demo's Catch lives in mug.env.examples)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mug import GymScene
from mug.env import Surface
from mug.env.spaces import Discrete


class Walk:
    """A dot walking left/right; an episode lasts `length` steps. Drawn with Surface."""

    def __init__(self, length: int = 60, fail_at: int | None = None) -> None:
        self.length = length
        self.fail_at = fail_at
        self.surface = Surface(400, 200)
        self.action_space = Discrete(3)

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[list[float], dict]:
        self.x, self.t = 0.5, 0
        return [self.x], {}

    def step(self, action: int) -> tuple[list[float], float, bool, bool, dict]:
        self.t += 1
        if self.fail_at is not None and self.t >= self.fail_at:
            raise RuntimeError("the walk fell over")
        self.x = min(1.0, max(0.0, self.x + {0: 0.0, 1: -0.01, 2: 0.01}[action]))
        return [self.x], float(action == 2), self.t >= self.length, False, {"x": round(self.x, 3)}

    def render(self) -> dict[str, Any]:
        self.surface.rect(0, 0, 1, 1, fill="#f0f0ff", id="background")
        self.surface.circle(self.x, 0.5, 0.03, fill="#d03030", id="dot")
        self.surface.text(0.02, 0.02, f"t={self.t}", size=14)
        return self.surface.commit()


class PixelWalk(Walk):
    """The same walk drawn only as an RGB frame (render_mode="rgb_array"), like many Gymnasium envs."""

    render_mode = "rgb_array"

    def render(self) -> np.ndarray:  # type: ignore[override]
        frame = np.full((60, 120, 3), 240, dtype=np.uint8)
        col = int(self.x * 119)
        frame[25:35, max(0, col - 3) : col + 3] = (200, 40, 40)
        return frame


def walk_scene(scene_id: str = "walk", env: type = Walk, **env_config: Any) -> GymScene:
    return (
        GymScene()
        .scene(scene_id)
        .environment(env_creator=env, env_config=env_config, seed=1)
        .rendering(fps=30, game_width=400, game_height=200)
        .gameplay(action_mapping={"ArrowLeft": 1, "ArrowRight": 2}, default_action=0, num_episodes=1)
        .policies(policy_mapping={"walker": "human"})
    )


class BrokenStep(Walk):
    """Breaks the contract: step returns the old Gym 4-tuple."""

    def step(self, action: int):  # type: ignore[override]
        obs, reward, terminated, _, info = super().step(action)
        return obs, reward, terminated, info
