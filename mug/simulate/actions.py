"""What a simulated participant presses in a game: the actions of a policy, kept to the scene's keys.

A simulated participant plays the agent a human would, so it can only do what the page lets a
human do: send one of the scene's mapped actions or its default action. The policy chooses:
``"random"`` (uniform over those actions), a callable ``policy(observation) -> action`` or a
`mug.policies.ModelConfig` (an ONNX model, run with onnxruntime as the server runs bots).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping
from typing import Any

from mug.policies import ModelConfig, make_policy, policy_label
from mug.scenes import GymScene

__all__ = ["PolicySpec", "SimulatedPlayer", "check_policy", "policy_for_scene"]

#: A simulated participant's policy: "random", a callable, a ModelConfig, or a dict of those by scene id.
PolicySpec = str | Callable[[Any], Any] | ModelConfig | Mapping[str, Any]


def check_policy(policy: Any, scene_ids: set[str]) -> None:
    """Refuse a policy that cannot play (named in a ``ValueError``), before anyone joins."""
    if isinstance(policy, Mapping):
        unknown = sorted(str(k) for k in policy if k not in scene_ids)
        if unknown:
            raise ValueError(
                f"simulate: policy names scene(s) {', '.join(map(repr, unknown))}, which are not game scenes of this "
                f"experiment (its game scenes: {', '.join(map(repr, sorted(scene_ids))) or 'none'})"
            )
        for value in policy.values():
            _check_one(value)
    else:
        _check_one(policy)


def _check_one(policy: Any) -> None:
    if isinstance(policy, ModelConfig):
        policy.check_model()
    elif isinstance(policy, str):
        if policy != "random":
            raise ValueError(
                f"simulate: unknown policy {policy!r}; use 'random', a callable or a mug.policies.ModelConfig"
            )
    elif not callable(policy):
        raise ValueError(
            f"simulate: policy must be 'random', a callable policy(observation) -> action, a mug.policies.ModelConfig, "
            f"or a dict of those by game scene id; got {policy!r}"
        )


def policy_for_scene(policy: Any, scene_id: str) -> Any:
    """The policy that plays in ``scene_id`` (a dict's entry for it, else ``"random"``)."""
    if isinstance(policy, Mapping):
        return policy.get(scene_id, "random")
    return policy


def describe(policy: Any) -> Any:
    """A JSON-able name of the policy, for the data (``data.simulated.policy``)."""
    if isinstance(policy, Mapping):
        return {str(k): policy_label(v) for k, v in policy.items()}
    return policy_label(policy)


def _key(action: Any) -> str:
    return json.dumps(action, sort_keys=True)


class SimulatedPlayer:
    """Chooses a simulated participant's action in one game scene, as the scene's keys allow.

    ``act(observation)`` returns one of the scene's actions (mapped or default); a policy that
    returns anything else raises ``ValueError`` naming it and the actions allowed.
    """

    def __init__(self, spec: Any, scene: GymScene, agent_id: str, rng: random.Random) -> None:
        self.scene = scene
        self.agent_id = agent_id
        self.allowed = scene.allowed_actions()
        self._allowed = {_key(a): a for a in self.allowed}
        self._rng = rng
        self._policy = None if spec == "random" else make_policy(spec, agent_id=agent_id)
        self.label = policy_label(spec)

    @property
    def needs_observation(self) -> bool:
        """Whether the policy decides from the agent's observation (a random one does not)."""
        return self._policy is not None

    def reset(self, seed: int | None) -> None:
        """A new episode starts (a model's recurrent state is cleared; a callable's ``reset`` is called)."""
        if self._policy is not None:
            self._policy.reset(seed)

    def act(self, observation: Any) -> Any:
        """The action to press now."""
        if self._policy is None:
            return self._rng.choice(self.allowed)
        action = self._policy.act(observation)
        if hasattr(action, "item") and callable(action.item):  # a numpy scalar
            action = action.item()
        found = self._allowed.get(_key(action), _MISSING)
        if found is _MISSING:
            raise ValueError(
                f"policy {self.label} returned {action!r} for agent {self.agent_id!r} in scene "
                f"{self.scene.scene_id!r}, which is not one of the scene's actions {self.allowed!r} "
                "(a participant can only press the scene's keys)"
            )
        return found


_MISSING = object()
