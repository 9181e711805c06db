"""AI policies: who acts for the non-human agents of a scene (see docs/policies.md)."""

from mug.policies.base import (
    CallablePolicy,
    Policy,
    RandomPolicy,
    make_policy,
    policy_label,
    validate_policy_spec,
)
from mug.policies.errors import ModelConfigError, PolicyError
from mug.policies.frame_skip import FrameSkipPolicy
from mug.policies.model_config import ModelConfig, ModelInfo
from mug.policies.onnx_policy import OnnxPolicy
from mug.policies.sampling import Pcg32, agent_rng, exp64, fnv1a32, sample_index, softmax

__all__ = [
    "CallablePolicy",
    "FrameSkipPolicy",
    "ModelConfig",
    "ModelConfigError",
    "ModelInfo",
    "OnnxPolicy",
    "Pcg32",
    "Policy",
    "PolicyError",
    "RandomPolicy",
    "agent_rng",
    "exp64",
    "fnv1a32",
    "make_policy",
    "policy_label",
    "sample_index",
    "softmax",
    "validate_policy_spec",
]
