"""check_env: passes good envs, names every breach of broken ones."""

from __future__ import annotations

import random
from typing import ClassVar

import pytest

from mug.env import EnvCheckError, Surface, check_env
from mug.env.examples import CatchEnv
from mug.env.spaces import Discrete


class Walker:
    """A small, correct, seeded single-agent env with snapshots."""

    def __init__(self, render_mode: str | None = "mug") -> None:
        self.render_mode = render_mode
        self.action_space = Discrete(3)
        self.surface = Surface()
        self.rng = random.Random(0)
        self.pos = 0.5
        self.t = 0

    def reset(self, seed=None, options=None):
        self.rng = random.Random(seed)
        self.pos, self.t = self.rng.random(), 0
        return [self.pos], {}

    def step(self, action):
        self.t += 1
        self.pos = min(1.0, max(0.0, self.pos + (0, -0.05, 0.05)[action] + self.rng.uniform(-0.01, 0.01)))
        return [self.pos], -abs(self.pos - 0.5), False, self.t >= 15, {"t": self.t}

    def render(self):
        self.surface.rect(0, 0, 1, 1, fill="#eeeeee", id="bg")
        self.surface.circle(self.pos, 0.5, 0.03, id="walker")
        return self.surface.commit()

    def get_state(self):
        return {"rng": [list(self.rng.getstate()[1]), self.rng.getstate()[0]], "pos": self.pos, "t": self.t}

    def set_state(self, state):
        version_internal = state["rng"]
        self.rng.setstate((version_internal[1], tuple(version_internal[0]), None))
        self.pos, self.t = state["pos"], state["t"]


def problems_of(target, **kwargs) -> list[str]:
    with pytest.raises(EnvCheckError) as info:
        check_env(target, **kwargs)
    assert info.value.problems, "EnvCheckError without problems"
    assert all(p in str(info.value) for p in info.value.problems)
    return info.value.problems


def test_check_env_error_is_value_error() -> None:
    assert issubclass(EnvCheckError, ValueError)
    error = EnvCheckError(["a is wrong", "b is wrong"], ["c is odd"])
    assert (
        str(error)
        == "check_env found 2 problems:\n  - a is wrong\n  - b is wrong\nand these warnings:\n  - c is odd"
    )
    assert error.problems == ["a is wrong", "b is wrong"] and error.warnings == ["c is odd"]


def test_catch_env_passes_as_class_creator_and_instance() -> None:
    assert check_env(CatchEnv) == []
    assert check_env(CatchEnv(), num_steps=300) == []
    assert check_env(lambda: CatchEnv(render_mode="rgb_array", width=120, height=80), num_steps=50) == []


def test_good_env_passes_with_explicit_actions() -> None:
    assert check_env(Walker, actions=[0, 1, 2], seed=5) == []
    assert check_env(Walker(), actions=[2]) == []


def test_wrong_step_tuple_length_is_named() -> None:
    class OldGym(Walker):
        def step(self, action):
            obs, reward, terminated, truncated, info = super().step(action)
            return obs, reward, terminated or truncated, info

    (problem,) = problems_of(OldGym)
    assert "env.step() returned 4 values" in problem
    assert "a Gymnasium env returns (obs, reward, terminated, truncated, info)" in problem
    assert "[env.step() at step 0]" in problem


def test_non_deterministic_env_is_caught() -> None:
    class Unseeded(Walker):
        def reset(self, seed=None, options=None):
            super().reset(seed)
            self.rng = random.Random()  # ignores the seed
            return [self.pos], {}

    for target in (Unseeded, Unseeded()):
        problems = problems_of(target)
        assert any(
            p.startswith("not deterministic: with the same seed (0) and the same actions") for p in problems
        )
        assert any("different observations at step 0" in p for p in problems)


def test_non_deterministic_reset_is_located() -> None:
    class RandomStart(Walker):
        def reset(self, seed=None, options=None):
            super().reset(seed)
            self.pos = random.random()
            return [self.pos], {}

    problems = problems_of(RandomStart)
    assert any("gave different observations at the first reset" in p for p in problems)


