"""Action repeat: a policy queried every k-th step that repeats its action in between."""

from __future__ import annotations

from typing import Any

from mug.policies.errors import PolicyError

_NONE: Any = object()


class FrameSkipPolicy:
    """Wraps any policy so it is queried at steps 0, k, 2k... of each episode (counted from the
    ``reset`` at the episode start) and its last action is returned on the steps in between.

    Observations of skipped steps are not shown to the wrapped policy, so a recurrent policy's
    state and the sampling RNG advance only on query steps. Same semantics as the browser's
    ``FrameSkipPolicy`` (``mug/client/src/policies/frame_skip.ts``).
    """

    def __init__(self, policy: Any, frame_skip: int) -> None:
        if isinstance(frame_skip, bool) or not isinstance(frame_skip, int) or frame_skip < 1:
            raise PolicyError(f"frame_skip must be an int >= 1, got {frame_skip!r}")
        if not callable(getattr(policy, "act", None)) or not callable(getattr(policy, "reset", None)):
            raise PolicyError(f"FrameSkipPolicy wraps a policy with reset(seed) and act(observation), got {policy!r}")
        self.policy = policy
        self.frame_skip = frame_skip
        self.step = 0
        self._last: Any = _NONE
        self._error: BaseException | None = None

    def reset(self, seed: int | None) -> None:
        self.policy.reset(seed)
        self.step = 0
        self._last = _NONE
        self._error = None

    def act(self, observation: Any) -> Any:
        """Steps 0, k, 2k... ask the wrapped policy; the others return its last answer (or re-raise
        the error of the last query, as the browser's wrapper re-rejects the same promise)."""
        query = self.step % self.frame_skip == 0 or (self._last is _NONE and self._error is None)
        self.step += 1
        if query:
            try:
                self._last = self.policy.act(observation)
                self._error = None
            except Exception as exc:
                self._last, self._error = _NONE, exc
                raise
        elif self._error is not None:
            raise self._error
        return self._last

    def queried(self, step: int) -> bool:
        """Whether the wrapped policy is asked at ``step`` (0-based, within an episode)."""
        return step % self.frame_skip == 0

    def get_state(self) -> dict[str, Any]:
        inner = self.policy.get_state() if hasattr(self.policy, "get_state") else None
        return {
            "step": self.step,
            "last": None if self._last is _NONE else self._last,
            "has_last": self._last is not _NONE,
            "inner": inner,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])
        self._last = state["last"] if state["has_last"] else _NONE
        self._error = None
        if state["inner"] is not None:
            self.policy.set_state(state["inner"])
