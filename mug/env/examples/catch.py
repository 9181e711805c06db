"""Catch: a small single-player example env drawn with :class:`mug.env.Surface`.

A basket at the bottom of the screen catches fruit that falls (and drifts
sideways, bouncing off the walls). Actions: 0 = stay, 1 = left, 2 = right
(arrow keys). Reward +1 for a catch, -1 for a miss; the episode terminates after
``max_drops`` fruit, each one a little faster than the last.

Pure Python (stdlib + :mod:`mug.env`), so the same code runs on the server and
inside Pyodide in the browser. Deterministic given the ``reset`` seed, with a
small JSON-able snapshot for rollback (:meth:`CatchEnv.get_state` /
:meth:`CatchEnv.set_state`).
"""

from __future__ import annotations

import numbers
import random
from typing import Any, ClassVar

from mug.env.frame import RGBFrame
from mug.env.spaces import Discrete
from mug.env.surface import Surface

__all__ = ["CatchEnv"]

PADDLE_Y = 0.86  # top edge of the basket
PADDLE_H = 0.05
GROUND_Y = 0.93

SKY, GROUND, HILL_A, HILL_B = "#bfe6ff", "#5a9e4b", "#8fd18f", "#7cc47c"
BASKET, BASKET_EDGE, FRUIT, FRUIT_EDGE, LEAF = "#b07a3b", "#6b4423", "#e63946", "#9d1c26", "#2d8a34"
INK = "#1d3557"

_STATE_KEYS = (
    "paddle_x", "fruit_x", "fruit_y", "fruit_vx", "fruit_vy", "fruit_active", "drops", "caught",
    "missed", "steps", "base_seed", "episode", "event", "event_timer",
)


