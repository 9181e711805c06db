"""Mountain Car in pure Python: the env a participant's browser runs (examples/mountain_car.py).

The classic-control task (Moore, 1990) with Gymnasium's constants, written without numpy so it
runs in MUG's bundled Pyodide, which has none. A car in a valley must rock back and forth to
build up the speed to reach the flag on the right hill. Actions: 0 push left, 1 no push,
2 push right. Reward -1 per step until the flag (position >= 0.5) is reached.

This file defines ``env`` at module level, as ``GymScene.runtime(env_code_filepath=...)`` asks.
"""

from __future__ import annotations

import math
import random

from mug.env import Surface
from mug.env.spaces import Discrete

MIN_POSITION = -1.2
MAX_POSITION = 0.6
MAX_SPEED = 0.07
GOAL_POSITION = 0.5
FORCE = 0.001
GRAVITY = 0.0025


def height(position: float) -> float:
    """The valley's height at a position (Gymnasium's curve)."""
    return math.sin(3 * position) * 0.45 + 0.55


class MountainCar:
    """One agent; observation ``[position, velocity]``; Gymnasium API."""

    def __init__(self) -> None:
        self.action_space = Discrete(3)
        self.surface = Surface(600, 400)
        self.position = -0.5
        self.velocity = 0.0
        self.steps = 0
        self._random = random.Random(0)

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[list[float], dict]:
        if seed is not None:
            self._random = random.Random(seed)
        self.position = self._random.uniform(-0.6, -0.4)
        self.velocity = 0.0
        self.steps = 0
        return self._obs(), {}

    def step(self, action: int) -> tuple[list[float], float, bool, bool, dict]:
        if action not in (0, 1, 2):
            raise ValueError(f"MountainCar: action must be 0, 1 or 2, got {action!r}")
        self.steps += 1
        self.velocity += (action - 1) * FORCE - math.cos(3 * self.position) * GRAVITY
        self.velocity = max(-MAX_SPEED, min(MAX_SPEED, self.velocity))
        self.position = max(MIN_POSITION, min(MAX_POSITION, self.position + self.velocity))
        if self.position == MIN_POSITION and self.velocity < 0:
            self.velocity = 0.0
        reached = self.position >= GOAL_POSITION
        return self._obs(), -1.0, reached, False, {"reached": reached}

    def _obs(self) -> list[float]:
        return [self.position, self.velocity]

    def get_state(self) -> dict:
        """What determines the future of the episode (the random start is drawn at reset only)."""
        return {"position": self.position, "velocity": self.velocity, "steps": self.steps}

    def set_state(self, state: dict) -> None:
        self.position = float(state["position"])
        self.velocity = float(state["velocity"])
        self.steps = int(state["steps"])

    def render(self) -> dict:
        s = self.surface
        s.rect(0, 0, 1, 1, fill="#e8f1fb", id="sky")
        # The valley as a polyline of 60 points, x and y in [0, 1] of the game area.
        points = []
        for i in range(61):
            p = MIN_POSITION + (MAX_POSITION - MIN_POSITION) * i / 60
            points.append((i / 60, _screen_y(height(p))))
        s.line(points, color="#3a6b35", width=4, id="valley")
        flag_x = (GOAL_POSITION - MIN_POSITION) / (MAX_POSITION - MIN_POSITION)
        flag_y = _screen_y(height(GOAL_POSITION))
        s.line([(flag_x, flag_y), (flag_x, flag_y - 0.12)], color="#333333", width=2, id="pole")
        s.polygon(
            [(flag_x, flag_y - 0.12), (flag_x + 0.05, flag_y - 0.1), (flag_x, flag_y - 0.08)], fill="#e0b000", id="flag"
        )
        car_x = (self.position - MIN_POSITION) / (MAX_POSITION - MIN_POSITION)
        s.circle(car_x, _screen_y(height(self.position)) - 0.03, 0.03, fill="#c0392b", id="car")
        s.text(0.02, 0.03, f"Steps: {self.steps}", size=16, color="#222222", id="steps")
        return s.commit()


def _screen_y(h: float) -> float:
    """A height in the env's units (about 0.1 to 1.0) as y in the game area (0 = top)."""
    return 0.95 - h * 0.8


env = MountainCar()
