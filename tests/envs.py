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


class Race:
    """A PettingZoo-parallel env: each agent moves its own runner right (action 2) or left (1).

    The episode ends after `length` steps. With an agent id, render() draws only that agent's runner
    (per-player views); without one it draws every runner.
    """

    def __init__(self, agents: tuple[str, ...] = ("red", "blue"), length: int = 60) -> None:
        self.possible_agents = list(agents)
        self.agents = list(agents)
        self.length = length
        self.surface = Surface(400, 200)

    def action_space(self, agent: str) -> Discrete:
        return Discrete(3)

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        self.t = 0
        self.pos = {a: 0.1 for a in self.possible_agents}
        return {a: [p] for a, p in self.pos.items()}, {a: {} for a in self.possible_agents}

    def step(self, actions: dict[str, int]) -> tuple[dict, dict, dict, dict, dict]:
        self.t += 1
        for agent, action in actions.items():
            self.pos[agent] = round(min(1.0, max(0.0, self.pos[agent] + {0: 0, 1: -0.01, 2: 0.01}[action])), 4)
        done = self.t >= self.length
        obs = {a: [p] for a, p in self.pos.items()}
        rewards = {a: float(actions[a] == 2) for a in self.possible_agents}
        flags = {a: done for a in self.possible_agents}
        infos = {a: {"pos": self.pos[a]} for a in self.possible_agents}
        return obs, rewards, flags, {a: False for a in self.possible_agents}, infos

    def describe(self) -> str:
        return " ".join(f"{a}={p:.2f}" for a, p in self.pos.items())

    def render(self, agent_id: str | None = None) -> dict[str, Any]:
        shown = self.possible_agents if agent_id is None else [agent_id]
        colors = ["#d03030", "#3050d0", "#30a050", "#a07020"]
        for i, agent in enumerate(self.possible_agents):
            if agent in shown:
                y = 0.2 + 0.6 * i / max(1, len(self.possible_agents) - 1)
                self.surface.circle(self.pos[agent], y, 0.03, fill=colors[i % 4], id=f"runner-{agent}")
        if agent_id is not None:
            self.surface.text(0.02, 0.02, f"you are {agent_id}", size=14, id="whoami")
        return self.surface.commit()


def race_scene(
    scene_id: str = "race",
    agents: tuple[str, ...] = ("red", "blue"),
    length: int = 60,
    bots: dict[str, Any] | None = None,
) -> GymScene:
    mapping = {a: "human" for a in agents}
    mapping.update(bots or {})
    all_agents = tuple(mapping)
    return (
        GymScene()
        .scene(scene_id)
        .environment(env_creator=Race, env_config={"agents": all_agents, "length": length}, seed=3)
        .rendering(fps=30, game_width=400, game_height=200, hud=lambda info: info.env.describe())
        .gameplay(action_mapping={"ArrowLeft": 1, "ArrowRight": 2}, default_action=0)
        .policies(policy_mapping=mapping)
        .multiplayer()
    )
