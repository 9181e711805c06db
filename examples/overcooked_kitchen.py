"""Overcooked's cramped kitchen (CoGrid) as a MUG env: two chefs, named, drawn with sprites.

CoGrid (PyPI ``cogrid``) runs the game: two chefs carry onions to a pot, wait for the soup, plate
it and serve it (20 points a soup, shared). This module adds what a MUG game needs around it:
agents named ``"blue"`` and ``"green"`` (CoGrid numbers them), a compact observation for the AI
partner (:func:`features`), ``get_state``/``set_state`` for replay, and ``render()`` drawing the
kitchen with the examples' own sprite atlas (examples/overcooked_art, made by make_art.py).

Everything is read from CoGrid's ``get_state()`` (the arrays the game steps), not from its
object classes, so what participants see is exactly the state the data records.
"""

from __future__ import annotations

from typing import Any

from cogrid.envs import registry

from mug.env import Surface

AGENTS = ("blue", "green")
#: CoGrid's cardinal action set: the action numbers the scene's keys map to.
UP, DOWN, LEFT, RIGHT, INTERACT, TOGGLE, NOOP = range(7)
KEY_ACTIONS = {"ArrowUp": UP, "ArrowDown": DOWN, "ArrowLeft": LEFT, "ArrowRight": RIGHT, " ": INTERACT}

# CoGrid's object type numbers (its type registry, stable for these layouts); the scripted cook uses them too.
COUNTER, DELIVERY, ONION, SOUP, ONION_STACK, PLATE, PLATE_STACK, POT = 2, 7, 8, 9, 11, 12, 13, 14
_FIXTURES = {COUNTER: "counter", DELIVERY: "delivery", ONION_STACK: "onion_stack", PLATE_STACK: "plate_stack"}
_ITEMS = {ONION: "onion", PLATE: "plate", SOUP: "soup"}
_DIRECTIONS = ("right", "down", "left", "up")  # CoGrid's agent_dir 0..3
COOK_STEPS = 30
#: Length of :func:`features`.
N_FEATURES = 31


class Kitchen:
    """Two-chef Overcooked (PettingZoo parallel API, agents ``"blue"`` and ``"green"``).

    Args:
        layout: a CoGrid Overcooked environment id.
        width, height: the game area in pixels (the kitchen is scaled to fit).
    """

    def __init__(self, layout: str = "Overcooked-CrampedRoom-V0", width: int = 500, height: int = 400) -> None:
        self.possible_agents = list(AGENTS)
        self.agents = list(AGENTS)
        self._env = registry.make(layout)
        self.surface = Surface(width, height)
        self.score = 0.0
        self.soups = 0
        self._state: dict[str, Any] = {}

    def action_space(self, agent: str) -> Any:
        return self._env.action_space(AGENTS.index(agent))

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        self._env.reset(seed=seed)
        self.agents = list(AGENTS)
        self.score, self.soups = 0.0, 0
        self._state = self._env.get_state()
        return self._observations(), {a: {} for a in AGENTS}

    def step(self, actions: dict[str, int]) -> tuple[dict, dict, dict, dict, dict]:
        _, rewards, terminated, truncated, _ = self._env.step(
            {i: int(actions.get(a, NOOP)) for i, a in enumerate(AGENTS)}
        )
        self._state = self._env.get_state()
        reward = float(rewards[0])
        self.score += reward
        if reward >= 20:
            self.soups += 1
        info = {"score": self.score, "soups": self.soups}
        return (
            self._observations(),
            {a: float(rewards[i]) for i, a in enumerate(AGENTS)},
            {a: bool(terminated[i]) for i, a in enumerate(AGENTS)},
            {a: bool(truncated[i]) for i, a in enumerate(AGENTS)},
            {a: dict(info) for a in AGENTS},
        )

    def _observations(self) -> dict[str, list[float]]:
        return {a: features(self._state, i) for i, a in enumerate(AGENTS)}

    def get_state(self) -> dict[str, Any]:
        """CoGrid's state (JSON-able) and the score so far."""
        return {"cogrid": self._env.get_state(), "score": self.score, "soups": self.soups}

    def set_state(self, state: dict[str, Any]) -> None:
        self._env.set_state(state["cogrid"])
        self._state = self._env.get_state()
        self.score, self.soups = float(state["score"]), int(state["soups"])

    # -- drawing ----------------------------------------------------------------------------

    def render(self) -> Any:
        s, st = self.surface, self._state
        rows, cols = st["height"], st["width"]
        top = 0.1  # a band for the score
        cw, ch = 1 / cols, (1 - top) / rows
        types, placed = st["object_type_map"], st["object_state_map"]
        pots = pot_states(st)
        s.rect(0, 0, 1, top, fill="#3b2a1e", id="band")
        s.text(
            0.02, 0.025, f"Score {self.score:.0f}   ·   Soups served {self.soups}", size=18, color="#ffffff", id="score"
        )
        for r in range(rows):
            for c in range(cols):
                x, y, kind = c * cw, top + r * ch, types[r][c]
                cell = f"{r}_{c}"
                if kind == POT:
                    frame = _pot_frame(*pots.get((r, c), (0, COOK_STEPS)))
                elif kind in _FIXTURES:
                    frame = _FIXTURES[kind]
                else:
                    frame = "floor"
                s.sprite(x, y, cw, ch, texture="kitchen", frame=frame, id=f"tile_{cell}", depth=0)
                item = _ITEMS.get(placed[r][c]) if kind in (COUNTER, DELIVERY) else None
                if item:
                    s.sprite(
                        x + cw * 0.15,
                        y + ch * 0.15,
                        cw * 0.7,
                        ch * 0.7,
                        texture="kitchen",
                        frame=item,
                        id=f"item_{cell}",
                        depth=1,
                    )
        for i, agent in enumerate(AGENTS):
            r, c = st["agent_pos"][i]
            facing = _DIRECTIONS[st["agent_dir"][i]]
            x, y = c * cw, top + r * ch
            s.sprite(x, y, cw, ch, texture="kitchen", frame=f"chef_{agent}_{facing}", id=f"chef_{agent}", depth=2)
            held = _ITEMS.get(st["agent_inv"][i][0])
            if held:
                dx, dy = {"right": (0.45, 0.2), "left": (-0.05, 0.2), "up": (0.2, -0.05), "down": (0.2, 0.45)}[facing]
                s.sprite(
                    x + cw * dx,
                    y + ch * dy,
                    cw * 0.6,
                    ch * 0.6,
                    texture="kitchen",
                    frame=held,
                    id=f"held_{agent}",
                    depth=3,
                )
        return s.commit()


