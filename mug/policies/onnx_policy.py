"""``OnnxPolicy``: a :class:`ModelConfig` run by onnxruntime on the server (CPU).

Same semantics as the browser's ``OnnxPolicy`` (``mug/client/src/policies/onnx_policy.ts``):
observation -> float32 tensor (batch 1) -> logits -> float64 softmax -> one seeded draw.
"""

from __future__ import annotations

import math
import secrets
from typing import Any

import numpy as np

from mug.policies.errors import ModelConfigError, PolicyError
from mug.policies.model_config import ModelConfig, ModelInfo
from mug.policies.runtime import Dim, load_session
from mug.policies.sampling import Pcg32, agent_rng, sample_index, softmax


def _fits(actual: tuple[int, ...], declared: tuple[Dim, ...]) -> bool:
    return len(actual) == len(declared) and all(d is None or d == a for a, d in zip(actual, declared, strict=True))


def prepare_observation(observation: Any, declared: tuple[Dim, ...], name: str = "obs") -> np.ndarray:
    """The observation as a float32 array shaped for an input declared ``declared`` (None = any size).

    Tried in order: the observation's own shape; with a leading batch dim of 1; reshaped (row-major)
    to the declared shape with a symbolic batch dim taken as 1, when only the batch dim is symbolic
    and the sizes agree. Anything else raises :class:`PolicyError` naming both shapes.
    """
    if observation is None:
        raise PolicyError(f"no observation for obs_input {name!r}")
    try:
        x = np.asarray(observation)
    except (TypeError, ValueError) as exc:
        raise PolicyError(f"observation is not a regular array of numbers for obs_input {name!r}: {exc}") from None
    if x.dtype.kind not in "biuf":
        raise PolicyError(
            f"observation is not a regular array of numbers or booleans for obs_input {name!r} (dtype {x.dtype})"
        )
    x = x.astype(np.float32, copy=False)
    if _fits(x.shape, declared):
        return np.ascontiguousarray(x)
    if _fits((1, *x.shape), declared):
        return np.ascontiguousarray(x.reshape((1, *x.shape)))
    if declared and all(d is not None for d in declared[1:]):
        target = (1 if declared[0] is None else declared[0], *declared[1:])
        if math.prod(target) == x.size:  # type: ignore[arg-type]
            return np.ascontiguousarray(x.reshape(target))  # type: ignore[arg-type]
    dims = ", ".join("?" if d is None else str(d) for d in declared)
    raise PolicyError(f"observation of shape {list(x.shape)} does not fit obs_input {name!r} [{dims}]")


def logit_vector(value: Any, name: str) -> np.ndarray:
    """The logits output as a 1-D vector; it must be ``[1, n]`` or ``[n]``."""
    array = np.asarray(value)
    if (array.ndim == 1 or (array.ndim == 2 and array.shape[0] == 1)) and array.shape[-1] >= 1:
        return array.reshape(-1)
    raise PolicyError(f"logit_output {name!r} came out with shape {list(array.shape)}; expected [1, n] or [n]")


class OnnxPolicy:
    """A policy from an ONNX model: samples one discrete action (0-based index) per call to ``act``.

    - ``reset(seed)`` (each episode start): zero recurrent state, sampling RNG
      ``agent_rng(seed, agent_id)`` (PCG32; ``seed=None`` draws a random seed).
    - ``act(observation)``: run the model, feed the state outputs back next time, softmax the
      logits in float64 and pick the first index whose running probability exceeds ``rng.uniform()``.
    - ``last_logits`` / ``last_probabilities`` hold the latest step's values.

    Sessions are shared: every policy built from the same model file uses one cached CPU session.
    """

    def __init__(self, config: ModelConfig, agent_id: str = "agent") -> None:
        if not isinstance(config, ModelConfig):
            raise TypeError(f"OnnxPolicy needs a ModelConfig, got {config!r}")
        if config.custom_inference_fn is not None:
            raise ModelConfigError(
                f"agent {agent_id!r}: {config!r} has a custom_inference_fn, which is JavaScript and runs only in "
                "the browser; on the server use the declarative config (obs_input, logit_output, state...)"
            )
        self.config = config
        self.agent_id = str(agent_id)
        self.info: ModelInfo = config.check_model()
        self._session = load_session(config.path)
        self._fetch = [config.logit_output, *config.state_outputs]  # type: ignore[misc]
        self._rng: Pcg32 | None = None
        self._state: list[np.ndarray] = []
        self.seed: int | None = None
        self.last_logits: np.ndarray | None = None
        self.last_probabilities: list[float] | None = None

    @property
    def n_actions(self) -> int | None:
        return self.info.n_actions

    def reset(self, seed: int | None) -> None:
        if seed is None:
            seed = secrets.randbits(63)
        self._rng = agent_rng(seed, self.agent_id)
        self.seed = seed
        self._state = [np.zeros(shape, np.float32) for shape in self.info.state_shapes]
        self.last_logits = self.last_probabilities = None

    def logits(self, observation: Any) -> np.ndarray:
        """Run the model once (advancing the recurrent state) and return the logits as a 1-D array."""
        if self._rng is None:
            raise PolicyError(f"agent {self.agent_id!r}: call reset(seed) at the episode start before act()")
        config = self.config
        try:
            obs = prepare_observation(observation, self.info.obs_shape, config.obs_input)
        except PolicyError as exc:
            raise PolicyError(f"agent {self.agent_id!r}: {exc}") from None
        feed: dict[str, np.ndarray] = {config.obs_input: obs}
        feed.update(self.info.fixed_feeds)
        feed.update(zip(config.state_inputs, self._state, strict=True))  # type: ignore[arg-type]
        try:
            result = self._session.run(self._fetch, feed)
        except Exception as exc:
            raise PolicyError(
                f"agent {self.agent_id!r}: {config.path.name} failed: {type(exc).__name__}: {exc}"
            ) from exc
        logits = logit_vector(result[0], config.logit_output)
        state = []
        for name, shape, value in zip(config.state_outputs, self.info.state_shapes, result[1:], strict=True):  # type: ignore[arg-type]
            array = np.asarray(value, dtype=np.float32)
            if array.shape != shape:
                raise PolicyError(
                    f"state output {name!r} came out with shape {list(array.shape)}, expected {list(shape)}"
                )
            state.append(array)
        self._state = state
        self.last_logits = logits
        return logits

    def act(self, observation: Any) -> int:
        logits = self.logits(observation)
        try:
            probabilities = softmax(logits.tolist())
        except ValueError as exc:
            raise PolicyError(f"agent {self.agent_id!r}: bad logits from {self.config.path.name}: {exc}") from None
        self.last_probabilities = probabilities
        assert self._rng is not None
        return sample_index(probabilities, self._rng.uniform())

    # -- snapshots (rollback, replay) -----------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        """Everything ``act`` depends on besides the observation: RNG and recurrent state."""
        return {
            "seed": self.seed,
            "rng": None if self._rng is None else list(self._rng.get_state()),
            "recurrent": [s.copy() for s in self._state],
        }

    def set_state(self, state: dict[str, Any]) -> None:
        self.seed = state["seed"]
        if state["rng"] is None:
            self._rng = None
        else:
            self._rng = agent_rng(0, self.agent_id)
            self._rng.set_state((state["rng"][0], state["rng"][1]))
        self._state = [np.asarray(s, dtype=np.float32).copy() for s in state["recurrent"]]