class CatchEnv:
    """Catch falling fruit with a basket.

    Args:
        render_mode: ``"mug"`` (draw with :class:`~mug.env.Surface`), ``"rgb_array"``
            (an :class:`~mug.env.RGBFrame` image, pure Python; meant for the server) or None.
        width, height: nominal size of the game area in pixels.
        max_drops: number of fruit per episode.
        paddle_width: basket width as a fraction of the game width.
        paddle_speed: how far the basket moves per step (fraction of the width).
        fruit_speed: how far the first fruit falls per step (fraction of the height).
        speedup: each following fruit falls this fraction faster than the previous one.

    Observation: a list of 6 floats ``[paddle_x, fruit_x, fruit_y, fruit_vx, fruit_vy,
    fruit_left]`` (positions 0–1, ``fruit_left`` = remaining fruit / ``max_drops``).
    Info: ``{"caught": int, "missed": int, "drops": int}``.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["mug", "rgb_array"], "render_fps": 20}
    #: Browser keys for the actions (for the scene's key mapping); no key means ``DEFAULT_ACTION``.
    KEY_ACTIONS: ClassVar[dict[str, int]] = {"ArrowLeft": 1, "ArrowRight": 2}
    DEFAULT_ACTION = 0

    def __init__(
        self,
        render_mode: str | None = "mug",
        width: int = 600,
        height: int = 400,
        max_drops: int = 5,
        paddle_width: float = 0.18,
        paddle_speed: float = 0.03,
        fruit_speed: float = 0.018,
        speedup: float = 0.1,
    ) -> None:
        if render_mode not in ("mug", "rgb_array", None):
            raise ValueError(f"CatchEnv: render_mode must be 'mug', 'rgb_array' or None, got {render_mode!r}")
        if max_drops < 1:
            raise ValueError(f"CatchEnv: max_drops must be >= 1, got {max_drops!r}")
        self.render_mode = render_mode
        self.width, self.height = width, height
        self.max_drops = max_drops
        self.paddle_width = paddle_width
        self.paddle_speed = paddle_speed
        self.fruit_speed = fruit_speed
        self.speedup = speedup
        self.fruit_radius = 0.025  # fraction of the width, as Surface.circle uses
        self.action_space = Discrete(3)
        self.surface = Surface(width, height)
        self._state: dict[str, Any] = {}
        self._has_reset = False
        self._new_state(base_seed=0, episode=0)

    # -- the env API -------------------------------------------------------

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[list[float], dict[str, int]]:
        """Start an episode. A seed fixes every fruit; ``None`` continues from the last seed."""
        if seed is not None:
            base_seed, episode = int(seed), 0
        elif not self._has_reset:
            base_seed, episode = random.SystemRandom().randrange(2**31), 0
        else:
            base_seed, episode = self._state["base_seed"], self._state["episode"] + 1
        self._has_reset = True
        self._new_state(base_seed, episode)
        return self._observation(), self._info()

    def step(self, action: Any) -> tuple[list[float], float, bool, bool, dict[str, int]]:
        """Move the basket (0 stay, 1 left, 2 right) and the fruit; returns the Gymnasium 5-tuple."""
        if isinstance(action, bool) or not isinstance(action, numbers.Integral):
            item = getattr(action, "item", None)
            action = item() if callable(item) else action
        if not self.action_space.contains(action):
            raise ValueError(
                f"CatchEnv.step(): action must be 0 (stay), 1 (left) or 2 (right), got {action!r}"
            )
        s = self._state
        if s["drops"] >= self.max_drops:
            return self._observation(), 0.0, True, False, self._info()
        s["steps"] += 1
        half = self.paddle_width / 2
        move = (0.0, -self.paddle_speed, self.paddle_speed)[int(action)]
        s["paddle_x"] = min(1 - half, max(half, s["paddle_x"] + move))
        if s["event_timer"] > 0:
            s["event_timer"] -= 1

        reward = 0.0
        r, ry = self.fruit_radius, self.fruit_radius * self.width / self.height
        bottom_before = s["fruit_y"] + ry
        s["fruit_x"] += s["fruit_vx"]
        if s["fruit_x"] < r or s["fruit_x"] > 1 - r:
            s["fruit_vx"] = -s["fruit_vx"]
            s["fruit_x"] = min(1 - r, max(r, s["fruit_x"]))
        s["fruit_y"] += s["fruit_vy"]
        bottom = s["fruit_y"] + ry
        if bottom_before < PADDLE_Y <= bottom and abs(s["fruit_x"] - s["paddle_x"]) <= half + r / 2:
            reward = 1.0
            s["caught"] += 1
            self._resolve("catch")
        elif s["fruit_y"] - ry > GROUND_Y:
            reward = -1.0
            s["missed"] += 1
            self._resolve("miss")
        terminated = s["drops"] >= self.max_drops
        return self._observation(), reward, terminated, False, self._info()

    def render(self) -> Any:
        """The current frame: a render state (``"mug"``), an :class:`RGBFrame` (``"rgb_array"``) or None."""
        if self.render_mode == "mug":
            return self._draw(self.surface)
        if self.render_mode == "rgb_array":
            return self._raster()
        return None

    def close(self) -> None:
        """Nothing to release."""

    def get_state(self) -> dict[str, Any]:
        """A JSON-able copy of everything that determines the future of the game."""
        return dict(self._state)

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a snapshot from :meth:`get_state` (the snapshot is copied, not kept)."""
        missing = [k for k in _STATE_KEYS if k not in state]
        if missing:
            raise ValueError(f"CatchEnv.set_state(): snapshot is missing {missing}")
        self._state = {k: state[k] for k in _STATE_KEYS}

    # -- game logic ----------------------------------------------------------

    def _new_state(self, base_seed: int, episode: int) -> None:
        self._state = {
            "paddle_x": 0.5, "fruit_x": 0.5, "fruit_y": 0.0, "fruit_vx": 0.0, "fruit_vy": 0.0,
            "fruit_active": False, "drops": 0, "caught": 0, "missed": 0, "steps": 0,
            "base_seed": base_seed, "episode": episode, "event": "", "event_timer": 0,
        }
        self._spawn()

    def _spawn(self) -> None:
        """Drop the next fruit from above the screen; its start is fixed by (seed, episode, drop)."""
        s = self._state
        rng = random.Random(f"catch/{s['base_seed']}/{s['episode']}/{s['drops']}")
        s["fruit_x"] = rng.uniform(0.1, 0.9)
        s["fruit_y"] = -rng.uniform(0.05, 0.25)  # a short pause before it appears
        s["fruit_vx"] = rng.uniform(-1.0, 1.0) * 0.4 * self.fruit_speed * self.height / self.width
        s["fruit_vy"] = self.fruit_speed * (1 + self.speedup) ** s["drops"]
        s["fruit_active"] = True

    def _resolve(self, event: str) -> None:
        s = self._state
        s["drops"] += 1
        s["event"], s["event_timer"] = event, 10
        if s["drops"] < self.max_drops:
            self._spawn()
        else:
            s["fruit_active"] = False

    def _observation(self) -> list[float]:
        s = self._state
        return [
            float(s["paddle_x"]), float(s["fruit_x"]), float(s["fruit_y"]), float(s["fruit_vx"]),
            float(s["fruit_vy"]), (self.max_drops - s["drops"]) / self.max_drops,
        ]

    def _info(self) -> dict[str, int]:
        s = self._state
        return {"caught": s["caught"], "missed": s["missed"], "drops": s["drops"]}

    # -- drawing ---------------------------------------------------------------

    def _draw(self, surface: Surface) -> dict[str, Any]:
        s = self._state
        # Scenery: ids make it persistent, so it is sent once per connection.
        surface.rect(0, 0, 1, 1, fill=SKY, id="sky", depth=-10)
        surface.circle(0.62, 0.14, 0.05, fill="#ffd84d", id="sun", depth=-9)
        surface.ellipse(0.22, GROUND_Y + 0.02, 0.7, 0.34, fill=HILL_A, id="hill_a", depth=-8)
        surface.ellipse(0.78, GROUND_Y + 0.03, 0.8, 0.26, fill=HILL_B, id="hill_b", depth=-8)
        surface.rect(0, GROUND_Y, 1, 1 - GROUND_Y, fill=GROUND, id="ground", depth=-7)
        # Basket: changes only when it moves.
        half = self.paddle_width / 2
        x = s["paddle_x"]
        surface.polygon(
            [(x - half, PADDLE_Y), (x + half, PADDLE_Y), (x + half * 0.8, PADDLE_Y + PADDLE_H),
             (x - half * 0.8, PADDLE_Y + PADDLE_H)],
            fill=BASKET, stroke=BASKET_EDGE, stroke_width=2, id="basket",
        )
        surface.line([(x - half, PADDLE_Y + PADDLE_H / 2), (x + half, PADDLE_Y + PADDLE_H / 2)],
                     color=BASKET_EDGE, width=2, id="basket_band", depth=1)
        if s["fruit_active"]:
            fx, fy = s["fruit_x"], s["fruit_y"]
            ry = self.fruit_radius * self.width / self.height
            surface.circle(fx, fy, self.fruit_radius, fill=FRUIT, stroke=FRUIT_EDGE, stroke_width=2,
                           id="fruit", depth=2)
            surface.ellipse(fx + 0.012, fy - ry * 1.05, 0.022, 0.025, fill=LEAF, id="fruit_leaf", depth=3)
        left = self.max_drops - s["drops"]
        surface.text(0.03, 0.03, f"Caught {s['caught']}   Missed {s['missed']}", size=22, color=INK,
                     id="score", depth=5)
        surface.text(0.97, 0.03, f"Fruit left: {left}", size=18, color=INK, align="right",
                     id="fruit_left", depth=5)
        if s["event_timer"] > 0:  # short-lived feedback: no id, fades out
            caught = s["event"] == "catch"
            surface.text(x, PADDLE_Y - 0.12, "+1" if caught else "miss!", size=24,
                         color="#2a9d8f" if caught else "#d62828", align="center",
                         alpha=s["event_timer"] / 10, depth=6)
        if left == 0:
            surface.rect(0.25, 0.35, 0.5, 0.24, fill="#ffffff", stroke=INK, stroke_width=2,
                         alpha=0.9, id="end_panel", depth=8)
            surface.text(0.5, 0.4, f"You caught {s['caught']} of {self.max_drops}", size=26,
                         color=INK, align="center", id="end_text", depth=9)
        return surface.commit()

    def _raster(self) -> RGBFrame:
        s = self._state
        w, h = self.width, self.height
        frame = RGBFrame(w, h, SKY)
        frame.fill_rect(0, GROUND_Y * h, w, h, GROUND)
        half = self.paddle_width / 2
        frame.fill_rect((s["paddle_x"] - half) * w, PADDLE_Y * h, (s["paddle_x"] + half) * w,
                        (PADDLE_Y + PADDLE_H) * h, BASKET)
        if s["fruit_active"]:
            frame.fill_circle(s["fruit_x"] * w, s["fruit_y"] * h, self.fruit_radius * w, FRUIT)
        return frame