def test_render_returning_garbage_is_named() -> None:
    class Garbage(Walker):
        def render(self):
            return "a picture of a walker"

    (problem,) = problems_of(Garbage)
    assert problem.startswith("env.render() returned 'a picture of a walker' (str)")
    assert "[after reset]" in problem


def test_invalid_render_objects_are_named() -> None:
    class BadColor(Walker):
        def render(self):
            return [{"type": "rect", "x": 0, "y": 0, "w": 1, "h": 1, "fill": "blue"}]

    (problem,) = problems_of(BadColor)
    assert "invalid render state: objects[0] (type 'rect'): field 'fill' must be a CSS hex color" in problem


def test_render_returning_none_is_a_problem() -> None:
    class NoRender(Walker):
        def render(self):
            return None

    (problem,) = problems_of(NoRender)
    assert "env.render() returned None" in problem and "render_mode='mug'" in problem


def test_set_state_that_does_not_restore_is_caught() -> None:
    class ForgetfulRestore(Walker):
        def set_state(self, state):
            self.pos = state["pos"]  # forgets the RNG and the step counter

    problems = problems_of(ForgetfulRestore)
    assert any(
        p.startswith("set_state() does not restore the env: after set_state(get_state())") for p in problems
    )


def test_get_state_returning_live_references_is_caught() -> None:
    class Live(Walker):
        def __init__(self, render_mode="mug"):
            super().__init__(render_mode)
            self.state = {"pos": 0.5, "t": 0}

        def reset(self, seed=None, options=None):
            self.state = {"pos": 0.5, "t": 0}
            return [0.5], {}

        def step(self, action):
            self.state["t"] += 1
            self.state["pos"] += (0, -0.01, 0.01)[action]
            return [self.state["pos"]], 0.0, False, False, {}

        def render(self):
            return []

        def get_state(self):
            return self.state

        def set_state(self, state):
            self.state = dict(state)

    problems = problems_of(Live)
    assert any("get_state() returned live references" in p for p in problems)


def test_set_state_keeping_the_snapshot_is_caught() -> None:
    class Aliasing(Walker):
        def reset(self, seed=None, options=None):
            self.state = {"pos": 0.5}
            return [0.5], {}

        def step(self, action):
            self.state["pos"] += 0.01 * action
            return [self.state["pos"]], 0.0, False, False, {}

        def render(self):
            return []

        def get_state(self):
            return dict(self.state)

        def set_state(self, state):
            self.state = state  # keeps (and later mutates) the caller's snapshot

    problems = problems_of(Aliasing, actions=[1, 2])
    assert any("set_state() of the same snapshot twice gave different results" in p for p in problems)


def test_half_a_snapshot_api_is_a_problem() -> None:
    class HalfSnapshot(Walker):
        set_state = None

    assert "the env has get_state() but no set_state(); snapshots need both" in problems_of(HalfSnapshot)


def test_signature_and_type_problems_are_collected() -> None:
    class NoSeed(Walker):
        def reset(self, options=None):
            return super().reset(0)

    problems = problems_of(NoSeed)
    assert "env.reset() does not accept the keyword argument 'seed'" in problems[0]

    class StringReward(Walker):
        def step(self, action):
            obs, _, terminated, truncated, info = super().step(action)
            return obs, "1", terminated, truncated, info

    (problem,) = problems_of(StringReward)
    assert "env.step() reward is '1' (str); expected a number" in problem


def test_unrecordable_observation_is_a_problem() -> None:
    class ObjectObs(Walker):
        def step(self, action):
            _, reward, terminated, truncated, info = super().step(action)
            return object(), reward, terminated, truncated, info

    problems = problems_of(ObjectObs, num_steps=3)
    assert any("returned an observation MUG cannot record as JSON" in p for p in problems)


def test_no_actions_available() -> None:
    class NoSpace(Walker):
        def __init__(self):
            super().__init__()
            del self.action_space

    (problem,) = problems_of(NoSpace)
    assert "has no action_space with sample(); give the env an action_space or pass actions=[...]" in problem
    assert check_env(NoSpace, actions=[0, 1]) == []


