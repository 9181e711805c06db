"""EnvAdapter: single- and multi-agent envs, detection, render outputs, contract errors."""

from __future__ import annotations

from typing import ClassVar

import pytest

from mug.env import FRAME_ID, EnvAdapter, EnvContractError, StepResult, Surface
from mug.env.spaces import Discrete


class Counter:
    """Single-agent Gymnasium-style env: obs counts steps; done after 3."""

    def __init__(self, render_mode: str | None = "mug") -> None:
        self.render_mode = render_mode
        self.action_space = Discrete(2)
        self.t = 0
        self.surface = Surface()
        self.closed = False

    def reset(self, seed=None, options=None):
        self.t = 0
        return [0.0], {"seed": seed, "options": options}

    def step(self, action):
        self.t += 1
        return [float(self.t)], float(action), self.t >= 3, False, {"t": self.t}

    def render(self):
        self.surface.circle(self.t / 3, 0.5, 0.05, id="dot")
        return self.surface.commit()

    def close(self):
        self.closed = True


class Duel:
    """PettingZoo-parallel-style env with possible_agents; 'b' leaves after 2 steps, all done after 4."""

    possible_agents = ("a", "b")

    def __init__(self) -> None:
        self.agents: list[str] = []
        self.t = 0

    def action_space(self, agent):
        return Discrete(3 if agent == "a" else 2)

    def reset(self, seed=None, options=None):
        self.agents = list(self.possible_agents)
        self.t = 0
        return {a: [0] for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions):
        assert set(actions) == set(self.agents), actions
        self.t += 1
        obs = {a: [self.t, actions[a]] for a in self.agents}
        rewards = {a: 1.0 for a in self.agents}
        terms = {a: (a == "b" and self.t >= 2) or self.t >= 4 for a in self.agents}
        truncs = {a: False for a in self.agents}
        infos = {a: {"t": self.t} for a in self.agents}
        self.agents = [a for a in self.agents if not terms[a]]
        return obs, rewards, terms, truncs, infos

    def render(self):
        return [{"type": "rect", "x": 0, "y": 0, "w": 1, "h": 1, "id": "bg"}]


class Anonymous:
    """Multi-agent env without possible_agents, int agent names, RLlib-style '__all__'."""

    def reset(self, seed=None, options=None):
        return {0: "o0", 1: "o1"}, {}

    def step(self, actions):
        done = actions[0] == "stop"
        return ({0: "x", 1: "y"}, {0: 1, 1: 2}, {"__all__": done}, {"__all__": False}, {})

    def render(self):
        return {"objects": [], "removed": []}


def test_single_agent_reset_step_render_close() -> None:
    env = Counter()
    adapter = EnvAdapter(env, ["p1"])
    assert not adapter.is_multi_agent
    assert adapter.reset(seed=7) == {"p1": [0.0]}
    assert adapter.reset_infos == {"p1": {"seed": 7, "options": None}}
    adapter.reset(seed=1, options={"level": 2})
    assert adapter.reset_infos["p1"]["options"] == {"level": 2}
    result = adapter.step({"p1": 1})
    assert isinstance(result, StepResult)
    assert result == StepResult(
        observations={"p1": [1.0]},
        rewards={"p1": 1.0},
        terminated={"p1": False},
        truncated={"p1": False},
        infos={"p1": {"t": 1}},
        episode_over=False,
    )
    adapter.step({"p1": 0})
    assert adapter.step({"p1": 0}).episode_over
    state = adapter.render()
    assert state["objects"][0]["id"] == "dot"
    assert adapter.action_space("p1") is env.action_space
    assert adapter.observation_space("p1") is None
    assert adapter.render_mode == "mug"
    adapter.close()
    assert env.closed


def test_single_agent_needs_exactly_one_id() -> None:
    with pytest.raises(ValueError, match="single-agent env takes exactly one agent id"):
        EnvAdapter(Counter(), ["a", "b"], multi_agent=False)
    adapter = EnvAdapter(Counter(), ["a", "b"])  # guessed multi-agent until reset
    assert adapter.is_multi_agent
    with pytest.raises(EnvContractError, match=r"looks single-agent.*exactly one agent id"):
        adapter.reset(0)


def test_bad_agent_ids() -> None:
    for ids in ([], "p1", ["a", "a"], ["a", 3]):
        with pytest.raises(ValueError, match="agent_ids"):
            EnvAdapter(Counter(), ids)


def test_step_action_errors_are_caller_errors() -> None:
    adapter = EnvAdapter(Counter(), ["p1"])
    adapter.reset(0)
    with pytest.raises(ValueError, match="unknown agent id"):
        adapter.step({"p2": 0})
    with pytest.raises(ValueError, match="no action for agent 'p1'"):
        adapter.step({})
    with pytest.raises(TypeError, match="dict keyed by agent id"):
        adapter.step(1)


