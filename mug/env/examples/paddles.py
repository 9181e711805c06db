"""Paddles: a two-player real-time paddle game, the example env of peer-to-peer (P2P) play.

Two humans, ``"left"`` and ``"right"``, each move a paddle up and down to bounce a ball past
the other. Actions (``Discrete(3)``): 0 = stay, 1 = up, 2 = down (arrow keys). A player who
lets the ball past their edge gives the other a point (reward +1 to the scorer, -1 to the
other); the episode terminates when someone reaches ``points_to_win``.

Why it looks the way it does — it is written for rollback netcode, where every participant's
browser runs the same env and re-simulates frames when a late input arrives:

- **Integer physics.** Positions and velocities are ints in field units (1000 x 600), so two
  interpreters can never drift apart by rounding; observations are derived floats.
- **Tiny, JSON-able snapshots.** :meth:`PaddlesEnv.get_state` returns a flat dict of ints and
  strs (a copy), :meth:`PaddlesEnv.set_state` validates and copies it: a rollback restores it,
  a resync sends it to a peer. The serve of each point comes from a generator seeded by
  (seed, point number), so no generator state has to be kept.
- **Pure Python** (stdlib + :mod:`mug.env`, no numpy): it runs in the bundled Pyodide.

PettingZoo-parallel API: ``reset`` returns ``({agent: obs}, {agent: info})``, ``step`` takes
``{agent: action}`` and returns five dicts keyed by agent.
"""

from __future__ import annotations

import numbers
import random
from typing import Any, ClassVar

from mug.env.spaces import Discrete
from mug.env.surface import Surface

__all__ = ["PaddlesEnv"]

#: The field in physics units (ints); drawn scaled to the canvas.
WIDTH, HEIGHT = 1000, 600
PADDLE_W, PADDLE_H = 16, 120
#: Distance from the edge of the field to the outer side of each paddle.
PADDLE_MARGIN = 30
BALL_R = 9
#: Frames between a point and the next serve.
SERVE_PAUSE = 20
MAX_VY = 14

BACKGROUND, LINE, LEFT_COLOR, RIGHT_COLOR, BALL_COLOR, INK = (
    "#0b1d2a", "#35566e", "#ffb703", "#8ecae6", "#f1faee", "#f1faee",
)

AGENTS = ("left", "right")

_INT_KEYS = (
    "left_y", "right_y", "ball_x", "ball_y", "ball_vx", "ball_vy", "left_points", "right_points",
    "serve_timer", "points_played", "steps", "base_seed", "hits",
)
_STATE_KEYS = (*_INT_KEYS, "last_point")


