"""``EnvAdapter``: one interface over Gymnasium single-agent and PettingZoo-parallel envs.

The server's game loop, the Pyodide worker and :func:`mug.env.check_env` talk to
every env through an adapter, so they always see dicts keyed by MUG agent id and
a full render state, whatever kind of env the researcher wrote. Every breach of
the env contract raises :class:`mug.env.EnvContractError` with a message that
says what the env returned and what was expected. Pure Python: numpy values are
handled by duck typing.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mug.env.errors import EnvContractError, RenderStateError
from mug.env.png import png_data_url
from mug.env.schema import complete_object, validate_render_state
from mug.env.surface import CommittedState

__all__ = ["FRAME_ID", "EnvAdapter", "StepResult"]

#: Id of the image object an ``rgb_array`` frame is wrapped in.
FRAME_ID = "__frame__"

_GYM_STEP = "a Gymnasium env returns (obs, reward, terminated, truncated, info)"
_PZ_STEP = (
    "a PettingZoo parallel env returns (observations, rewards, terminations, truncations, infos), "
    "each a dict keyed by agent"
)
_RENDER_HELP = (
    "expected a render state dict {'objects': [...], 'removed': [...]} (e.g. Surface.commit()), "
    "a list of object dicts, or an HxWx3 uint8 RGB array (render_mode='rgb_array')"
)


def _describe(value: Any) -> str:
    """A short description of what an env returned, for error messages."""
    if isinstance(value, tuple):
        return f"a tuple of {len(value)} value{'s' if len(value) != 1 else ''}"
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} ({type(value).__name__})"


def _as_float(value: Any, what: str) -> float:
    """Convert a reward to float, accepting Python and numpy numbers (not bools)."""
    plain = value
    if not isinstance(value, numbers.Real) and callable(getattr(value, "item", None)):
        try:
            plain = value.item()
        except (TypeError, ValueError):
            plain = value
    if isinstance(plain, bool) or not isinstance(plain, numbers.Real):
        raise EnvContractError(f"{what} is {_describe(value)}; expected a number (int or float)")
    result = float(plain)
    if math.isnan(result):
        raise EnvContractError(f"{what} is NaN; expected a number")
    return result


def _as_bool(value: Any, what: str) -> bool:
    """Convert a terminated/truncated flag to bool, accepting numpy bools (not ints)."""
    if isinstance(value, bool):
        return value
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "shape", None) == ():
        plain = item()
        if isinstance(plain, bool):
            return plain
    raise EnvContractError(f"{what} is {_describe(value)}; expected a bool (True or False)")


@dataclass
class StepResult:
    """What one step of an env produced, every field keyed by MUG agent id.

    Attributes:
        observations: each agent's observation after the step.
        rewards: each agent's reward for the step (float; 0.0 for agents already done).
        terminated: whether each agent reached a terminal state.
        truncated: whether each agent's episode was cut short (e.g. time limit).
        infos: each agent's info dict.
        episode_over: True when the episode has ended for everyone: for a single
            agent, ``terminated or truncated``; for multi-agent envs, every agent is
            terminated or truncated, the env's ``"__all__"`` flag is true, or the
            env's ``agents`` list became empty.
    """

    observations: dict[str, Any]
    rewards: dict[str, float]
    terminated: dict[str, bool]
    truncated: dict[str, bool]
    infos: dict[str, dict[str, Any]] = field(default_factory=dict)
    episode_over: bool = False


class EnvAdapter:
    """Wraps a Gymnasium single-agent env or a PettingZoo-parallel-style multi-agent env.

    Args:
        env: the environment instance.
        agent_ids: MUG's ids for the env's agents. A single-agent env takes exactly
            one id; results are keyed by it. A multi-agent env's agent names are
            matched to these ids by ``str(name)``.
        multi_agent: force the kind of env instead of detecting it.

    Detection rule (when ``multi_agent`` is None): an env with a ``possible_agents``
    attribute is multi-agent. Otherwise the first :meth:`reset` decides: if the
    observation it returns is a dict whose keys are exactly ``agent_ids``, the env
    is multi-agent, else single-agent. Until then :attr:`is_multi_agent` guesses
    from the number of agent ids. Pass ``multi_agent=`` for a single-agent env
    whose observation is a dict keyed like the agent ids.
    """

    def __init__(self, env: Any, agent_ids: list[str], *, multi_agent: bool | None = None) -> None:
        if isinstance(agent_ids, str) or not isinstance(agent_ids, (list, tuple)) or not agent_ids:
            raise ValueError(f"EnvAdapter(): agent_ids must be a non-empty list of str, got {agent_ids!r}")
        if not all(isinstance(a, str) and a for a in agent_ids) or len(set(agent_ids)) != len(agent_ids):
            raise ValueError(f"EnvAdapter(): agent_ids must be unique non-empty strs, got {agent_ids!r}")
        self.env = env
        self.agent_ids: list[str] = list(agent_ids)
        #: Infos returned by the last reset, keyed by agent id.
        self.reset_infos: dict[str, dict[str, Any]] = {}
        self._keys: dict[str, Any] = {a: a for a in self.agent_ids}  # MUG id -> env's agent name
        self._done: dict[str, bool] = {a: False for a in self.agent_ids}
        self._last_obs: dict[str, Any] = {}
        self._last_flags: dict[str, tuple[bool, bool]] = {}
        possible = getattr(env, "possible_agents", None)
        if multi_agent is not None:
            self._multi, self._decided = bool(multi_agent), True
        elif possible is not None:
            self._multi, self._decided = True, True
        else:
            self._multi, self._decided = len(self.agent_ids) > 1, False
        if self._decided and not self._multi and len(self.agent_ids) != 1:
            raise ValueError(
                f"EnvAdapter(): a single-agent env takes exactly one agent id, got {self.agent_ids!r}"
            )
        if possible is not None and self._multi:
            self._match_agents(list(possible), "env.possible_agents")

    # -- properties --------------------------------------------------------

    @property
    def is_multi_agent(self) -> bool:
        """Whether the env is treated as multi-agent (final once the first reset has run)."""
        return self._multi

    @property
    def has_snapshot(self) -> bool:
        """Whether the env has both ``get_state()`` and ``set_state(state)``."""
        return callable(getattr(self.env, "get_state", None)) and callable(
            getattr(self.env, "set_state", None)
        )

    @property
    def render_mode(self) -> str | None:
        """The env's ``render_mode`` attribute, or None."""
        return getattr(self.env, "render_mode", None)

    def action_space(self, agent_id: str) -> Any:
        """The action space of an agent, or None if the env does not declare one.

        Single-agent: ``env.action_space``. Multi-agent: ``env.action_space(name)``
        (PettingZoo), ``env.action_spaces[name]``, or a shared ``env.action_space``.
        """
        return self._space("action", agent_id)

    def observation_space(self, agent_id: str) -> Any:
        """The observation space of an agent, or None (same lookup as :meth:`action_space`)."""
        return self._space("observation", agent_id)

    # -- env calls ---------------------------------------------------------

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> dict[str, Any]:
        """Reset the env and return each agent's first observation.

        The infos the env returned are kept in :attr:`reset_infos`.
        """
        kwargs: dict[str, Any] = {"seed": seed}
        if options is not None:
            kwargs["options"] = options
        result = self.env.reset(**kwargs)
        if not isinstance(result, tuple) or len(result) != 2:
            raise EnvContractError(
                f"env.reset() returned {_describe(result)}; expected (observation, info): "
                "a Gymnasium env returns (obs, info), a PettingZoo parallel env (observations, infos)"
            )
        obs, info = result
        if not self._decided:
            self._multi = isinstance(obs, Mapping) and {str(k) for k in obs} == set(self.agent_ids)
            self._decided = True
            if self._multi:
                self._match_agents(list(obs), "the keys of the observation dict from env.reset()")
            elif len(self.agent_ids) != 1:
                raise EnvContractError(
                    f"env.reset() returned an observation that is not a dict keyed by the agent ids "
                    f"{self.agent_ids!r}, so the env looks single-agent, and a single-agent env takes "
                    f"exactly one agent id (pass multi_agent=True if it is a multi-agent env)"
                )
        self._done = {a: False for a in self.agent_ids}
        if not self._multi:
            if not isinstance(info, Mapping):
                raise EnvContractError(
                    f"env.reset() returned info {_describe(info)}; expected a dict (Gymnasium: (obs, info))"
                )
            agent = self.agent_ids[0]
            self.reset_infos = {agent: dict(info)}
            self._last_obs = {agent: obs}
            return {agent: obs}
        observations = self._by_agent(obs, "observations", "env.reset()")
        missing = [a for a in self.agent_ids if a not in observations]
        if missing:
            raise EnvContractError(
                f"env.reset() returned no observation for agent(s) {missing}; "
                f"expected one for every agent in {self.agent_ids}"
            )
        infos = self._by_agent(info, "infos", "env.reset()")
        self.reset_infos = {a: self._info(infos.get(a, {}), "env.reset()", a) for a in self.agent_ids}
        self._last_obs = dict(observations)
        self._last_flags = {a: (False, False) for a in self.agent_ids}
        return observations

    def step(self, actions: Mapping[str, Any]) -> StepResult:
        """Apply one action per agent (``{agent_id: action}``) and return the :class:`StepResult`.

        Multi-agent: actions are passed only for agents still in the episode (the env's
        ``agents`` list when it has one); actions for agents already done are ignored.
        """
        if not (type(actions) is dict or isinstance(actions, Mapping)):
            raise TypeError(f"EnvAdapter.step(): actions must be a dict keyed by agent id, got {actions!r}")
        unknown = [a for a in actions if a not in self._keys]
        if unknown:
            raise ValueError(
                f"EnvAdapter.step(): actions for unknown agent id(s) {unknown}; "
                f"agent ids are {self.agent_ids}"
            )
        return self._step_multi(actions) if self._multi else self._step_single(actions)

    def render(self, agent_id: str | None = None) -> dict[str, Any]:
        """Render the env and return a full, validated render state.

        With ``agent_id`` the env renders that agent's own view: ``env.render(agent_id)``
        (partial observability, for scenes with per-player views).

        ``env.render()`` may return a render state dict (``Surface.commit()``), a list of
        object dicts (missing optional fields get the Surface defaults), PNG bytes, or an
        HxWx3/HxWx4 uint8 array-like, which becomes one image object with id
        ``"__frame__"`` covering the whole game area.
        """
        output = self.env.render() if agent_id is None else self.env.render(agent_id)
        return self.render_state_from(output)

    @staticmethod
    def render_state_from(output: Any) -> dict[str, Any]:
        """Turn whatever ``env.render()`` returned into a full, validated render state."""
        if output is None:
            raise EnvContractError(
                f"env.render() returned None; {_RENDER_HELP}. Was the env created with "
                "render_mode='mug' (drawing with mug.env.Surface) or render_mode='rgb_array'?"
            )
        if type(output) is CommittedState and output.unchanged():
            return output  # checked call by call as it was drawn
        if isinstance(output, Mapping):
            if "objects" not in output:
                raise EnvContractError(
                    f"env.render() returned a dict without an 'objects' key ({_describe(output)}); "
                    f"{_RENDER_HELP}"
                )
            state = dict(output)
            objects = state["objects"]
            if isinstance(objects, (list, tuple)):
                state["objects"] = [complete_object(o) if isinstance(o, Mapping) else o for o in objects]
            state.setdefault("removed", [])
        elif isinstance(output, (list, tuple)) and (not output or isinstance(output[0], Mapping)):
            state = {
                "objects": [complete_object(o) if isinstance(o, Mapping) else o for o in output],
                "removed": [],
            }
        elif isinstance(output, (bytes, bytearray, memoryview, list, tuple)) or hasattr(output, "shape"):
            try:
                src = png_data_url(output)
            except (TypeError, ValueError) as exc:
                raise EnvContractError(f"env.render() returned an image MUG cannot encode: {exc}") from None
            state = {
                "objects": [{"type": "image", "id": FRAME_ID, "depth": 0, "alpha": 1.0, "src": src,
                             "x": 0.0, "y": 0.0, "w": 1.0, "h": 1.0}],
                "removed": [],
            }
        else:
            raise EnvContractError(f"env.render() returned {_describe(output)}; {_RENDER_HELP}")
        try:
            validate_render_state(state)
        except RenderStateError as exc:
            raise EnvContractError(f"env.render() returned an invalid render state: {exc}") from None
        return state

    def close(self) -> None:
        """Close the env if it has a ``close()`` method."""
        close = getattr(self.env, "close", None)
        if callable(close):
            close()

    def get_state(self) -> Any:
        """The env's snapshot from ``env.get_state()`` (used for rollback and resync)."""
        if not self.has_snapshot:
            raise EnvContractError(
                f"{type(self.env).__name__} has no get_state()/set_state(); both are needed for snapshots"
            )
        return self.env.get_state()

    def set_state(self, state: Any) -> None:
        """Restore a snapshot taken with :meth:`get_state` via ``env.set_state(state)``."""
        if not self.has_snapshot:
            raise EnvContractError(
                f"{type(self.env).__name__} has no get_state()/set_state(); both are needed for snapshots"
            )
        self.env.set_state(state)

    # -- internals ---------------------------------------------------------

    def _match_agents(self, names: list[Any], source: str) -> None:
        keys = {str(name): name for name in names}
        if set(keys) != set(self.agent_ids) or len(keys) != len(names):
            raise EnvContractError(
                f"{source} is {names!r} but the agent ids given are {self.agent_ids!r}; "
                "they must name the same agents (matched by str(name))"
            )
        self._keys = {a: keys[a] for a in self.agent_ids}
        self._by_name = {name: agent for agent, name in self._keys.items()}

    def _space(self, kind: str, agent_id: str) -> Any:
        if agent_id not in self._keys:
            raise ValueError(f"unknown agent id {agent_id!r}; agent ids are {self.agent_ids}")
        if not self._multi:
            return getattr(self.env, f"{kind}_space", None)
        name = self._keys[agent_id]
        space = getattr(self.env, f"{kind}_space", None)
        if callable(space) and not hasattr(space, "sample"):
            return space(name)
        spaces = getattr(self.env, f"{kind}_spaces", None)
        if isinstance(spaces, Mapping) and name in spaces:
            return spaces[name]
        return space

    def _by_agent(self, value: Any, what: str, call: str) -> dict[str, Any]:
        """Re-key a per-agent dict from env agent names to MUG ids, rejecting unknown keys."""
        if not (type(value) is dict or isinstance(value, Mapping)):
            raise EnvContractError(
                f"{call} returned {what} {_describe(value)}; "
                f"expected a dict keyed by agent ({list(self._keys.values())})"
            )
        by_name = self._by_name
        result: dict[str, Any] = {}
        for key, item in value.items():
            agent = by_name.get(key, str(key) if str(key) in self._keys else None)
            if agent is None:
                raise EnvContractError(
                    f"{call} returned {what} with key {key!r}, which is not an agent; agents are "
                    f"{list(self._keys.values())}"
                )
            result[agent] = item
        return result

    @staticmethod
    def _info(info: Any, call: str, agent: str | None = None) -> dict[str, Any]:
        if not (type(info) is dict or isinstance(info, Mapping)):
            whose = f" for agent {agent!r}" if agent is not None else ""
            raise EnvContractError(f"{call} returned info{whose} {_describe(info)}; expected a dict")
        return dict(info)

    def _step_single(self, actions: Mapping[str, Any]) -> StepResult:
        agent = self.agent_ids[0]
        if agent not in actions:
            raise ValueError(f"EnvAdapter.step(): no action for agent {agent!r}")
        result = self.env.step(actions[agent])
        if not isinstance(result, tuple) or len(result) != 5:
            got = f"{len(result)} values" if isinstance(result, tuple) else _describe(result)
            hint = " (the old Gym API with a single 'done' flag)" if isinstance(result, tuple) and len(
                result) == 4 else ""
            raise EnvContractError(f"env.step() returned {got}{hint}; {_GYM_STEP}")
        obs, reward, terminated, truncated, info = result
        term = _as_bool(terminated, "env.step() terminated")
        trunc = _as_bool(truncated, "env.step() truncated")
        step = StepResult(
            observations={agent: obs},
            rewards={agent: _as_float(reward, "env.step() reward")},
            terminated={agent: term},
            truncated={agent: trunc},
            infos={agent: self._info(info, "env.step()")},
            episode_over=term or trunc,
        )
        self._last_obs = {agent: obs}
        return step

    def _live_agents(self) -> list[str]:
        """Agents that act this step: the env's ``agents`` list if it has one, else those not done."""
        live = getattr(self.env, "agents", None)
        if not isinstance(live, (list, tuple)):
            return [a for a in self.agent_ids if not self._done[a]]
        by_name = {name: agent for agent, name in self._keys.items()}
        agents = [by_name.get(name, str(name)) for name in live]
        return [a for a in agents if a in self._keys]

    def _plain_multi_step(self, result: tuple[Any, ...]) -> StepResult | None:
        """The step result of the usual case, or None to take the general path (`_step_multi`).

        The usual case: every agent acted, and the env returned five plain dicts keyed by exactly
        its agents, with bool flags, int or float rewards, dict infos and no ``"__all__"``. Nothing
        is changed before the whole result has been seen, so None leaves the adapter as it was.
        """
        obs, rewards, terms, truncs, infos = result
        if not (type(obs) is dict and type(rewards) is dict and type(terms) is dict and type(truncs) is dict
                and type(infos) is dict):  # fmt: skip
            return None
        by_name = self._by_name
        names = by_name.keys()
        if not (obs.keys() == names and rewards.keys() == names and terms.keys() == names
                and truncs.keys() == names and infos.keys() == names):  # fmt: skip
            return None
        step = StepResult({}, {}, {}, {}, {}, False)
        for name, agent in by_name.items():
            term, trunc, reward, info = terms[name], truncs[name], rewards[name], infos[name]
            kind = type(reward)
            if type(term) is not bool or type(trunc) is not bool or type(info) is not dict or not (
                kind is int or (kind is float and reward == reward)  # (reward != reward: NaN)
            ):
                return None
            step.observations[agent] = obs[name]
            step.rewards[agent] = float(reward)
            step.terminated[agent] = term
            step.truncated[agent] = trunc
            step.infos[agent] = dict(info)
        for agent in self.agent_ids:
            term, trunc = step.terminated[agent], step.truncated[agent]
            self._done[agent] = term or trunc
            self._last_flags[agent] = (term, trunc)
        self._last_obs.update(step.observations)
        remaining = getattr(self.env, "agents", None)
        step.episode_over = all(self._done.values()) or (isinstance(remaining, (list, tuple)) and not remaining)
        return step

    def _step_multi(self, actions: Mapping[str, Any]) -> StepResult:
        live = self._live_agents()
        missing = [a for a in live if a not in actions]
        if missing:
            raise ValueError(f"EnvAdapter.step(): no action for agent(s) {missing} still in the episode")
        result = self.env.step({self._keys[a]: actions[a] for a in live})
        if not isinstance(result, tuple) or len(result) != 5:
            got = f"{len(result)} values" if isinstance(result, tuple) else _describe(result)
            raise EnvContractError(f"env.step() returned {got}; {_PZ_STEP}")
        if len(live) == len(self.agent_ids):
            plain = self._plain_multi_step(result)
            if plain is not None:
                return plain
        names = ("observations", "rewards", "terminations", "truncations", "infos")
        for name, value in zip(names, result, strict=True):
            if not (type(value) is dict or isinstance(value, Mapping)):
                raise EnvContractError(f"env.step() returned {name} {_describe(value)}; {_PZ_STEP}")
        raw_terms, raw_truncs = dict(result[2]), dict(result[3])
        # RLlib-style envs flag the whole episode with "__all__"; per-agent flags are then optional
        has_all_flag = "__all__" in raw_terms or "__all__" in raw_truncs
        everyone = {
            "terminations": _as_bool(raw_terms.pop("__all__", False), "env.step() terminations['__all__']"),
            "truncations": _as_bool(raw_truncs.pop("__all__", False), "env.step() truncations['__all__']"),
        }
        per_agent = {
            "observations": self._by_agent(result[0], "observations", "env.step()"),
            "rewards": self._by_agent(result[1], "rewards", "env.step()"),
            "terminations": self._by_agent(raw_terms, "terminations", "env.step()"),
            "truncations": self._by_agent(raw_truncs, "truncations", "env.step()"),
            "infos": self._by_agent(result[4], "infos", "env.step()"),
        }
        any_all = any(everyone.values())
        step = StepResult({}, {}, {}, {}, {}, False)
        # Entries an agent that acted may leave out: none of observations, rewards when the whole
        # episode ended, and per-agent flags when "__all__" gives them.
        required = [w for w, optional in (("observations", False), ("rewards", any_all),
                                          ("terminations", has_all_flag), ("truncations", has_all_flag))
                    if not optional]  # fmt: skip
        live_set = set(live)
        rewards = per_agent["rewards"]
        for agent in self.agent_ids:
            name = self._keys[agent]
            if agent in live_set:
                for what in required:
                    if agent not in per_agent[what]:
                        raise EnvContractError(
                            f"env.step() returned no {what} entry for agent {name!r}, which acted; {_PZ_STEP}"
                        )
            flags = []
            previous = self._last_flags.get(agent, (False, False))
            for what, before in zip(("terminations", "truncations"), previous, strict=True):
                if agent in per_agent[what]:
                    flag = per_agent[what][agent]
                    if type(flag) is not bool:  # (the message is built only when it is needed)
                        flag = _as_bool(flag, f"env.step() {what}[{name!r}]")
                else:
                    flag = before
                flags.append(flag or everyone[what])
            step.observations[agent] = per_agent["observations"].get(agent, self._last_obs.get(agent))
            reward = rewards.get(agent, 0.0)
            kind = type(reward)
            if kind is int or (kind is float and reward == reward):  # (reward != reward: NaN)
                step.rewards[agent] = float(reward)
            else:
                step.rewards[agent] = _as_float(reward, f"env.step() rewards[{name!r}]")
            step.terminated[agent], step.truncated[agent] = flags
            step.infos[agent] = self._info(per_agent["infos"].get(agent, {}), "env.step()", agent)
            self._done[agent] = flags[0] or flags[1]
            self._last_flags[agent] = (flags[0], flags[1])
        self._last_obs.update(step.observations)
        remaining = getattr(self.env, "agents", None)
        step.episode_over = (
            any_all or all(self._done.values()) or (isinstance(remaining, (list, tuple)) and not remaining)
        )
        return step