def test_numpy_rewards_and_flags_are_converted() -> None:
    np = pytest.importorskip("numpy")

    class NumpyEnv(Counter):
        def step(self, action):
            return np.zeros(2), np.float32(0.5), np.bool_(True), np.bool_(False), {}

    result = EnvAdapter(NumpyEnv(), ["p"]).step({"p": 0})
    assert result.rewards == {"p": 0.5} and type(result.rewards["p"]) is float
    assert result.terminated == {"p": True} and type(result.terminated["p"]) is bool
    assert result.episode_over


@pytest.mark.parametrize(
    ("step_return", "pattern"),
    [
        (
            ([0], 1.0, False, {}),
            r"env.step\(\) returned 4 values \(the old Gym API with a single 'done' flag\); "
            r"a Gymnasium env returns \(obs, reward, terminated, truncated, info\)",
        ),
        (None, r"env.step\(\) returned None \(NoneType\); a Gymnasium env returns"),
        (([0], "1", False, False, {}), r"env.step\(\) reward is '1' \(str\); expected a number"),
        (([0], True, False, False, {}), r"reward is True \(bool\); expected a number"),
        (([0], float("nan"), False, False, {}), r"reward is NaN"),
        (([0], 1.0, 0, False, {}), r"env.step\(\) terminated is 0 \(int\); expected a bool"),
        (([0], 1.0, False, None, {}), r"env.step\(\) truncated is None"),
        (([0], 1.0, False, False, None), r"env.step\(\) returned info None \(NoneType\); expected a dict"),
    ],
)
def test_single_agent_step_contract_errors(step_return, pattern) -> None:
    class Broken(Counter):
        def step(self, action):
            return step_return

    adapter = EnvAdapter(Broken(), ["p"])
    adapter.reset(0)
    with pytest.raises(EnvContractError, match=pattern):
        adapter.step({"p": 0})


@pytest.mark.parametrize(
    ("reset_return", "pattern"),
    [
        ([0.0], r"env.reset\(\) returned \[0.0\] \(list\); expected \(observation, info\)"),
        (([0.0], {}, 1), r"env.reset\(\) returned a tuple of 3 values"),
        (([0.0], None), r"env.reset\(\) returned info None"),
    ],
)
def test_reset_contract_errors(reset_return, pattern) -> None:
    class Broken(Counter):
        def reset(self, seed=None, options=None):
            return reset_return

    with pytest.raises(EnvContractError, match=pattern):
        EnvAdapter(Broken(), ["p"]).reset(0)


def test_multi_agent_with_possible_agents() -> None:
    env = Duel()
    adapter = EnvAdapter(env, ["b", "a"])
    assert adapter.is_multi_agent
    assert adapter.reset(3) == {"a": [0], "b": [0]}
    assert adapter.reset_infos == {"a": {}, "b": {}}
    assert adapter.action_space("a").n == 3 and adapter.action_space("b").n == 2
    first = adapter.step({"a": 2, "b": 1})
    assert first.observations == {"a": [1, 2], "b": [1, 1]} and not first.episode_over
    second = adapter.step({"a": 0, "b": 0})
    assert second.terminated == {"a": False, "b": True} and not second.episode_over
    # b has left: its action is ignored, its last observation and flags are kept, reward 0
    third = adapter.step({"a": 1, "b": 1})
    assert third.observations["b"] == [2, 0] and third.rewards["b"] == 0.0 and third.terminated["b"]
    assert third.rewards["a"] == 1.0 and third.infos["b"] == {}
    fourth = adapter.step({"a": 1})
    assert fourth.terminated == {"a": True, "b": True} and fourth.episode_over
    rendered = adapter.render()
    assert rendered["objects"][0]["fill"] == "#000000"  # completed with Surface defaults
    # a new episode brings everyone back
    adapter.reset(4)
    with pytest.raises(ValueError, match=r"no action for agent\(s\) \['b'\]"):
        adapter.step({"a": 0})


def test_multi_agent_ids_must_match_possible_agents() -> None:
    with pytest.raises(
        EnvContractError, match=r"env.possible_agents is \['a', 'b'\] but the agent ids given"
    ):
        EnvAdapter(Duel(), ["a", "c"])


def test_multi_agent_detected_from_reset_with_int_names_and_all_flag() -> None:
    adapter = EnvAdapter(Anonymous(), ["0", "1"])
    assert adapter.reset(None) == {"0": "o0", "1": "o1"}
    assert adapter.is_multi_agent
    result = adapter.step({"0": "go", "1": "go"})
    assert result.rewards == {"0": 1.0, "1": 2.0}
    assert result.terminated == {"0": False, "1": False} and not result.episode_over
    result = adapter.step({"0": "stop", "1": "go"})
    assert result.terminated == {"0": True, "1": True} and result.episode_over