def pot_states(state: dict[str, Any]) -> dict[tuple[int, int], tuple[int, int]]:
    """Each pot's cell -> (onions in it, cooking steps left)."""
    extra = state["extra_state"]
    positions = extra["overcooked.pot_positions"]["data"]
    contents = extra["overcooked.pot_contents"]["data"]
    timers = extra["overcooked.pot_timer"]["data"]
    return {
        (int(p[0]), int(p[1])): (sum(1 for t in items if t >= 0), int(timer))
        for p, items, timer in zip(positions, contents, timers, strict=True)
    }


def _pot_frame(onions: int, timer: int) -> str:
    if onions < 3:
        return f"pot_{onions}"
    if timer <= 0:
        return "pot_done"
    return f"pot_cooking_{min(4, int((COOK_STEPS - timer) * 5 / COOK_STEPS))}"


def cells_of(state: dict[str, Any], kind: int) -> set[tuple[int, int]]:
    """The (row, column) of every cell holding a fixture of CoGrid type ``kind``."""
    types = state["object_type_map"]
    return {(r, c) for r in range(state["height"]) for c in range(state["width"]) if types[r][c] == kind}


def features(state: dict[str, Any], me: int) -> list[float]:
    """A compact observation of agent ``me`` (N_FEATURES floats): where it and its partner are,
    facing and holding what; the pot's progress; and the offset from it to the nearest onion
    stack, plate stack, pot and delivery counter. This is what the AI partner's network reads."""
    rows, cols = state["height"], state["width"]
    out: list[float] = []
    for who in (me, 1 - me):
        r, c = state["agent_pos"][who]
        out += [r / rows, c / cols]
        out += [1.0 if state["agent_dir"][who] == d else 0.0 for d in range(4)]
        held = state["agent_inv"][who][0]
        out += [1.0 if held == t else 0.0 for t in (ONION, PLATE, SOUP)] + [1.0 if held < 0 else 0.0]
    onions, timer = next(iter(pot_states(state).values()), (0, COOK_STEPS))
    out += [onions / 3, timer / COOK_STEPS, 1.0 if onions == 3 and timer <= 0 else 0.0]
    r, c = state["agent_pos"][me]
    for kind in (ONION_STACK, PLATE_STACK, POT, DELIVERY):
        rr, cc = min(cells_of(state, kind), key=lambda p: (abs(p[0] - r) + abs(p[1] - c), p))
        out += [(rr - r) / rows, (cc - c) / cols]
    return out
