"""AI policies: who acts for the non-human agents of a scene."""

from mug.policies.base import CallablePolicy, Policy, PolicyError, RandomPolicy, make_policy

__all__ = ["CallablePolicy", "Policy", "PolicyError", "RandomPolicy", "make_policy"]
