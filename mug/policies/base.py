"""The policy interface and the built-in random and Python-callable policies."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any, Protocol


class PolicyError(RuntimeError):
    """A policy failed or returned something that is not an action."""


class Policy(Protocol):
    """Chooses an agent's action each step; reset at every episode start."""

    def reset(self, seed: int | None) -> None: ...

    def act(self, observation: Any) -> Any: ...


class RandomPolicy:
    """Uniformly random actions: from the env's action space when it has one, else from a list."""

    def __init__(self, action_space: Any = None, actions: Sequence[Any] | None = None) -> None:
        if action_space is None and not actions:
            raise PolicyError("a random policy needs the env's action_space or a list of actions")
        self._space = action_space if action_space is not None and hasattr(action_space, "sample") else None
        self._actions = list(actions or [])
        self._rng = random.Random(0)

    def reset(self, seed: int | None) -> None:
        self._rng.seed(seed)
        if self._space is not None and hasattr(self._space, "seed"):
            self._space.seed(seed)

    def act(self, observation: Any) -> Any:
        if self._space is not None:
            return self._space.sample()
        return self._rng.choice(self._actions)


class CallablePolicy:
    """A Python function ``policy(observation) -> action`` used as a policy."""

    def __init__(self, fn: Callable[[Any], Any], agent_id: str) -> None:
        self._fn = fn
        self._agent_id = agent_id
        self._reset = getattr(fn, "reset", None)

    def reset(self, seed: int | None) -> None:
        if callable(self._reset):
            self._reset(seed)

    def act(self, observation: Any) -> Any:
        try:
            return self._fn(observation)
        except Exception as exc:
            name = getattr(self._fn, "__qualname__", repr(self._fn))
            raise PolicyError(f"policy {name} for agent {self._agent_id!r} raised {type(exc).__name__}: {exc}") from exc


def make_policy(spec: Any, *, agent_id: str, action_space: Any = None, actions: Sequence[Any] | None = None) -> Policy:
    """Build the policy for a ``policy_mapping`` value (other than ``"human"``)."""
    if spec == "random":
        return RandomPolicy(action_space, actions)
    if callable(spec):
        return CallablePolicy(spec, agent_id)
    raise PolicyError(f"agent {agent_id!r}: unsupported policy {spec!r}; use 'random' or a callable")
