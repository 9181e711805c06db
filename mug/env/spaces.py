"""Minimal pure-Python action spaces for envs that must run without gymnasium (Pyodide).

Only what MUG needs: :class:`Discrete` with ``n``, ``start``, ``sample()``,
``seed()`` and ``contains()``, mirroring ``gymnasium.spaces.Discrete``. Envs
that can import gymnasium should use gymnasium's spaces instead.
"""

from __future__ import annotations

import numbers
import random
from typing import Any

__all__ = ["Discrete"]


class Discrete:
    """The integers ``start, start + 1, ..., start + n - 1`` (an action set like "stay, left, right").

    Args:
        n: number of elements (> 0).
        seed: optional seed for :meth:`sample`.
        start: smallest element.
    """

    def __init__(self, n: int, seed: int | None = None, start: int = 0) -> None:
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n <= 0:
            raise ValueError(f"Discrete(): argument 'n' must be an int > 0, got {n!r}")
        if isinstance(start, bool) or not isinstance(start, numbers.Integral):
            raise ValueError(f"Discrete(): argument 'start' must be an int, got {start!r}")
        self.n = int(n)
        self.start = int(start)
        self._rng = random.Random(seed)

    @property
    def shape(self) -> tuple[int, ...]:
        """``()`` — a single integer, as in gymnasium."""
        return ()

    def seed(self, seed: int | None = None) -> list[int | None]:
        """Seed the sampler; returns ``[seed]`` like gymnasium."""
        self._rng = random.Random(seed)
        return [seed]

    def sample(self) -> int:
        """A uniformly random element."""
        return self.start + self._rng.randrange(self.n)

    def contains(self, x: Any) -> bool:
        """Whether ``x`` is an integer in the space (numpy integers count)."""
        if isinstance(x, bool) or not isinstance(x, numbers.Integral):
            item = getattr(x, "item", None)  # 0-d numpy arrays
            if getattr(x, "shape", None) == () and callable(item):
                return self.contains(item())
            return False
        return self.start <= int(x) < self.start + self.n

    def __contains__(self, x: Any) -> bool:
        return self.contains(x)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Discrete) and (other.n, other.start) == (self.n, self.start)

    def __hash__(self) -> int:
        return hash((Discrete, self.n, self.start))

    def __repr__(self) -> str:
        return f"Discrete({self.n})" if self.start == 0 else f"Discrete({self.n}, start={self.start})"