class PaddlesEnv:
    """Two paddles, one ball.

    Args:
        render_mode: ``"mug"`` (draw with :class:`~mug.env.Surface`) or None.
        points_to_win: points that end the episode.
        paddle_speed: field units a paddle moves per step (the field is 1000 x 600).
        ball_speed: horizontal field units the ball moves per step at the first serve; each
            paddle hit adds 1, up to ``max_ball_speed``.
        max_ball_speed: the fastest horizontal ball speed.

    Observation of each agent (6 floats, from its own side: its paddle is always "mine" and the
    ball's x is mirrored for ``"right"`` so both see themselves on the left):
    ``[my_y, their_y, ball_x, ball_y, ball_vx, ball_vy]`` — paddle centres and ball position as
    fractions of the field, velocities as fractions of ``max_ball_speed``.
    Info: ``{"left_points": int, "right_points": int, "hits": int}``.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["mug"], "render_fps": 30, "name": "paddles"}
    #: Browser keys for the actions (for the scene's key mapping); no key means ``DEFAULT_ACTION``.
    KEY_ACTIONS: ClassVar[dict[str, int]] = {"ArrowUp": 1, "ArrowDown": 2}
    DEFAULT_ACTION = 0

    def __init__(
        self,
        render_mode: str | None = "mug",
        points_to_win: int = 5,
        paddle_speed: int = 15,
        ball_speed: int = 12,
        max_ball_speed: int = 28,
    ) -> None:
        if render_mode not in ("mug", None):
            raise ValueError(f"PaddlesEnv: render_mode must be 'mug' or None, got {render_mode!r}")
        for name, value in (("points_to_win", points_to_win), ("paddle_speed", paddle_speed),
                            ("ball_speed", ball_speed), ("max_ball_speed", max_ball_speed)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"PaddlesEnv: {name} must be an int >= 1, got {value!r}")
        if max_ball_speed < ball_speed:
            raise ValueError(
                f"PaddlesEnv: max_ball_speed ({max_ball_speed}) must be >= ball_speed ({ball_speed})"
            )
        if max_ball_speed >= PADDLE_MARGIN + PADDLE_W:
            raise ValueError(
                f"PaddlesEnv: max_ball_speed must be < {PADDLE_MARGIN + PADDLE_W} (the ball would jump "
                f"past a paddle in one step), got {max_ball_speed}"
            )
        self.render_mode = render_mode
        self.points_to_win = points_to_win
        self.paddle_speed = paddle_speed
        self.ball_speed = ball_speed
        self.max_ball_speed = max_ball_speed
        self.possible_agents = list(AGENTS)
        self.agents = list(AGENTS)
        self.action_spaces = {a: Discrete(3) for a in AGENTS}
        self.surface = Surface(800, 480)
        self._state: dict[str, Any] = {}
        self._new_state(0)

    def action_space(self, agent: str) -> Discrete:
        """The action space of ``agent`` (0 stay, 1 up, 2 down)."""
        return self.action_spaces[agent]

    # -- the env API -------------------------------------------------------

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, list[float]], dict[str, dict[str, int]]]:
        """Start an episode; the seed fixes every serve (None: a random one)."""
        base_seed = int(seed) if seed is not None else random.SystemRandom().randrange(2**31)
        self._new_state(base_seed)
        return self._observations(), self._infos()

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        """Move both paddles (0 stay, 1 up, 2 down) and the ball; the PettingZoo-parallel 5-tuple."""
        if not isinstance(actions, dict):
            raise TypeError(f"PaddlesEnv.step(): actions must be a dict {{agent: action}}, got {actions!r}")
        moves = {}
        for agent in AGENTS:
            if agent not in actions:
                raise ValueError(f"PaddlesEnv.step(): no action for agent {agent!r}")
            action = actions[agent]
            if not isinstance(action, bool) and not isinstance(action, numbers.Integral):
                item = getattr(action, "item", None)
                action = item() if callable(item) else action
            if isinstance(action, bool) or not isinstance(action, numbers.Integral) or not 0 <= action <= 2:
                raise ValueError(
                    f"PaddlesEnv.step(): action of {agent!r} must be 0 (stay), 1 (up) or 2 (down), got {action!r}"
                )
            moves[agent] = (0, -self.paddle_speed, self.paddle_speed)[int(action)]
        s = self._state
        rewards = {a: 0.0 for a in AGENTS}
        if self._over():
            return self._observations(), rewards, self._flags(True), self._flags(False), self._infos()
        s["steps"] += 1
        for agent in AGENTS:
            key = f"{agent}_y"
            s[key] = min(HEIGHT - PADDLE_H, max(0, s[key] + moves[agent]))
        if s["serve_timer"] > 0:
            s["serve_timer"] -= 1
            if s["serve_timer"] == 0:
                self._serve()
        else:
            scorer = self._move_ball()
            if scorer is not None:
                loser = "right" if scorer == "left" else "left"
                rewards[scorer], rewards[loser] = 1.0, -1.0
                s[f"{scorer}_points"] += 1
                s["points_played"] += 1
                s["last_point"] = scorer
                s["ball_x"], s["ball_y"], s["ball_vx"], s["ball_vy"] = WIDTH // 2, HEIGHT // 2, 0, 0
                s["serve_timer"] = SERVE_PAUSE
        over = self._over()
        if over:
            self.agents = []
        return self._observations(), rewards, self._flags(over), self._flags(False), self._infos()

    def render(self) -> Any:
        """The current frame as a render state (``"mug"``), or None."""
        if self.render_mode == "mug":
            return self._draw(self.surface)
        return None

    def close(self) -> None:
        """Nothing to release."""

    def get_state(self) -> dict[str, Any]:
        """A JSON-able copy of everything that determines the future of the game."""
        return dict(self._state)

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a snapshot from :meth:`get_state` (checked and copied, never kept)."""
        if not isinstance(state, dict):
            raise TypeError(f"PaddlesEnv.set_state(): expected a dict from get_state(), got {type(state).__name__}")
        missing = [k for k in _STATE_KEYS if k not in state]
        if missing:
            raise ValueError(f"PaddlesEnv.set_state(): snapshot is missing {missing}")
        bad = [k for k in _INT_KEYS if isinstance(state[k], bool) or not isinstance(state[k], int)]
        if bad or state["last_point"] not in ("", *AGENTS):
            wrong = bad or ["last_point"]
            raise ValueError(f"PaddlesEnv.set_state(): snapshot has values of the wrong type for {wrong}")
        self._state = {k: state[k] for k in _STATE_KEYS}
        self.agents = [] if self._over() else list(AGENTS)

    # -- game logic ----------------------------------------------------------

    def _new_state(self, base_seed: int) -> None:
        middle = (HEIGHT - PADDLE_H) // 2
        self._state = {
            "left_y": middle, "right_y": middle, "ball_x": WIDTH // 2, "ball_y": HEIGHT // 2,
            "ball_vx": 0, "ball_vy": 0, "left_points": 0, "right_points": 0, "serve_timer": SERVE_PAUSE,
            "points_played": 0, "steps": 0, "base_seed": base_seed, "hits": 0, "last_point": "",
        }
        self.agents = list(AGENTS)

    def _over(self) -> bool:
        s = self._state
        return max(s["left_points"], s["right_points"]) >= self.points_to_win

    def _flags(self, value: bool) -> dict[str, bool]:
        return {a: value for a in AGENTS}

    def _serve(self) -> None:
        """Serve from the centre: towards the player who lost the last point (random at first)."""
        s = self._state
        rng = random.Random(f"paddles/{s['base_seed']}/{s['points_played']}")
        if s["last_point"] == "left":
            direction = 1
        elif s["last_point"] == "right":
            direction = -1
        else:
            direction = rng.choice((-1, 1))
        s["ball_vx"] = direction * self.ball_speed
        s["ball_vy"] = rng.choice((-1, 1)) * rng.randint(2, 7)
        s["ball_y"] = rng.randint(HEIGHT // 4, 3 * HEIGHT // 4)

    def _move_ball(self) -> str | None:
        """Move the ball one step with wall and paddle bounces; the scorer if it left the field."""
        s = self._state
        x, y = s["ball_x"] + s["ball_vx"], s["ball_y"] + s["ball_vy"]
        if y - BALL_R < 0:
            y, s["ball_vy"] = 2 * BALL_R - y, -s["ball_vy"]
        elif y + BALL_R > HEIGHT:
            y, s["ball_vy"] = 2 * (HEIGHT - BALL_R) - y, -s["ball_vy"]
        left_face = PADDLE_MARGIN + PADDLE_W
        right_face = WIDTH - PADDLE_MARGIN - PADDLE_W
        if s["ball_vx"] < 0 and s["ball_x"] - BALL_R >= left_face > x - BALL_R:
            x = self._bounce("left_y", x, y, left_face + BALL_R, 1)
        elif s["ball_vx"] > 0 and s["ball_x"] + BALL_R <= right_face < x + BALL_R:
            x = self._bounce("right_y", x, y, right_face - BALL_R, -1)
        s["ball_x"], s["ball_y"] = x, y
        if x + BALL_R < 0:
            return "right"
        if x - BALL_R > WIDTH:
            return "left"
        return None

    def _bounce(self, paddle: str, x: int, y: int, contact_x: int, direction: int) -> int:
        """A ball crossing a paddle's face: bounce if the paddle is there (speed +1, spin from
        where it hit), else let it through. Returns the ball's new x."""
        s = self._state
        top = s[paddle]
        if not (top - BALL_R <= y <= top + PADDLE_H + BALL_R):
            return x
        s["hits"] += 1
        speed = min(self.max_ball_speed, abs(s["ball_vx"]) + 1)
        s["ball_vx"] = direction * speed
        offset = y - (top + PADDLE_H // 2)  # -69..69: hitting near an end sends the ball steeply
        s["ball_vy"] = max(-MAX_VY, min(MAX_VY, s["ball_vy"] + (offset * 6) // (PADDLE_H // 2)))
        return 2 * contact_x - x  # mirrored about the contact line

    def _observations(self) -> dict[str, list[float]]:
        s = self._state
        center = PADDLE_H / 2
        ly, ry = (s["left_y"] + center) / HEIGHT, (s["right_y"] + center) / HEIGHT
        bx, by = s["ball_x"] / WIDTH, s["ball_y"] / HEIGHT
        vx, vy = s["ball_vx"] / self.max_ball_speed, s["ball_vy"] / self.max_ball_speed
        return {
            "left": [ly, ry, bx, by, vx, vy],
            "right": [ry, ly, 1 - bx, by, -vx, vy],
        }

    def _infos(self) -> dict[str, dict[str, int]]:
        s = self._state
        info = {"left_points": s["left_points"], "right_points": s["right_points"], "hits": s["hits"]}
        return {a: dict(info) for a in AGENTS}

    # -- drawing ---------------------------------------------------------------

    def _draw(self, surface: Surface) -> dict[str, Any]:
        s = self._state
        surface.rect(0, 0, 1, 1, fill=BACKGROUND, id="field", depth=-10)
        surface.line([(0.5, 0.0), (0.5, 1.0)], color=LINE, width=3, id="net", depth=-9)
        pw, ph = PADDLE_W / WIDTH, PADDLE_H / HEIGHT
        surface.rect(PADDLE_MARGIN / WIDTH, s["left_y"] / HEIGHT, pw, ph, fill=LEFT_COLOR, id="left_paddle")
        surface.rect((WIDTH - PADDLE_MARGIN - PADDLE_W) / WIDTH, s["right_y"] / HEIGHT, pw, ph,
                     fill=RIGHT_COLOR, id="right_paddle")
        if s["serve_timer"] == 0:
            surface.circle(s["ball_x"] / WIDTH, s["ball_y"] / HEIGHT, BALL_R / WIDTH, fill=BALL_COLOR,
                           id="ball", depth=2)
        surface.text(0.25, 0.04, str(s["left_points"]), size=40, color=LEFT_COLOR, align="center",
                     id="left_score", depth=5)
        surface.text(0.75, 0.04, str(s["right_points"]), size=40, color=RIGHT_COLOR, align="center",
                     id="right_score", depth=5)
        if self._over():
            winner = "Left" if s["left_points"] > s["right_points"] else "Right"
            surface.text(0.5, 0.42, f"{winner} wins!", size=36, color=INK, align="center", id="end_text",
                         depth=9)
        return surface.commit()
