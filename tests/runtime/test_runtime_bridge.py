"""The Python side of the Pyodide worker (mug/client/src/runtime/bridge.py), run in CPython.

The browser tests (test_runtime_browser.py) run the same file inside Pyodide; here its JSON
contract and error reports are checked quickly against mug.env directly.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from mug.env import EnvAdapter, RenderDiffer, to_jsonable
from mug.env.examples import CatchEnv

BRIDGE = Path(__file__).resolve().parents[2] / "mug" / "client" / "src" / "runtime" / "bridge.py"


@pytest.fixture(scope="module")
def bridge() -> Any:
    spec = importlib.util.spec_from_file_location("_mug_bridge", BRIDGE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CATCH = "from mug.env.examples import CatchEnv\nenv = CatchEnv(render_mode='mug')\n"


def game(bridge: Any, code: str = CATCH, **extra: Any) -> Any:
    spec = {"env_code": code, "agents": ["player"], **extra}
    return bridge.Game(json.dumps(spec))


def test_catch_through_the_bridge_matches_the_adapter(bridge):
    g = game(bridge, observe=["player"], record_observations=True)
    assert json.loads(g.load()) == {"ok": True, "actions": {}, "multi_agent": False}
    adapter, differ = EnvAdapter(CatchEnv(render_mode="mug"), ["player"]), RenderDiffer()
    for seed in (3, 4):
        reset = json.loads(g.reset(seed))
        obs = adapter.reset(seed=seed)
        assert reset == {"ok": True, "observations": to_jsonable(obs), "frame": differ.diff(adapter.render())}
        for t in range(40):
            action = (t // 7) % 3
            out = json.loads(g.step(json.dumps({"player": action})))
            result = adapter.step({"player": action})
            assert out == {
                "ok": True,
                "rewards": result.rewards,
                "terminated": result.terminated["player"],
                "truncated": result.truncated["player"],
                "episode_over": result.episode_over,
                "infos": to_jsonable(result.infos),
                "observations": to_jsonable(result.observations),
                "recorded": to_jsonable(result.observations),
                "frame": differ.diff(adapter.render()),
            }
    assert json.loads(g.close()) == {"ok": True}


def test_first_frame_is_full_then_diffs(bridge):
    g = game(bridge)
    g.load()
    first = json.loads(g.reset(1))["frame"]
    assert {o["id"] for o in first["objects"]} >= {"sky", "ground"}
    second = json.loads(g.step('{"player": 0}'))["frame"]
    assert "sky" not in {o["id"] for o in second["objects"]}
    assert json.loads(g.step('{"player": 0}'))["observations"] == {}  # nobody observed


def test_step_exception_reports_the_env_code_line(bridge):
    code = (
        "from mug.env.examples import CatchEnv\n"
        "class Broken(CatchEnv):\n"
        "    def step(self, action):\n"
        "        if self._state['steps'] >= 2:\n"
        "            return 1 / 0\n"
        "        return super().step(action)\n"
        "env = Broken()\n"
    )
    g = game(bridge, code)
    assert json.loads(g.load())["ok"]
    json.loads(g.reset(0))
    assert json.loads(g.step('{"player": 0}'))["ok"]
    assert json.loads(g.step('{"player": 0}'))["ok"]
    out = json.loads(g.step('{"player": 0}'))
    assert out["ok"] is False and out["stage"] == "step"
    assert out["error"] == "ZeroDivisionError: division by zero"
    assert 'File "<env_code>", line 5, in step' in out["traceback"]
    assert "return 1 / 0" in out["traceback"]  # the env code's source line is shown


@pytest.mark.parametrize(
    ("code", "stage", "message"),
    [
        ("x = 1\n", "no_env", "did not define `env`"),
        ("from mug.env.examples import CatchEnv\nenv = CatchEnv\n", "no_env", "is the class CatchEnv, not an env"),
        ("env = object()\n", "no_env", "without reset(), step(), render()"),
        ("import not_installed_pkg\n", "env_code", "ModuleNotFoundError: No module named 'not_installed_pkg'"),
        ("env = (\n", "env_code", "SyntaxError"),
        ("raise SystemExit(3)\n", "env_code", "SystemExit: 3"),
    ],
)
def test_env_code_problems_are_reported_not_raised(bridge, code, stage, message):
    out = json.loads(game(bridge, code).load())
    assert out["ok"] is False
    assert out["stage"] == stage
    assert message in out["error"]


def test_random_agents_get_their_discrete_space(bridge):
    out = json.loads(game(bridge, random_agents=["player"]).load())
    assert out["actions"] == {"player": {"n": 3, "start": 0}}
    code = "from mug.env.examples import CatchEnv\nenv = CatchEnv()\nenv.action_space = [0, 1]\n"
    out = json.loads(game(bridge, code, random_agents=["player"]).load())
    assert out["ok"] is False and out["stage"] == "action_space"
    assert "needs a Discrete action space" in out["error"]


def test_gymnasium_discrete_with_start(bridge):
    gym = pytest.importorskip("gymnasium")
    assert bridge._discrete(gym.spaces.Discrete(4, start=2)) == (4, 2)
    assert bridge._discrete(gym.spaces.Box(0, 1, (2,))) is None


def test_reset_and_contract_errors(bridge):
    code = (
        "from mug.env.examples import CatchEnv\n"
        "class Old(CatchEnv):\n"
        "    def step(self, a):\n"
        "        return 1, 2, 3, 4\n"
        "env = Old()\n"
    )
    g = game(bridge, code)
    g.load()
    g.reset(0)
    out = json.loads(g.step('{"player": 1}'))
    assert out["stage"] == "step" and "old Gym API" in out["error"]
    bad_action = game(bridge)
    bad_action.load()
    bad_action.reset(0)
    out = json.loads(bad_action.step('{"player": 9}'))
    assert out["ok"] is False and "action must be 0 (stay)" in out["error"]
    two_ids = game(bridge, agents=["a", "b"])  # a single-agent env given two agent ids
    assert json.loads(two_ids.load())["ok"]
    out = json.loads(two_ids.reset(0))
    assert out["ok"] is False and out["stage"] == "reset" and "exactly one agent id" in out["error"]
