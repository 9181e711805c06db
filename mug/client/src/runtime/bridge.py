"""The Python side of MUG's Pyodide worker: one env game, one JSON call per tick.

The worker (``mug/client/src/runtime/worker.ts``) writes this file into Pyodide's
site-packages as ``_mug_bridge.py`` and drives a :class:`Game` through four
methods that take and return JSON strings, so every tick crosses between
JavaScript and Python exactly once. Nothing here raises into JavaScript: every
failure comes back as ``{"ok": false, "stage", "error", "traceback"}``.

It mirrors the server's game loop (``mug/server/games/game.py``): the env is stepped
through :class:`mug.env.EnvAdapter`, frames are diffed with one
:class:`mug.env.RenderDiffer` for the whole game (the first frame is full), and
recorded values go through :func:`mug.env.to_jsonable`.

Pure Python (stdlib + ``mug.env``); ``tests/runtime`` also runs it in CPython.
"""

from __future__ import annotations

import json
import linecache
import re
import traceback
from typing import Any

from mug.env import EnvAdapter, RenderDiffer, to_jsonable

#: The file name env code is compiled under (its lines show in tracebacks).
ENV_FILENAME = "<env_code>"


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _failure(stage: str, exc: BaseException) -> str:
    return _dumps(
        {
            "ok": False,
            "stage": stage,
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
        }
    )


def _problem(stage: str, message: str) -> str:
    return _dumps({"ok": False, "stage": stage, "error": message, "traceback": None})


def run_env_code(code: str) -> dict[str, Any]:
    """Execute env code in a fresh namespace; its lines appear in tracebacks as ``<env_code>``."""
    lines = code.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    linecache.cache[ENV_FILENAME] = (len(code), None, lines, ENV_FILENAME)
    namespace: dict[str, Any] = {"__name__": "__mug_env__", "__file__": ENV_FILENAME}
    exec(compile(code, ENV_FILENAME, "exec"), namespace)
    return namespace


def _env_problem(namespace: dict[str, Any]) -> str | None:
    """Why ``namespace['env']`` is not an env object, or None if it is one."""
    if "env" not in namespace:
        return (
            "the env code ran but did not define `env`; it must end with something like "
            "`env = MyEnv(render_mode='mug')` (an env instance)"
        )
    env = namespace["env"]
    if isinstance(env, type):
        return f"`env` is the class {env.__name__}, not an env; create an instance: `env = {env.__name__}(...)`"
    missing = [m for m in ("reset", "step", "render") if not callable(getattr(env, m, None))]
    if missing:
        return (
            f"`env` is {type(env).__name__} object without {', '.join(m + '()' for m in missing)}; "
            "it must be an env instance (Gymnasium or PettingZoo-parallel API)"
        )
    return None


def _discrete(space: Any) -> tuple[int, int] | None:
    """``(n, start)`` of a Discrete-like action space, or None."""
    n = getattr(space, "n", None)
    try:
        n_int, start = int(n), int(getattr(space, "start", 0))
    except (TypeError, ValueError):
        return None
    if n_int < 1 or n_int != n or getattr(space, "shape", ()) not in ((), None):
        return None
    return n_int, start


