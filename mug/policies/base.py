"""The policy interface, the built-in random and Python-callable policies, and ``make_policy``."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from mug.policies.errors import ModelConfigError, PolicyError
from mug.policies.model_config import ModelConfig

BUILTIN_POLICIES = ("human", "random")


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


def validate_policy_spec(value: Any, *, server: bool = False) -> None:
    """Check a ``policy_mapping`` value when the scene is defined; raises :class:`PolicyError`.

    ``"human"``, ``"random"`` and callables pass. A :class:`ModelConfig` is checked against its
    model (``check_model()``: loads it with onnxruntime; raises :class:`ModelConfigError`, a
    ``ValueError``). With ``server=True`` (the policies run on the server) a ModelConfig with a
    ``custom_inference_fn`` is refused: that function is JavaScript and runs only in the browser.
    """
    if isinstance(value, ModelConfig):
        value.check_model()
        if server and value.custom_inference_fn is not None:
            raise ModelConfigError(
                f"{value!r}: custom_inference_fn is JavaScript and runs only in the browser, "
                "but this scene runs its policies on the server"
            )
        return
    if isinstance(value, str):
        if value not in BUILTIN_POLICIES:
            raise PolicyError(
                f"unknown policy {value!r}; use 'human', 'random', a callable or a mug.policies.ModelConfig"
            )
        return
    if not callable(value):
        raise PolicyError(
            f"unsupported policy {value!r}; use 'human', 'random', a callable or a mug.policies.ModelConfig"
        )


def make_policy(spec: Any, *, agent_id: str, action_space: Any = None, actions: Sequence[Any] | None = None) -> Policy:
    """Build the policy for a ``policy_mapping`` value (other than ``"human"``).

    A :class:`ModelConfig` gives an :class:`~mug.policies.OnnxPolicy` (wrapped in a
    :class:`~mug.policies.FrameSkipPolicy` when ``frame_skip > 1``); its actions are 0-based
    indices, so the env's action space, when given, must be ``Discrete(n)`` with ``start=0`` and
    ``n`` equal to the model's number of logits.
    """
    if isinstance(spec, ModelConfig):
        from mug.policies.frame_skip import FrameSkipPolicy
        from mug.policies.onnx_policy import OnnxPolicy

        policy = OnnxPolicy(spec, agent_id)
        _check_discrete(spec, policy.n_actions, agent_id, action_space)
        return FrameSkipPolicy(policy, spec.frame_skip) if spec.frame_skip > 1 else policy
    if spec == "random":
        return RandomPolicy(action_space, actions)
    if callable(spec):
        return CallablePolicy(spec, agent_id)
    raise PolicyError(
        f"agent {agent_id!r}: unsupported policy {spec!r}; use 'random', a callable or a mug.policies.ModelConfig"
    )


def _check_discrete(spec: ModelConfig, n_actions: int | None, agent_id: str, space: Any) -> None:
    if space is None:
        return
    n = getattr(space, "n", None)
    if n is None or getattr(space, "nvec", None) is not None:
        raise PolicyError(
            f"agent {agent_id!r}: {spec!r} samples one discrete action, but the agent's action space is {space!r}"
        )
    start = int(getattr(space, "start", 0))
    if start != 0:
        raise PolicyError(
            f"agent {agent_id!r}: {spec!r} gives actions 0..n-1, but the action space {space!r} starts at {start}"
        )
    if n_actions is not None and int(n) != n_actions:
        raise PolicyError(
            f"agent {agent_id!r}: {spec.path.name} outputs {n_actions} logits, "
            f"but the action space {space!r} has {int(n)} actions"
        )


def policy_label(spec: Any) -> str:
    """A short name for a policy in the data: ``random``, a function's name, or ``onnx:<file>``."""
    if isinstance(spec, ModelConfig):
        return f"onnx:{spec.path.name}"
    return spec if isinstance(spec, str) else getattr(spec, "__name__", type(spec).__name__)
