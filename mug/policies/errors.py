"""Errors raised by policies and by ONNX model configurations."""

from __future__ import annotations


class PolicyError(RuntimeError):
    """A policy failed or returned something that is not an action."""


class ModelConfigError(PolicyError, ValueError):
    """A :class:`~mug.policies.ModelConfig` is malformed or does not fit its ONNX model.

    Raised when the config is constructed (wrong argument types), when the model is checked
    (``check_model()``, ``validate_policy_spec``) and when a policy is built from it.
    """
