"""``check_env``: check an environment against MUG's env contract before running people on it.

It plays the env with seeded actions and collects every breach as one clear
sentence: reset/step signatures and return values, reward and flag types,
render output, JSON-ability of observations, determinism under a seed, and the
``get_state``/``set_state`` round trip that rollback netcode relies on. The
module itself imports only the stdlib; spaces from gymnasium are used through
their own methods.
"""

from __future__ import annotations

import inspect
import json
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

from mug.env.adapter import EnvAdapter, StepResult
from mug.env.errors import EnvCheckError, EnvContractError
from mug.env.jsonable import to_jsonable

__all__ = ["check_env"]

_FRAME_BUDGET = 1 / 30  # seconds per step + render at 30 fps


class _Stop(Exception):
    """Ends a rollout after a problem has been recorded."""


def check_env(
    env_or_creator: Any,
    *,
    seed: int = 0,
    num_steps: int = 100,
    actions: list[Any] | None = None,
    agent_ids: list[str] | None = None,
) -> list[str]:
    """Check that an env follows MUG's env contract; raise :class:`EnvCheckError` listing every breach.

    Args:
        env_or_creator: an env instance, or a callable (such as the env class) that
            creates a fresh env. With a creator the determinism and snapshot checks
            use fresh envs; with an instance they reset the same instance.
        seed: seed for ``reset`` and for choosing actions.
        num_steps: number of steps to play (episodes are reset as they end).
        actions: actions to choose from at random (seeded) each step. An element that
            is a dict keyed by agent id is used as the joint action of a multi-agent
            env. Default: ``action_space.sample()`` of each agent, seeded.
        agent_ids: MUG agent ids; default ``possible_agents`` of a multi-agent env,
            else ``["agent_0"]``.

    Returns:
        Warnings: things that work but may cause trouble (empty when all is well).

    Raises:
        EnvCheckError: one or more problems; ``.problems`` lists them and
            ``.warnings`` the warnings.
    """
    checker = _Checker(env_or_creator, seed=seed, num_steps=num_steps, actions=actions, agent_ids=agent_ids)
    checker.run()
    if checker.problems:
        raise EnvCheckError(checker.problems, checker.warnings)
    return checker.warnings


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(to_jsonable(a) == to_jsonable(b))
    except TypeError:
        return bool(a == b)


