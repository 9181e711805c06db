"""Builds the Overcooked AI partner shipped with the examples: examples/models/overcooked_partner.onnx.

A small network (31 → 64 → 64 → 7, ReLU) that imitates a scripted cook: the script plays the
cramped kitchen with a partner that is the script too, idle or random (with a little randomness
of its own, so the data covers mistakes to recover from), every (observation, action) pair of the
script is kept, and the network is fitted to them by gradient descent with numpy. It then plays
from ``overcooked_kitchen.features`` alone: with the script, with itself or with an idle partner
it serves 7-8 soups in 400 steps (the script: 8). It is made to show the pipeline end to end:
put your own trained policy in its place with the same ``ModelConfig``.

    python examples/models/build_partner.py      # about two minutes; writes the .onnx file
"""

from __future__ import annotations

import itertools
import random
import sys
from collections import deque
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

from overcooked_kitchen import (  # noqa: E402
    AGENTS,
    COOK_STEPS,
    COUNTER,
    DELIVERY,
    DOWN,
    INTERACT,
    LEFT,
    N_FEATURES,
    NOOP,
    ONION,
    ONION_STACK,
    PLATE,
    PLATE_STACK,
    POT,
    RIGHT,
    SOUP,
    UP,
    Kitchen,
    cells_of,
    features,
    pot_states,
)

_MOVES = {UP: (-1, 0), DOWN: (1, 0), LEFT: (0, -1), RIGHT: (0, 1)}
_FACING = {(0, 1): 0, (1, 0): 1, (0, -1): 2, (-1, 0): 3}  # offset -> CoGrid agent_dir


def scripted_action(state: dict, me: int) -> int:
    """The scripted cook: onions into the pot until it is full, then a plate for the soup, the soup
    to the delivery counter. What it cannot use now (an onion for a full pot, a plate for an empty
    one) goes on a free counter, and an idle cook keeps out of the pot's way: the cramped kitchen's
    pot is reached from one cell, so a cook standing there waiting blocks its partner."""
    held = state["agent_inv"][me][0]
    onions, _ = next(iter(pot_states(state).values()), (0, COOK_STEPS))
    partner_held = state["agent_inv"][1 - me][0]
    if held == ONION:
        return _go_and_use(state, me, cells_of(state, POT) if onions < 3 else _free_counters(state))
    if held == PLATE:
        return _go_and_use(state, me, cells_of(state, POT) if onions == 3 else _free_counters(state))
    if held == SOUP:
        return _go_and_use(state, me, cells_of(state, DELIVERY))
    if onions < 3 and partner_held != ONION:
        return _go_and_use(state, me, cells_of(state, ONION_STACK))
    if onions == 3 and partner_held not in (PLATE, SOUP):
        return _go_and_use(state, me, cells_of(state, PLATE_STACK))
    return _step_away_from(state, me, cells_of(state, POT))


def _free_counters(state: dict) -> set[tuple[int, int]]:
    return {(r, c) for r, c in cells_of(state, COUNTER) if state["object_state_map"][r][c] == 0}


def _free(state: dict, me: int, cell: tuple[int, int]) -> bool:
    r, c = cell
    inside = 0 <= r < state["height"] and 0 <= c < state["width"]
    return inside and state["object_type_map"][r][c] == 0 and list(cell) != list(state["agent_pos"][1 - me])


def _step_away_from(state: dict, me: int, targets: set[tuple[int, int]]) -> int:
    """NOOP, or a step off a cell next to ``targets`` when standing on one."""
    pos = tuple(state["agent_pos"][me])
    if all(abs(pos[0] - r) + abs(pos[1] - c) > 1 for r, c in targets):
        return NOOP
    for action, (dr, dc) in _MOVES.items():
        nxt = (pos[0] + dr, pos[1] + dc)
        if _free(state, me, nxt) and all(abs(nxt[0] - r) + abs(nxt[1] - c) > 1 for r, c in targets):
            return action
    return NOOP


def _go_and_use(state: dict, me: int, targets: set[tuple[int, int]]) -> int:
    """A step toward the nearest of ``targets`` (fixtures), or INTERACT when next to and facing one."""
    pos = tuple(state["agent_pos"][me])
    for action, (dr, dc) in _MOVES.items():
        if (pos[0] + dr, pos[1] + dc) in targets:
            if state["agent_dir"][me] == _FACING[(dr, dc)]:
                return INTERACT
            return action  # turns to face it (the fixture blocks the move)
    # Breadth-first search to a floor cell next to a target.
    goal = {(r + dr, c + dc) for r, c in targets for dr, dc in _MOVES.values()}
    seen, queue = {pos}, deque([(pos, None)])
    while queue:
        cell, first = queue.popleft()
        if cell in goal and first is not None:
            return first
        for action, (dr, dc) in _MOVES.items():
            nxt = (cell[0] + dr, cell[1] + dc)
            if nxt not in seen and _free(state, me, nxt):
                seen.add(nxt)
                queue.append((nxt, action if first is None else first))
    # No way through (the partner stands in it): step aside, so neither waits for the other forever.
    for action, (dr, dc) in _MOVES.items():
        if _free(state, me, (pos[0] + dr, pos[1] + dc)):
            return action
    return NOOP