def test_single_id_with_dict_obs_is_multi_agent_only_if_keys_match() -> None:
    class DictObs(Counter):
        def reset(self, seed=None, options=None):
            return {"position": 0, "speed": 1}, {}

    adapter = EnvAdapter(DictObs(), ["p"])
    adapter.reset(0)
    assert not adapter.is_multi_agent

    class OneAgent(Counter):
        def reset(self, seed=None, options=None):
            return {"p": 0}, {}

    adapter = EnvAdapter(OneAgent(), ["p"])
    adapter.reset(0)
    assert adapter.is_multi_agent
    forced = EnvAdapter(OneAgent(), ["p"], multi_agent=False)
    assert forced.reset(0) == {"p": {"p": 0}}


@pytest.mark.parametrize(
    ("step_return", "pattern"),
    [
        (({}, {}, {}, {}), r"env.step\(\) returned 4 values; a PettingZoo parallel env returns"),
        (([], {}, {}, {}, {}), r"env.step\(\) returned observations \[\] \(list\)"),
        (({"a": 0, "b": 0, "c": 0}, {}, {}, {}, {}), r"observations with key 'c', which is not an agent"),
        (
            ({"a": 0, "b": 0}, {"a": 1}, {"a": False, "b": False}, {"a": False, "b": False}, {}),
            r"no rewards entry for agent 'b', which acted",
        ),
        (
            ({"a": 0, "b": 0}, {"a": 1, "b": "x"}, {"a": False, "b": False}, {"a": False, "b": False}, {}),
            r"env.step\(\) rewards\['b'\] is 'x' \(str\); expected a number",
        ),
        (
            ({"a": 0, "b": 0}, {"a": 1, "b": 1}, {"a": False, "b": 1}, {"a": False, "b": False}, {}),
            r"env.step\(\) terminations\['b'\] is 1 \(int\); expected a bool",
        ),
        (
            (
                {"a": 0, "b": 0},
                {"a": 1, "b": 1},
                {"a": False, "b": False},
                {"a": False, "b": False},
                {"a": 3},
            ),
            r"env.step\(\) returned info for agent 'a' 3 \(int\); expected a dict",
        ),
    ],
)
def test_multi_agent_step_contract_errors(step_return, pattern) -> None:
    class Broken(Duel):
        def step(self, actions):
            return step_return

    adapter = EnvAdapter(Broken(), ["a", "b"])
    adapter.reset(0)
    with pytest.raises(EnvContractError, match=pattern):
        adapter.step({"a": 0, "b": 0})


@pytest.mark.parametrize(
    ("output", "pattern"),
    [
        (None, r"env.render\(\) returned None; expected a render state dict .* render_mode='mug'"),
        ("frame", r"env.render\(\) returned 'frame' \(str\); expected a render state dict"),
        ({"frame": 1}, r"env.render\(\) returned a dict without an 'objects' key"),
        (
            {"objects": [{"type": "blob"}]},
            r"invalid render state: objects\[0\] \(type 'blob'\): unknown type",
        ),
        ([{"type": "circle", "x": 0, "y": 0}], r"invalid render state: .* missing field 'radius'"),
        ([[1, 2], [3, 4]], r"env.render\(\) returned an image MUG cannot encode"),
        (b"\x00\x01", r"cannot encode: .*not a PNG file"),
    ],
)
def test_render_contract_errors(output, pattern) -> None:
    class Broken(Counter):
        def render(self):
            return output

    with pytest.raises(EnvContractError, match=pattern):
        EnvAdapter(Broken(), ["p"]).render()


def test_render_accepts_state_list_and_empty() -> None:
    assert EnvAdapter.render_state_from([]) == {"objects": [], "removed": []}
    state = EnvAdapter.render_state_from({"objects": [{"type": "text", "x": 0, "y": 0, "text": "hi"}]})
    assert state["removed"] == [] and state["objects"][0]["align"] == "left"


def test_a_surface_state_is_passed_on_as_drawn_unless_changed_after_its_commit() -> None:
    surface = Surface(100, 100)
    surface.circle(0.5, 0.5, 0.1, id="dot")
    state = surface.commit()
    assert EnvAdapter.render_state_from(state) is state  # checked call by call while drawing
    surface.circle(0.5, 0.5, 0.1, id="dot")
    tampered = surface.commit()
    tampered["objects"].append({"type": "circle", "x": "left", "y": 0, "radius": 0.1})
    with pytest.raises(EnvContractError, match=r"objects\[1\].*field 'x' must be a finite number"):
        EnvAdapter.render_state_from(tampered)