class _Checker:
    """One run of :func:`check_env`; holds the problems and warnings found."""

    def __init__(
        self, target: Any, *, seed: int, num_steps: int, actions: list[Any] | None,
        agent_ids: list[str] | None,
    ) -> None:
        self.target = target
        self.is_creator = isinstance(target, type) or (callable(target) and not hasattr(target, "step"))
        self.seed = seed
        self.num_steps = max(1, int(num_steps))
        self.action_choices = actions
        self.agent_ids = agent_ids
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.envs: list[Any] = []
        self.can_render = True
        self.space_adapter: EnvAdapter | None = None
        self.rollout_complete = False

    # -- helpers -----------------------------------------------------------

    def problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)

    def warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)

    def make_env(self) -> Any:
        if not self.is_creator:
            return self.target
        try:
            env = self.target()
        except Exception as exc:
            self.problem(f"creating the env raised {type(exc).__name__}: {exc}")
            raise _Stop from None
        self.envs.append(env)
        return env

    def call(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Call an env method, turning contract errors and crashes into problems."""
        try:
            return fn(*args)
        except EnvContractError as exc:
            self.problem(f"{exc} [{what}]")
        except Exception as exc:
            self.problem(f"{what} raised {type(exc).__name__}: {exc}")
        raise _Stop

    # -- the checks --------------------------------------------------------

    def run(self) -> None:
        try:
            env = self.make_env()
            if not self.check_methods(env):
                return
            adapter = self.make_adapter(env)
            self.space_adapter = adapter
            chooser = self.make_chooser(adapter)
            trajectory, joint_actions = self.rollout(adapter, chooser)
            if joint_actions and self.rollout_complete:
                self.check_determinism(trajectory, joint_actions)
                self.check_snapshot(adapter if not self.is_creator else None, joint_actions)
        except _Stop:
            pass
        finally:
            for env in self.envs:  # only envs check_env created; a given instance stays open
                try:
                    close = getattr(env, "close", None)
                    if callable(close):
                        close()
                except Exception as exc:
                    self.warn(f"env.close() raised {type(exc).__name__}: {exc}")

    def check_methods(self, env: Any) -> bool:
        for name in ("reset", "step", "render"):
            if not callable(getattr(env, name, None)):
                self.problem(f"the env has no {name}() method")
        self.can_render = callable(getattr(env, "render", None))
        if not callable(getattr(env, "reset", None)) or not callable(getattr(env, "step", None)):
            return False
        params = _parameters(env.reset)
        if params is not None and "seed" not in params and "**" not in params:
            self.problem("env.reset() does not accept the keyword argument 'seed'; "
                         "it must be reset(seed=None, options=None)")
            return False
        if params is not None and "options" not in params and "**" not in params:
            self.warn("env.reset() does not accept the keyword argument 'options' (Gymnasium envs do)")
        params = _parameters(env.step)
        if params is not None and not params.get("*positional") and "*" not in params:
            self.problem("env.step() takes no positional argument; it must be step(action)")
        if getattr(env, "get_state", None) is not None and getattr(env, "set_state", None) is None:
            self.problem("the env has get_state() but no set_state(); snapshots need both")
        if getattr(env, "set_state", None) is not None and getattr(env, "get_state", None) is None:
            self.problem("the env has set_state() but no get_state(); snapshots need both")
        return True

    def make_adapter(self, env: Any) -> EnvAdapter:
        ids = self.agent_ids
        if ids is None:
            possible = getattr(env, "possible_agents", None)
            ids = [str(a) for a in possible] if possible else ["agent_0"]
        self.agent_ids = list(ids)
        try:
            return EnvAdapter(env, self.agent_ids)
        except ValueError as exc:
            self.problem(str(exc))
            raise _Stop from None

    def make_chooser(self, adapter: EnvAdapter) -> Callable[[], dict[str, Any]]:
        assert self.agent_ids is not None
        ids = self.agent_ids
        rng = random.Random(self.seed)
        if self.action_choices is not None:
            choices = list(self.action_choices)
            if not choices:
                self.problem("check_env(actions=[]) was given no actions to choose from")
                raise _Stop

            def choose() -> dict[str, Any]:
                picked = {a: rng.choice(choices) for a in ids}
                first = picked[ids[0]]
                if isinstance(first, Mapping) and set(first) <= set(ids):
                    return dict(first)
                return picked

            return choose
        spaces = {}
        for i, agent in enumerate(ids):
            try:
                space = adapter.action_space(agent)
            except Exception:
                space = None
            if space is None or not callable(getattr(space, "sample", None)):
                self.problem(f"agent {agent!r} has no action_space with sample(); give the env an "
                             "action_space or pass actions=[...] to check_env")
                raise _Stop
            seed_space = getattr(space, "seed", None)
            if callable(seed_space):
                seed_space(self.seed + i)
            spaces[agent] = space
        return lambda: {a: spaces[a].sample() for a in ids}

    def rollout(
        self, adapter: EnvAdapter, choose: Callable[[], dict[str, Any]] | None,
        joint_actions: list[dict[str, Any]] | None = None, checks: bool = True,
    ) -> tuple[list[Any], list[dict[str, Any]]]:
        """Play ``num_steps`` steps; returns (trajectory record, the actions played)."""
        trajectory: list[Any] = []
        played: list[dict[str, Any]] = []
        episode = 0
        render_ok = checks and self.can_render
        elapsed = 0.0
        try:
            obs = self.call("env.reset()", adapter.reset, self.seed)
            trajectory.append(("reset", self._record_obs(obs, "env.reset()", checks)))
            if render_ok:
                render_ok = self._render(adapter, "after reset")
            steps = self.num_steps if joint_actions is None else len(joint_actions)
            for index in range(steps):
                action = choose() if joint_actions is None else joint_actions[index]
                played.append(action)
                started = time.perf_counter()
                result: StepResult = self.call(f"env.step() at step {index}", adapter.step, action)
                if render_ok:
                    render_ok = self._render(adapter, f"at step {index}")
                elapsed += time.perf_counter() - started
                trajectory.append(self._record_step(result, index, checks))
                if result.episode_over:
                    episode += 1
                    obs = self.call("env.reset()", adapter.reset, self.seed + episode)
                    trajectory.append(("reset", self._record_obs(obs, "env.reset()", checks)))
        except _Stop:
            return trajectory, played
        if checks:
            self.rollout_complete = True
        if checks and played and elapsed / len(played) > _FRAME_BUDGET:
            self.warn(f"env.step() + render() take {1000 * elapsed / len(played):.1f} ms per step on "
                      f"average; a 30 fps game has {1000 * _FRAME_BUDGET:.0f} ms per frame")
        return trajectory, played

    def _render(self, adapter: EnvAdapter, when: str) -> bool:
        try:
            adapter.render()
            return True
        except EnvContractError as exc:
            self.problem(f"{exc} [{when}]")
        except Exception as exc:
            self.problem(f"env.render() raised {type(exc).__name__} {when}: {exc}")
        return False

    def _record_obs(self, observations: dict[str, Any], what: str, checks: bool) -> Any:
        try:
            record = to_jsonable(observations)
        except TypeError as exc:
            if checks:
                self.problem(f"{what} returned an observation MUG cannot record as JSON: {exc}")
            record = repr(observations)
        if checks and self.space_adapter is not None:
            for agent, obs in observations.items():
                try:
                    space = self.space_adapter.observation_space(agent)
                    inside = space is None or bool(space.contains(obs))
                except Exception:
                    continue  # a space that cannot judge this value is not the env's problem here
                if not inside:
                    self.warn(f"{what} returned an observation for {agent!r} that is not in its "
                              f"observation_space ({space!r})")
        return record

    def _record_step(self, result: StepResult, index: int, checks: bool) -> Any:
        what = f"env.step() at step {index}"
        obs = self._record_obs(result.observations, what, checks)
        if checks:
            try:
                to_jsonable(result.infos)
            except TypeError as exc:
                self.warn(f"{what} returned an info MUG cannot record as JSON: {exc}")
        return ("step", obs, result.rewards, result.terminated, result.truncated, result.episode_over)

    def fresh_adapter(self) -> EnvAdapter:
        env = self.make_env()
        assert self.agent_ids is not None
        return EnvAdapter(env, self.agent_ids)

    def check_determinism(self, first: list[Any], joint_actions: list[dict[str, Any]]) -> None:
        try:
            adapter = self.fresh_adapter()
        except ValueError as exc:
            self.problem(str(exc))
            return
        second, _ = self.rollout(adapter, None, joint_actions, checks=False)
        how = "two fresh envs" if self.is_creator else "the same env reset twice"
        for index, (a, b) in enumerate(zip(first, second, strict=False)):
            if a != b:
                part = _difference(a, b)
                self.problem(
                    f"not deterministic: with the same seed ({self.seed}) and the same actions, {how} "
                    f"gave different {part} at {_where(first, index)}; seed every random number "
                    "generator from reset(seed=...) (e.g. self.np_random or random.Random(seed))"
                )
                return

    def check_snapshot(self, same: EnvAdapter | None, joint_actions: list[dict[str, Any]]) -> None:
        adapter = same if same is not None else self.fresh_adapter()
        if not adapter.has_snapshot:
            return
        lead = min(len(joint_actions) // 2, 10)
        follow = joint_actions[lead : lead + 10]
        if not follow:
            return
        try:
            self.call("env.reset()", adapter.reset, self.seed)
            for index in range(lead):
                result = self.call(f"env.step() at step {index}", adapter.step, joint_actions[index])
                if result.episode_over:
                    self.call("env.reset()", adapter.reset, self.seed + 1)
            state = self.call("env.get_state()", adapter.get_state)
            try:
                frozen = json.dumps(state, sort_keys=True)
            except (TypeError, ValueError) as exc:
                frozen = None
                self.warn(f"env.get_state() returned a state that is not JSON-serializable ({exc}); "
                          "peers cannot send it to each other to resync a P2P game")
            runs = [self._replay(adapter, follow, "after get_state()")]
            if frozen is not None and json.dumps(state, sort_keys=True) != frozen:
                self.problem("env.get_state() returned live references: the snapshot changed when the env "
                             "kept stepping; return a copy (e.g. copy.deepcopy)")
                return
            for attempt in ("after set_state()", "after a second set_state() of the same snapshot"):
                self.call("env.set_state()", adapter.set_state, state)
                runs.append(self._replay(adapter, follow, attempt))
        except _Stop:
            return
        if not _same(runs[0], runs[1]):
            self.problem(
                f"set_state() does not restore the env: after set_state(get_state()) the next {len(follow)} "
                f"steps gave different {_difference(runs[0], runs[1])} than the first time"
            )
        elif not _same(runs[1], runs[2]):
            self.problem(
                "set_state() of the same snapshot twice gave different results: the env probably "
                "keeps and mutates the snapshot object; copy it in set_state()"
            )

    def _replay(self, adapter: EnvAdapter, actions: list[dict[str, Any]], when: str) -> list[Any]:
        record: list[Any] = []
        for action in actions:
            result = self.call(f"env.step() {when}", adapter.step, action)
            record.append(self._record_step(result, -1, checks=False))
            if result.episode_over:
                break
        try:
            record.append(("render", adapter.render()))
        except Exception:
            record.append(("render", None))
        return record


def _parameters(fn: Any) -> dict[str, Any] | None:
    """Parameter names of a callable, with '**' / '*' markers for var-keyword / var-positional."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    params: dict[str, Any] = {"*positional": 0}
    for p in signature.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            params["**"] = True
        elif p.kind is p.VAR_POSITIONAL:
            params["*"] = True
        else:
            params[p.name] = p
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                params["*positional"] += 1
    return params


def _difference(a: Any, b: Any) -> str:
    """Name the first part of two trajectory records that differs."""
    if isinstance(a, list) and isinstance(b, list):
        for x, y in zip(a, b, strict=False):
            if not _same(x, y):
                return _difference(x, y)
        return "episode lengths"
    names = {"reset": ("kind", "observations"),
             "step": ("kind", "observations", "rewards", "terminated", "truncated", "episode ends"),
             "render": ("kind", "render states")}
    if isinstance(a, tuple) and isinstance(b, tuple) and a and a[0] == b[0] and a[0] in names:
        for name, x, y in zip(names[a[0]], a, b, strict=False):
            if not _same(x, y):
                return name
    return "results"


def _where(trajectory: list[Any], index: int) -> str:
    """Describe entry ``index`` of a trajectory record ("step 4", "the first reset", ...)."""
    if index == 0:
        return "the first reset"
    steps_before = sum(1 for entry in trajectory[:index] if entry[0] == "step")
    if trajectory[index][0] == "step":
        return f"step {steps_before}"
    return f"the reset after step {steps_before - 1}"