def collect(episodes: int, steps: int, epsilon: float, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Observations and the script's actions from ``episodes`` games; also the script pair's mean
    score. Every third game the partner (green) follows the script too, stands idle, or presses
    random keys, as a human partner might: the network learns to cook around each."""
    rng = random.Random(seed)
    env = Kitchen()
    xs, ys, scores = [], [], []
    for episode in range(episodes):
        partner = ("script", "idle", "random")[episode % 3]
        env.reset(seed=seed + episode)
        for _ in range(steps):
            state = env._state
            actions = {}
            for i, agent in enumerate(AGENTS):
                if i == 1 and partner != "script":
                    actions[agent] = NOOP if partner == "idle" else rng.randrange(7)
                    continue
                best = scripted_action(state, i)
                xs.append(features(state, i))
                ys.append(best)
                actions[agent] = rng.randrange(7) if rng.random() < epsilon else best
            env.step(actions)
        if partner == "script":
            scores.append(env.score)
    return np.asarray(xs, np.float32), np.asarray(ys, np.int64), float(np.mean(scores))


def train(x: np.ndarray, y: np.ndarray, hidden: int = 64, epochs: int = 400, seed: int = 0) -> list[np.ndarray]:
    """A 3-layer ReLU network fitted with full-batch Adam on cross-entropy; returns its weights."""
    rng = np.random.default_rng(seed)
    sizes = [x.shape[1], hidden, hidden, 7]
    params: list[np.ndarray] = []
    for a, b in itertools.pairwise(sizes):
        params += [rng.normal(0, np.sqrt(2 / a), (a, b)).astype(np.float32), np.zeros(b, np.float32)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    onehot = np.eye(7, dtype=np.float32)[y]
    for t in range(1, epochs + 1):
        h1 = np.maximum(x @ params[0] + params[1], 0)
        h2 = np.maximum(h1 @ params[2] + params[3], 0)
        logits = h2 @ params[4] + params[5]
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        g = (p - onehot) / len(x)
        grads = [None] * 6
        grads[4], grads[5] = h2.T @ g, g.sum(0)
        g2 = (g @ params[4].T) * (h2 > 0)
        grads[2], grads[3] = h1.T @ g2, g2.sum(0)
        g1 = (g2 @ params[2].T) * (h1 > 0)
        grads[0], grads[1] = x.T @ g1, g1.sum(0)
        for i, grad in enumerate(grads):
            m[i] = 0.9 * m[i] + 0.1 * grad
            v[i] = 0.999 * v[i] + 0.001 * grad * grad
            params[i] -= 0.01 * (m[i] / (1 - 0.9**t)) / (np.sqrt(v[i] / (1 - 0.999**t)) + 1e-8)
    return params


def to_onnx(params: list[np.ndarray], path: Path) -> None:
    """The network as an ONNX graph: input ``obs`` [1, 31] float32, output ``logits`` [1, 7]."""
    names = ["w1", "b1", "w2", "b2", "w3", "b3"]
    nodes = [
        helper.make_node("Gemm", ["obs", "w1", "b1"], ["z1"]),
        helper.make_node("Relu", ["z1"], ["h1"]),
        helper.make_node("Gemm", ["h1", "w2", "b2"], ["z2"]),
        helper.make_node("Relu", ["z2"], ["h2"]),
        helper.make_node("Gemm", ["h2", "w3", "b3"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "overcooked_partner",
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, [1, N_FEATURES])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 7])],
        [numpy_helper.from_array(p.astype(np.float32), n) for p, n in zip(params, names, strict=True)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="mug-examples")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())


def main() -> None:
    x, y, scripted = collect(episodes=36, steps=300, epsilon=0.15, seed=1)
    params = train(x, y)
    logits = np.maximum(np.maximum(x @ params[0] + params[1], 0) @ params[2] + params[3], 0) @ params[4] + params[5]
    accuracy = float((logits.argmax(1) == y).mean())
    out = HERE / "overcooked_partner.onnx"
    to_onnx(params, out)
    print(
        f"wrote {out} ({out.stat().st_size} bytes): {len(x)} examples, agrees with the script on "
        f"{accuracy:.0%} of them; the script scores {scripted:.0f} per 300 steps with 15% random moves"
    )


if __name__ == "__main__":
    main()