def test_creator_that_raises() -> None:
    def creator():
        raise RuntimeError("missing asset")

    assert problems_of(creator) == ["creating the env raised RuntimeError: missing asset"]


def test_missing_methods() -> None:
    class Nothing:
        pass

    problems = problems_of(Nothing())
    assert "the env has no reset() method" in problems and "the env has no step() method" in problems


def test_env_exception_is_reported_with_step() -> None:
    class Crashes(Walker):
        def step(self, action):
            if self.t == 4:
                raise ZeroDivisionError("oops")
            return super().step(action)

    assert problems_of(Crashes) == ["env.step() at step 4 raised ZeroDivisionError: oops"]


def test_warnings_are_returned() -> None:
    class NoOptions(Walker):
        def reset(self, seed=None):
            return super().reset(seed)

    warnings = check_env(NoOptions)
    assert warnings == ["env.reset() does not accept the keyword argument 'options' (Gymnasium envs do)"]


def test_multi_agent_env_passes() -> None:
    class Pair:
        possible_agents: ClassVar[list[str]] = ["left", "right"]

        def __init__(self):
            self.agents: list[str] = []
            self.rng = random.Random(0)

        def action_space(self, agent):
            return Discrete(2)

        def reset(self, seed=None, options=None):
            self.rng = random.Random(seed)
            self.agents, self.t = list(self.possible_agents), 0
            return {a: self.rng.random() for a in self.agents}, {a: {} for a in self.agents}

        def step(self, actions):
            self.t += 1
            obs = {a: self.rng.random() + actions[a] for a in self.agents}
            done = self.t >= 7
            flags = {a: done for a in self.agents}
            result = obs, {a: 1.0 for a in self.agents}, flags, dict.fromkeys(self.agents, False), {}
            if done:
                self.agents = []
            return result

        def render(self):
            return {"objects": [{"type": "text", "x": 0.5, "y": 0.5, "text": str(self.t)}], "removed": []}

    assert check_env(Pair) == []

    class Unseeded(Pair):
        def reset(self, seed=None, options=None):
            return super().reset(None)

    assert any(p.startswith("not deterministic") for p in problems_of(Unseeded))


def test_gymnasium_rgb_array_env() -> None:
    np = pytest.importorskip("numpy")
    gymnasium = pytest.importorskip("gymnasium")

    class Pixels(gymnasium.Env):
        metadata: ClassVar[dict] = {"render_modes": ["rgb_array"]}

        def __init__(self, channels=3, dtype=np.uint8):
            self.render_mode = "rgb_array"
            self.observation_space = gymnasium.spaces.Box(-1, 1, (2,), dtype=np.float32)
            self.action_space = gymnasium.spaces.Discrete(2)
            self.channels, self.dtype = channels, dtype

        def reset(self, seed=None, options=None):
            super().reset(seed=seed)
            self.x = self.np_random.uniform(-1, 1, 2).astype(np.float32)
            return self.x, {}

        def step(self, action):
            self.x = np.clip(self.x + self.np_random.normal(0, 0.1, 2), -1, 1).astype(np.float32)
            return self.x, float(action), bool(abs(self.x[0]) > 0.95), False, {}

        def render(self):
            return np.full((30, 40, self.channels), 128, dtype=self.dtype)

    assert check_env(Pixels) == []
    (problem,) = problems_of(lambda: Pixels(channels=2))
    assert "env.render() returned an image MUG cannot encode: encode_png: image must be an HxWx3" in problem
    (problem,) = problems_of(lambda: Pixels(dtype=np.float32))
    assert "dtype uint8, got float32" in problem


def test_closes_the_envs_it_creates_but_not_a_given_instance() -> None:
    created = []

    class Closable(Walker):
        closed = False

        def close(self):
            self.closed = True

    def creator():
        created.append(Closable())
        return created[-1]

    check_env(creator)
    assert len(created) == 3 and all(env.closed for env in created)  # rollout, determinism, snapshot
    mine = Closable()
    check_env(mine)
    assert not mine.closed