def test_rgb_array_numpy_env_renders_one_image_object() -> None:
    np = pytest.importorskip("numpy")
    gymnasium = pytest.importorskip("gymnasium")

    class Pixels(gymnasium.Env):
        metadata: ClassVar[dict] = {"render_modes": ["rgb_array"]}

        def __init__(self):
            self.render_mode = "rgb_array"
            self.observation_space = gymnasium.spaces.Box(0, 1, (2,))
            self.action_space = gymnasium.spaces.Discrete(2)
            self.t = 0

        def reset(self, seed=None, options=None):
            super().reset(seed=seed)
            self.t = 0
            return np.zeros(2, dtype=np.float32), {}

        def step(self, action):
            self.t += 1
            return np.zeros(2, dtype=np.float32), 0.0, self.t > 5, False, {}

        def render(self):
            frame = np.zeros((40, 60, 3), dtype=np.uint8)
            frame[:, : 10 * self.t] = (255, 0, 0)
            return frame

    adapter = EnvAdapter(Pixels(), ["p"])
    adapter.reset(0)
    adapter.step({"p": 1})
    state = adapter.render()
    assert len(state["objects"]) == 1
    image = state["objects"][0]
    assert image["type"] == "image" and image["id"] == FRAME_ID == "__frame__"
    assert (image["x"], image["y"], image["w"], image["h"]) == (0.0, 0.0, 1.0, 1.0)
    assert image["src"].startswith("data:image/png;base64,")


def test_real_gymnasium_env_through_gym_make() -> None:
    gymnasium = pytest.importorskip("gymnasium")
    env = gymnasium.make("CartPole-v1")
    adapter = EnvAdapter(env, ["player"])
    obs = adapter.reset(seed=0)["player"]
    assert obs.shape == (4,) and not adapter.is_multi_agent
    result = adapter.step({"player": 1})
    assert type(result.rewards["player"]) is float and result.rewards["player"] == 1.0
    assert adapter.action_space("player").n == 2
    adapter.close()


def test_snapshots_delegate_or_explain() -> None:
    class Snap(Counter):
        def get_state(self):
            return {"t": self.t}

        def set_state(self, state):
            self.t = state["t"]

    adapter = EnvAdapter(Snap(), ["p"])
    assert adapter.has_snapshot
    adapter.reset(0)
    adapter.step({"p": 0})
    saved = adapter.get_state()
    adapter.step({"p": 0})
    adapter.set_state(saved)
    assert adapter.step({"p": 0}).observations == {"p": [2.0]}
    plain = EnvAdapter(Counter(), ["p"])
    assert not plain.has_snapshot
    with pytest.raises(EnvContractError, match=r"Counter has no get_state\(\)/set_state\(\)"):
        plain.get_state()


class PlainPair:
    """Two agents returning plain dicts every step; 'right' terminates at step 3, the episode ends at 4."""

    possible_agents = ("left", "right")

    def __init__(self, wrap=dict) -> None:
        self.wrap = wrap  # a Mapping type other than dict sends the adapter down its general path
        self.t = 0

    def action_space(self, agent):
        return Discrete(3)

    def reset(self, seed=None, options=None):
        self.t = 0
        return {a: 0 for a in self.possible_agents}, {a: {} for a in self.possible_agents}

    def step(self, actions):
        self.t += 1
        w = self.wrap
        return (
            w({a: [self.t, actions[a]] for a in actions}),
            w({"left": 1, "right": 0.5}),
            w({"left": self.t >= 4, "right": self.t >= 3}),
            w({"left": False, "right": False}),
            w({a: {"t": self.t} for a in actions}),
        )

    def render(self):
        return []


def test_plain_step_results_match_the_general_path() -> None:
    from types import MappingProxyType

    plain = EnvAdapter(PlainPair(), ["left", "right"])
    general = EnvAdapter(PlainPair(MappingProxyType), ["left", "right"])
    for adapter in (plain, general):
        adapter.reset(1)
    for t in range(1, 5):
        a, b = plain.step({"left": t % 3, "right": 1}), general.step({"left": t % 3, "right": 1})
        assert a == b
        assert type(a.rewards["left"]) is float
    assert a.terminated == {"left": True, "right": True} and a.episode_over


def test_a_plain_step_with_an_odd_value_takes_the_checked_path() -> None:
    class OddFlag(PlainPair):
        def step(self, actions):
            obs, rewards, terms, truncs, infos = super().step(actions)
            terms["right"] = 0  # an int flag: accepted, converted, never taken as plain
            infos["left"] = None  # not a dict: refused with the agent's name
            return obs, rewards, terms, truncs, infos

    adapter = EnvAdapter(OddFlag(), ["left", "right"])
    adapter.reset(1)
    with pytest.raises(EnvContractError, match=r"info for agent 'left'"):
        adapter.step({"left": 0, "right": 0})
