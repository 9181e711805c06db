"""PaddlesEnv (the P2P example): rules, integer determinism, snapshots, rendering, check_env."""

from __future__ import annotations

import json
import random

import pytest

from mug.env import EnvAdapter, RenderDiffer, check_env, validate_render_state
from mug.env.examples import PaddlesEnv
from mug.env.examples.paddles import HEIGHT, PADDLE_H


def tracker(obs: list[float]) -> int:
    """Keep the paddle's centre on the ball's height (0 stay, 1 up, 2 down)."""
    mine, ball = obs[0], obs[3]
    if abs(ball - mine) < 0.02:
        return 0
    return 1 if ball < mine else 2


def play(env: PaddlesEnv, left, right, seed: int = 0, limit: int = 20_000) -> tuple[int, dict, dict]:
    obs, _ = env.reset(seed=seed)
    returns = {"left": 0.0, "right": 0.0}
    for steps in range(1, limit + 1):
        obs, rewards, terms, truncs, infos = env.step({"left": left(obs["left"]), "right": right(obs["right"])})
        assert truncs == {"left": False, "right": False}
        for a in returns:
            returns[a] += rewards[a]
        if terms["left"]:
            assert terms["right"] and env.agents == []
            return steps, returns, infos["left"]
    raise AssertionError("episode did not end")


def test_passes_check_env_with_a_creator_and_an_instance() -> None:
    assert check_env(PaddlesEnv, num_steps=1500) == []
    assert check_env(PaddlesEnv(), num_steps=400, seed=5) == []


def test_a_tracking_player_beats_an_idle_one_and_rallies_happen() -> None:
    _, returns, info = play(PaddlesEnv(), tracker, lambda obs: 0, seed=3)
    assert info["left_points"] == 5 and info["right_points"] == 0
    assert returns == {"left": 5.0, "right": -5.0}
    assert info["hits"] >= 1  # the tracker returned the balls served to it (the loser is served)
    # Two trackers keep the ball in play far longer than one.
    env = PaddlesEnv()
    env.reset(seed=3)
    for _ in range(3000):
        obs = env._observations()
        env.step({"left": tracker(obs["left"]), "right": tracker(obs["right"])})
    assert env.get_state()["hits"] > 40


def test_actions_move_paddles_within_the_field_and_bad_actions_are_named() -> None:
    env = PaddlesEnv(paddle_speed=15)
    env.reset(seed=0)
    start = env.get_state()["left_y"]
    env.step({"left": 1, "right": 2})
    s = env.get_state()
    assert s["left_y"] == start - 15 and s["right_y"] == start + 15
    for _ in range(100):
        env.step({"left": 1, "right": 2})
    s = env.get_state()
    assert s["left_y"] == 0 and s["right_y"] == HEIGHT - PADDLE_H
    with pytest.raises(ValueError, match="action of 'left' must be 0 \\(stay\\), 1 \\(up\\) or 2 \\(down\\)"):
        env.step({"left": 3, "right": 0})
    with pytest.raises(ValueError, match="no action for agent 'right'"):
        env.step({"left": 0})


def test_same_seed_and_actions_give_the_same_game_and_seeds_differ() -> None:
    def run(seed: int) -> list:
        env, rng = PaddlesEnv(), random.Random(9)
        env.reset(seed=seed)
        out = []
        for _ in range(600):
            out.append(env.step({"left": rng.randrange(3), "right": rng.randrange(3)}))
        return out

    assert run(4) == run(4)
    assert run(4) != run(5)


def test_state_is_ints_and_snapshots_restore_exactly_through_json() -> None:
    env, rng = PaddlesEnv(), random.Random(1)
    env.reset(seed=11)
    for _ in range(150):
        env.step({"left": rng.randrange(3), "right": rng.randrange(3)})
    snapshot = env.get_state()
    assert all(type(v) is int for k, v in snapshot.items() if k != "last_point")
    actions = [{"left": rng.randrange(3), "right": rng.randrange(3)} for _ in range(400)]
    first = [env.step(a) for a in actions]
    first_frame = env.render()
    # A snapshot sent to a peer: restored from its JSON text, twice, on another instance too.
    for target in (env, env, PaddlesEnv()):
        target.set_state(json.loads(json.dumps(snapshot)))
        assert [target.step(a) for a in actions] == first
        assert target.render() == first_frame
    env.step({"left": 2, "right": 2})
    assert env.get_state() != snapshot  # the snapshot was a copy


def test_bad_snapshots_are_refused_with_the_reason() -> None:
    env = PaddlesEnv()
    env.reset(seed=0)
    state = env.get_state()
    with pytest.raises(ValueError, match="missing \\['ball_x'\\]"):
        env.set_state({k: v for k, v in state.items() if k != "ball_x"})
    with pytest.raises(ValueError, match="wrong type for \\['ball_y'\\]"):
        env.set_state({**state, "ball_y": 1.5})
    with pytest.raises(TypeError, match="expected a dict"):
        env.set_state([1, 2])  # type: ignore[arg-type]
    assert env.get_state() == state


def test_terminal_state_after_set_state_and_steps_after_the_end() -> None:
    env = PaddlesEnv(points_to_win=1)
    _, _, info = play(env, tracker, lambda obs: 0, seed=2)
    assert info["left_points"] == 1
    end = env.get_state()
    _, rewards, terms, _, _ = env.step({"left": 0, "right": 0})
    assert terms == {"left": True, "right": True} and rewards == {"left": 0.0, "right": 0.0}
    fresh = PaddlesEnv(points_to_win=1)
    fresh.reset(seed=2)
    assert fresh.agents == ["left", "right"]
    fresh.set_state(end)
    assert fresh.agents == []


def test_renders_valid_mug_frames_through_the_adapter() -> None:
    adapter, differ = EnvAdapter(PaddlesEnv(), ["left", "right"]), RenderDiffer()
    obs = adapter.reset(seed=0)
    assert adapter.is_multi_agent and set(obs) == {"left", "right"} and len(obs["left"]) == 6
    assert adapter.action_space("right").n == 3
    full = adapter.render()
    validate_render_state(full)
    ids = {o["id"] for o in full["objects"]}
    assert {"field", "net", "left_paddle", "right_paddle", "left_score", "right_score"} <= ids
    assert "ball" not in ids  # the serve pause
    differ.diff(full)
    for _ in range(30):
        adapter.step({"left": 1, "right": 0})
    diff = differ.diff(adapter.render())
    changed = {o["id"] for o in diff["objects"]}
    assert "left_paddle" in changed and "ball" in changed and "field" not in changed


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"render_mode": "rgb_array"}, "render_mode must be 'mug' or None"),
        ({"points_to_win": 0}, "points_to_win must be an int >= 1"),
        ({"ball_speed": 20, "max_ball_speed": 10}, "max_ball_speed \\(10\\) must be >= ball_speed \\(20\\)"),
        ({"max_ball_speed": 60}, "would jump past a paddle"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PaddlesEnv(**kwargs)
