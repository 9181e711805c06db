"""Exceptions raised by :mod:`mug.env`.

All of them subclass :class:`ValueError`, so callers that only care about
"the env or its output is wrong" can catch ``ValueError``.
"""

from __future__ import annotations

__all__ = ["EnvCheckError", "EnvContractError", "RenderStateError"]


class RenderStateError(ValueError):
    """A render state does not follow the render-state schema.

    The message names the object (index and id), the field and the problem.
    """


class EnvContractError(ValueError):
    """An environment broke the env contract (what ``reset``/``step``/``render`` return).

    The message says what the env returned and what was expected.
    """


class EnvCheckError(ValueError):
    """:func:`mug.env.check_env` found one or more problems with an environment.

    Attributes:
        problems: one sentence per breach of the contract.
        warnings: things that work but are likely to cause trouble.
    """

    def __init__(self, problems: list[str], warnings: list[str] | None = None) -> None:
        self.problems: list[str] = list(problems)
        self.warnings: list[str] = list(warnings or [])
        count = len(self.problems)
        lines = [f"check_env found {count} problem{'s' if count != 1 else ''}:"]
        lines += [f"  - {p}" for p in self.problems]
        if self.warnings:
            lines.append("and these warnings:")
            lines += [f"  - {w}" for w in self.warnings]
        super().__init__("\n".join(lines))
