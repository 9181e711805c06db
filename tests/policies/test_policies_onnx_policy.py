"""OnnxPolicy (server, onnxruntime), FrameSkipPolicy and make_policy with real tiny models."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from policies_models import N_ACTIONS, N_OBS, build_ff, build_lstm, ff_weights, observations

from mug.env import spaces as mug_spaces
from mug.policies import (
    FrameSkipPolicy,
    ModelConfig,
    ModelConfigError,
    OnnxPolicy,
    PolicyError,
    RandomPolicy,
    agent_rng,
    make_policy,
    runtime,
    sample_index,
    softmax,
)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("models")
    return {"ff": build_ff(d / "ff.onnx"), "lstm": build_lstm(d / "lstm.onnx")}


@pytest.fixture
def ff(models) -> ModelConfig:
    return ModelConfig(models["ff"], "obs", "logits", fixed_inputs={"temperature": 1.5})


@pytest.fixture
def lstm(models) -> ModelConfig:
    return ModelConfig(models["lstm"], "obs", "logits", ["h_in", "c_in"], ["h_out", "c_out"])


def play(policy, seed, obs):
    policy.reset(seed)
    return [policy.act(o) for o in obs]


def test_feed_forward_logits_match_numpy_and_actions_follow_the_seeded_draws(ff):
    policy = OnnxPolicy(ff, "ai")
    w, b = ff_weights()
    obs = observations(12, seed=1)
    policy.reset(42)
    rng = agent_rng(42, "ai")
    for o in obs:
        action = policy.act(o)
        expected = (np.asarray(o, np.float32) @ w + b) / np.float32(1.5)
        np.testing.assert_allclose(policy.last_logits, expected, rtol=1e-5, atol=1e-6)
        assert action == sample_index(softmax(policy.last_logits.tolist()), rng.uniform())
        assert isinstance(action, int) and 0 <= action < N_ACTIONS
    assert policy.n_actions == N_ACTIONS


def test_recurrent_state_is_fed_back_and_reset_each_episode(lstm):
    policy = OnnxPolicy(lstm, "ai")
    obs = observations(20, seed=2)
    first = play(policy, 7, obs)
    first_logits = policy.last_logits.copy()
    second = play(policy, 7, obs)  # the game loop calls reset(seed) at every episode start
    assert second == first
    np.testing.assert_array_equal(policy.last_logits, first_logits)

    # The state matters: a policy whose state is zeroed before every step sees other logits.
    stateless = OnnxPolicy(lstm, "ai")
    stateless.reset(7)
    stateless.act(obs[0])
    stateless.reset(7)
    stateless.act(obs[1])
    policy.reset(7)
    policy.act(obs[0])
    policy.act(obs[1])
    assert not np.allclose(stateless.last_logits, policy.last_logits)


def test_seed_and_agent_id_choose_the_stream(ff):
    obs = observations(30, seed=3)
    a = play(OnnxPolicy(ff, "ai"), 1, obs)
    assert play(OnnxPolicy(ff, "ai"), 1, obs) == a
    assert play(OnnxPolicy(ff, "ai"), 2, obs) != a
    assert play(OnnxPolicy(ff, "partner"), 1, obs) != a
    random_seed = OnnxPolicy(ff, "ai")
    random_seed.reset(None)
    assert isinstance(random_seed.seed, int)


def test_observations_as_lists_tuples_arrays_with_or_without_batch_dim(ff):
    policy = OnnxPolicy(ff, "ai")
    o = observations(1, seed=4)[0]
    results = []
    for form in (o, tuple(o), np.asarray(o, np.float64), np.asarray([o], np.float32), np.asarray(o).reshape(2, 3)):
        policy.reset(0)
        results.append((policy.act(form), policy.last_logits.tolist()))
    assert all(r == results[0] for r in results)


@pytest.mark.parametrize(
    ("obs", "message"),
    [
        (None, "no observation"),
        ([1.0, 2.0], "does not fit obs_input 'obs'"),
        ([[1.0, 2.0], [3.0]], "not a regular array"),
        ({"x": 1}, "not a regular array"),
        (["1.5"] * N_OBS, "numbers or booleans"),
        (np.zeros((2, N_OBS)), "came out with shape [2, 5]"),
    ],
)
def test_bad_observations_are_policy_errors(ff, obs, message):
    policy = OnnxPolicy(ff, "ai")
    policy.reset(0)
    with pytest.raises(PolicyError) as err:
        policy.act(obs)
    assert message in str(err.value)


def test_act_before_reset_and_custom_js_on_the_server_are_errors(ff, models):
    with pytest.raises(PolicyError, match="reset"):
        OnnxPolicy(ff, "ai").act([0.0] * N_OBS)
    custom = ModelConfig(models["lstm"], "obs", "logits", ["h_in", "c_in"], ["h_out", "c_out"], custom_inference_fn="x")
    with pytest.raises(ModelConfigError, match="runs only in the browser"):
        OnnxPolicy(custom, "ai")
    with pytest.raises(TypeError):
        OnnxPolicy("model.onnx", "ai")  # type: ignore[arg-type]


def test_one_session_per_model_file_until_the_file_changes(models, tmp_path):
    a = OnnxPolicy(ModelConfig(models["ff"], "obs", "logits", fixed_inputs={"temperature": 1.0}), "a")
    b = OnnxPolicy(ModelConfig(models["ff"], "obs", "logits", fixed_inputs={"temperature": 2.0}), "b")
    assert a._session is b._session
    path = build_ff(tmp_path / "ff.onnx", temperature_input=False)
    config = ModelConfig(path, "obs", "logits")
    first = OnnxPolicy(config, "ai")
    build_ff(path, temperature_input=True)  # rewritten: a new session, and the config is checked again
    with pytest.raises(ModelConfigError, match="temperature"):
        OnnxPolicy(config, "ai")
    assert runtime.load_session(path) is not first._session


def test_get_state_and_set_state_rewind_rng_and_recurrent_state(lstm):
    policy = OnnxPolicy(lstm, "ai")
    obs = observations(6, seed=5)
    policy.reset(3)
    policy.act(obs[0])
    snapshot = policy.get_state()
    later = [policy.act(o) for o in obs[1:]]
    policy.set_state(snapshot)
    assert [policy.act(o) for o in obs[1:]] == later


class Counter:
    def __init__(self) -> None:
        self.n = 0
        self.seen: list = []

    def reset(self, seed):
        self.n = 0

    def act(self, observation):
        self.seen.append(observation)
        self.n += 1
        return self.n - 1

    def get_state(self):
        return self.n

    def set_state(self, state):
        self.n = state


def test_frame_skip_queries_at_steps_0_k_2k_of_each_episode():
    inner = Counter()
    policy = FrameSkipPolicy(inner, 3)
    policy.reset(0)
    assert [policy.act(t) for t in range(7)] == [0, 0, 0, 1, 1, 1, 2]
    assert inner.seen == [0, 3, 6]
    policy.reset(1)
    assert [policy.act(t) for t in range(4)] == [0, 0, 0, 1]
    assert policy.queried(0) and policy.queried(3) and not policy.queried(4)
    state = policy.get_state()
    assert [policy.act(None) for _ in range(3)] == [1, 1, 2]
    policy.set_state(state)
    assert [policy.act(None) for _ in range(3)] == [1, 1, 2]
    for bad in (0, -1, 1.5, True):
        with pytest.raises(PolicyError):
            FrameSkipPolicy(Counter(), bad)
    with pytest.raises(PolicyError):
        FrameSkipPolicy(object(), 2)


def test_frame_skip_error_at_a_query_step_repeats_on_its_skipped_steps():
    class Flaky(Counter):
        def act(self, observation):
            if observation == "boom":
                raise PolicyError("boom")
            return super().act(observation)

    policy = FrameSkipPolicy(Flaky(), 2)
    policy.reset(0)
    assert policy.act("ok") == 0
    policy.act("ok")
    for _ in range(2):  # the failing query (step 2) and its skipped step 3
        with pytest.raises(PolicyError, match="boom"):
            policy.act("boom")
    assert policy.act("ok") == 1  # step 4 queries again


def test_make_policy_builds_onnx_policies_with_frame_skip_and_checks_the_action_space(models, lstm):
    policy = make_policy(lstm, agent_id="ai", action_space=gym.spaces.Discrete(N_ACTIONS))
    assert isinstance(policy, OnnxPolicy) and policy.agent_id == "ai"
    assert isinstance(make_policy(lstm, agent_id="ai", action_space=mug_spaces.Discrete(N_ACTIONS)), OnnxPolicy)
    skipping = make_policy(
        ModelConfig(models["lstm"], "obs", "logits", ["h_in", "c_in"], ["h_out", "c_out"], frame_skip=4),
        agent_id="ai",
    )
    assert isinstance(skipping, FrameSkipPolicy) and skipping.frame_skip == 4
    obs = observations(8, seed=6)
    direct = play(OnnxPolicy(lstm, "ai"), 9, [obs[0], obs[4]])
    assert play(skipping, 9, obs) == [direct[0]] * 4 + [direct[1]] * 4
    for space, message in (
        (gym.spaces.Discrete(3), "outputs 5 logits"),
        (gym.spaces.Discrete(N_ACTIONS, start=1), "starts at 1"),
        (gym.spaces.Box(0, 1, (2,)), "samples one discrete action"),
        (gym.spaces.MultiDiscrete([5, 5]), "samples one discrete action"),
    ):
        with pytest.raises(PolicyError, match=message):
            make_policy(lstm, agent_id="ai", action_space=space)


def test_make_policy_keeps_random_and_callables():
    assert isinstance(make_policy("random", agent_id="a", actions=[1, 2]), RandomPolicy)
    assert make_policy(lambda obs: 3, agent_id="a").act(None) == 3
    with pytest.raises(PolicyError, match="ModelConfig"):
        make_policy(42, agent_id="a")