class Game:
    """One game: the env made by the env code, its adapter and the game's render differ.

    Args (as one JSON object, ``spec_json``):
        env_code: Python source that defines ``env``.
        agents: agent ids, in order (the scene's policy_mapping keys).
        observe: agents whose observations JavaScript needs (ONNX policies).
        record_observations: whether step results carry every agent's observation for the record.
        random_agents: agents with a random policy; :meth:`load` reports their action space size.
    """

    def __init__(self, spec_json: str) -> None:
        spec = json.loads(spec_json)
        self.env_code: str = spec["env_code"]
        self.agents: list[str] = list(spec["agents"])
        self.observe: list[str] = list(spec.get("observe", []))
        self.record_observations = bool(spec.get("record_observations", False))
        self.random_agents: list[str] = list(spec.get("random_agents", []))
        self.adapter: EnvAdapter | None = None
        self.differ = RenderDiffer()

    def load(self) -> str:
        """Run the env code and wrap ``env``: ``{"ok": true, "actions": {agent: {"n", "start"}}}``."""
        try:
            namespace = run_env_code(self.env_code)
        except BaseException as exc:  # SyntaxError, ImportError, anything the env code raises
            return _failure("env_code", exc)
        problem = _env_problem(namespace)
        if problem:
            return _problem("no_env", problem)
        try:
            self.adapter = EnvAdapter(namespace["env"], self.agents)
        except Exception as exc:
            return _failure("adapter", exc)
        actions: dict[str, dict[str, int]] = {}
        for agent in self.random_agents:
            try:
                space = self.adapter.action_space(agent)
            except Exception as exc:
                return _failure("action_space", exc)
            discrete = _discrete(space)
            if discrete is None:
                return _problem(
                    "action_space",
                    f"agent {agent!r} has a random policy, which in the browser needs a Discrete action space "
                    f"(an `n` attribute); the env's action space is {space!r}",
                )
            actions[agent] = {"n": discrete[0], "start": discrete[1]}
        return _dumps({"ok": True, "actions": actions, "multi_agent": self.adapter.is_multi_agent})

    def reset(self, seed: int) -> str:
        """Reset with ``seed``: ``{"ok", "observations", "frame"}`` (frame: the diff to show)."""
        assert self.adapter is not None, "load() first"
        try:
            observations = self.adapter.reset(seed=int(seed))
            frame = self.differ.diff(self.adapter.render())
            observed = {a: to_jsonable(observations.get(a)) for a in self.observe}
            return _dumps({"ok": True, "observations": observed, "frame": frame})
        except Exception as exc:
            return _failure("reset", exc)

    def step(self, actions_json: str) -> str:
        """One tick: step with ``{agent: action}`` and render.

        Returns ``{"ok", "rewards", "terminated", "truncated", "episode_over", "infos",
        "observations" (the observed agents'), "recorded" (every agent's, or null), "frame"}``.
        """
        assert self.adapter is not None, "load() first"
        try:
            result = self.adapter.step(json.loads(actions_json))
            frame = self.differ.diff(self.adapter.render())
            out = {
                "ok": True,
                "rewards": to_jsonable(result.rewards),
                "terminated": any(bool(v) for v in result.terminated.values()),
                "truncated": any(bool(v) for v in result.truncated.values()),
                "episode_over": bool(result.episode_over),
                "infos": to_jsonable(result.infos),
                "observations": {a: to_jsonable(result.observations.get(a)) for a in self.observe},
                "recorded": to_jsonable(result.observations) if self.record_observations else None,
                "frame": frame,
            }
            return _dumps(out)
        except Exception as exc:
            return _failure("step", exc)

    def close(self) -> str:
        """Close the env (errors are reported, not raised)."""
        if self.adapter is None:
            return _dumps({"ok": True})
        try:
            self.adapter.close()
            return _dumps({"ok": True})
        except Exception as exc:
            return _failure("close", exc)
        finally:
            self.adapter = None


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


async def install(target: str) -> str:
    """``micropip.install`` one wheel URL or Pyodide-lock name, never consulting PyPI.

    ``index_urls=[]``: a name is looked up in the Pyodide lock only, and a wheel's
    dependencies must already be installed (list them earlier in ``packages``) or be in the lock.
    A lock package is loaded by Pyodide's ``loadPackage``, which reports a failed download on
    stderr instead of raising, so a name is checked to be installed afterwards.
    """
    import micropip  # provided by the worker's preload

    try:
        await micropip.install(target, index_urls=[])
    except BaseException as exc:
        return _failure("install", exc)
    name = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", target)
    if not target.endswith(".whl") and name:
        installed = {_normalize(n) for n in micropip.list()}
        if _normalize(name.group(0)) not in installed:
            return _problem(
                "install", f"{name.group(0)} was not installed (its download from the package index failed)"
            )
    return _dumps({"ok": True})
