"""CatchEnv: rules, determinism, snapshots, both render modes."""

from __future__ import annotations

import json

import pytest

from mug.env import EnvAdapter, RenderDiffer, RGBFrame, validate_render_state
from mug.env.examples import CatchEnv


def play(env: CatchEnv, policy, seed: int = 0, limit: int = 2000) -> tuple[list, dict]:
    obs, info = env.reset(seed=seed)
    rewards = []
    for _ in range(limit):
        obs, reward, terminated, truncated, info = env.step(policy(obs))
        assert not truncated
        if reward:
            rewards.append(reward)
        if terminated:
            return rewards, info
    raise AssertionError("episode did not end")


def tracker(obs: list[float]) -> int:
    paddle, fruit = obs[0], obs[1]
    return 0 if abs(fruit - paddle) < 0.02 else (1 if fruit < paddle else 2)


def test_observation_and_info_shapes() -> None:
    env = CatchEnv()
    obs, info = env.reset(seed=1)
    assert len(obs) == 6 and all(type(v) is float for v in obs)
    assert obs[0] == 0.5 and obs[5] == 1.0
    assert info == {"caught": 0, "missed": 0, "drops": 0}
    assert env.action_space.n == 3 and env.action_space.contains(2) and not env.action_space.contains(3)


def test_tracking_player_catches_everything_and_idle_player_misses() -> None:
    rewards, info = play(CatchEnv(max_drops=4), tracker)
    assert rewards == [1.0] * 4 and info == {"caught": 4, "missed": 0, "drops": 4}
    rewards, info = play(CatchEnv(max_drops=3, paddle_width=0.05), lambda obs: 1)  # hugs the left wall
    assert info["caught"] + info["missed"] == 3 and sum(rewards) == info["caught"] - info["missed"]


def test_actions_move_the_paddle_within_bounds() -> None:
    env = CatchEnv(paddle_width=0.2, paddle_speed=0.1)
    env.reset(seed=0)
    for _ in range(20):
        obs, *_ = env.step(1)
    assert obs[0] == pytest.approx(0.1)
    obs, *_ = env.step(2)
    assert obs[0] == pytest.approx(0.2)
    obs, *_ = env.step(0)
    assert obs[0] == pytest.approx(0.2)


def test_invalid_actions_are_rejected() -> None:
    env = CatchEnv()
    env.reset(seed=0)
    for bad in (3, -1, "left", 1.0, True):
        with pytest.raises(ValueError, match=r"action must be 0 \(stay\), 1 \(left\) or 2 \(right\)"):
            env.step(bad)
    np = pytest.importorskip("numpy")
    env.step(np.int64(2))


def test_same_seed_same_game_different_seed_different_game() -> None:
    def trajectory(seed):
        env = CatchEnv()
        obs, _ = env.reset(seed=seed)
        out = [obs]
        for i in range(150):
            out.append(env.step(i % 3)[:3])
        return out

    assert trajectory(3) == trajectory(3)
    assert trajectory(3) != trajectory(4)


def test_reset_without_seed_continues_the_seeded_sequence() -> None:
    a, b = CatchEnv(), CatchEnv()
    a.reset(seed=9)
    b.reset(seed=9)
    second_episode = a.reset()[0]
    assert second_episode == b.reset()[0]
    assert second_episode != a.reset(seed=9)[0]  # a new episode gets new fruit
    unseeded = CatchEnv()
    assert len(unseeded.reset()[0]) == 6  # seed drawn from the OS


def test_episode_end_and_steps_after_it() -> None:
    env = CatchEnv(max_drops=1)
    env.reset(seed=0)
    terminated = False
    while not terminated:
        obs, _, terminated, _, info = env.step(0)
    assert info["drops"] == 1 and obs[5] == 0.0
    assert env.step(0)[1:3] == (0.0, True)


def test_snapshot_round_trip_is_json_and_exact() -> None:
    env = CatchEnv()
    env.reset(seed=5)
    for i in range(30):
        env.step(i % 3)
    snapshot = json.loads(json.dumps(env.get_state()))
    first = [env.step(i % 3) for i in range(60)]
    env.set_state(snapshot)
    assert [env.step(i % 3) for i in range(60)] == first
    with pytest.raises(ValueError, match="snapshot is missing"):
        env.set_state({"paddle_x": 0.5})


def test_mug_render_is_valid_and_scenery_is_sent_once() -> None:
    env = CatchEnv()
    env.reset(seed=2)
    differ = RenderDiffer()
    first = env.render()
    validate_render_state(first)
    ids = {o["id"] for o in first["objects"]}
    assert {"sky", "ground", "basket", "fruit", "score"} <= ids
    assert len(differ.diff(first)["objects"]) == len(first["objects"])
    env.step(0)
    delta = differ.diff(env.render())
    sent = {o["id"] for o in delta["objects"]}
    assert "sky" not in sent and "ground" not in sent and "fruit" in sent
    assert "basket" not in sent  # did not move
    env.step(1)
    assert "basket" in {o["id"] for o in differ.diff(env.render())["objects"]}


def test_mug_render_shows_feedback_and_end_panel() -> None:
    env = CatchEnv(max_drops=1)
    obs, _ = env.reset(seed=0)
    terminated = False
    while not terminated:
        obs, _, terminated, _, _ = env.step(tracker(obs))
    state = env.render()
    validate_render_state(state)
    texts = [o["text"] for o in state["objects"] if o["type"] == "text"]
    assert "+1" in texts and "You caught 1 of 1" in texts
    assert "fruit" not in {o["id"] for o in state["objects"]}


def test_rgb_array_render() -> None:
    env = CatchEnv(render_mode="rgb_array", width=60, height=40)
    env.reset(seed=0)
    frame = env.render()
    assert isinstance(frame, RGBFrame) and frame.shape == (40, 60, 3)
    assert frame.pixel(0, 0) == (0xBF, 0xE6, 0xFF)  # sky
    assert frame.pixel(0, 39) == (0x5A, 0x9E, 0x4B)  # ground
    state = EnvAdapter(env, ["p"]).render()
    assert state["objects"][0]["type"] == "image"


def test_render_mode_none_and_bad_mode() -> None:
    assert CatchEnv(render_mode=None).render() is None
    with pytest.raises(ValueError, match="render_mode must be 'mug', 'rgb_array' or None"):
        CatchEnv(render_mode="human")


def test_metadata_and_keys() -> None:
    assert CatchEnv.metadata["render_fps"] > 0 and "mug" in CatchEnv.metadata["render_modes"]
    assert CatchEnv.KEY_ACTIONS == {"ArrowLeft": 1, "ArrowRight": 2} and CatchEnv.DEFAULT_ACTION == 0
