"""The text of a game's HUD when the scene gives a string: its ``{score}`` and other fields.

A fixed HUD string (``rendering(hud="Score {score} · round {episode} of {num_episodes}")``) is the
only HUD a client-side scene can have (no Python callable runs in the page), so its few fields are
filled in where the game runs: by the server for server-run games (mug.server.games.game) and by
the page's game loop (mug/client/src/runtime/hud.ts, which must format numbers as ``format_score``
does). ``{score}`` is the human agents' summed return (every agent's when none is human): in this
episode, or since the game's first episode with ``rendering(hud_score_carry_over=True)``.
"""

from __future__ import annotations

import math
import string
from collections.abc import Iterable, Mapping
from typing import Any

from mug.scenes._options import fail

__all__ = ["HUD_FIELDS", "check_hud_text", "format_hud", "format_score", "hud_score"]

HUD_FIELDS = ("score", "episode", "num_episodes", "step", "max_steps")


def check_hud_text(scene: Any, text: str) -> str:
    """A HUD string whose ``{fields}`` are all known (``{{`` and ``}}`` are literal braces)."""
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        problem = f"is not a valid HUD text: {exc} (write '{{{{' for a literal brace)"
        raise fail(scene, "rendering", "hud", problem) from None
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in HUD_FIELDS or spec or conversion:
            raise fail(
                scene, "rendering", "hud",
                f"names {{{name}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}}; "
                f"a HUD text may show {', '.join('{' + f + '}' for f in HUD_FIELDS)} (no format specs), "
                "and '{{' / '}}' for literal braces",
            )  # fmt: skip
    return text


def format_score(value: float) -> str:
    """A score as the HUD shows it: at most 2 decimals, no trailing zeros (3, -1.5, 0.25)."""
    if not math.isfinite(value):
        return str(value)
    rounded = round(value, 2)
    if rounded == int(rounded):
        return str(int(rounded))
    return f"{rounded:.2f}".rstrip("0")


def hud_score(returns: Mapping[str, float], humans: Iterable[str]) -> float:
    """The human agents' summed return (every agent's when none is human)."""
    agents = [a for a in humans if a in returns] or list(returns)
    return float(sum(returns[a] for a in agents))


def format_hud(text: str, *, score: float, episode: int, num_episodes: int, step: int, max_steps: int) -> str:
    """Fill in a HUD string's fields (checked by `check_hud_text`)."""
    return text.format(
        score=format_score(score), episode=episode, num_episodes=num_episodes, step=step, max_steps=max_steps
    )
