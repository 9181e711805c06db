"""Options of a game scene's continuous monitoring: round trips and attention while participants play.

``GymScene.monitoring(...)`` (the ``continuous_*`` options of the system MUG replaces) warns and
then excludes a participant whose connection is too slow for too long, or whose tab stays hidden
or window unfocused, and lets a researcher's function decide at a fixed pace. The server applies
it (mug.server.sessions.watch) while the participant plays the scene's game.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mug.scenes._options import check_int, check_number, fail

DEFAULT_MESSAGES = {
    "ping_warning": "Your connection is slow. The study may end if it stays this slow.",
    "ping_exclude": "Your connection was too slow for the study, so it has ended. Thank you for taking part.",
    "tab_warning": "Please come back to the study's tab: the study ends if you stay away.",
    "tab_exclude": "You were away from the study's tab for too long, so it has ended. Thank you for taking part.",
    "callback_exclude": "The study has ended. Thank you for taking part.",
}


@dataclass
class MonitoringOptions:
    """How a game scene watches its participants (see ``GymScene.monitoring``)."""

    max_ping_ms: float | None = None
    ping_window: int = 5
    ping_violations: int = 3
    tab_warning_s: float | None = None
    tab_exclude_s: float | None = None
    messages: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_MESSAGES))
    callback: Callable[[dict[str, Any]], Any] | None = None
    callback_interval_s: float = 1.0

    def to_json(self) -> dict[str, Any]:
        return {
            "max_ping_ms": self.max_ping_ms, "ping_window": self.ping_window,
            "ping_violations": self.ping_violations, "tab_warning_s": self.tab_warning_s,
            "tab_exclude_s": self.tab_exclude_s, "messages": dict(self.messages),
            "callback": getattr(self.callback, "__qualname__", None) if self.callback else None,
            "callback_interval_s": self.callback_interval_s,
        }  # fmt: skip


def monitoring_options(scene: Any, given: dict[str, Any]) -> MonitoringOptions:
    """Validate ``GymScene.monitoring(**given)``."""
    opts = MonitoringOptions()
    if given.get("max_ping_ms") is not None:
        opts.max_ping_ms = check_number(
            scene, "monitoring", "max_ping_ms", given["max_ping_ms"], minimum=1, maximum=60_000
        )
    if "ping_window" in given:
        opts.ping_window = check_int(scene, "monitoring", "ping_window", given["ping_window"], minimum=1, maximum=100)
    if "ping_violations" in given:
        opts.ping_violations = check_int(
            scene, "monitoring", "ping_violations", given["ping_violations"], minimum=1, maximum=100
        )
    if opts.ping_violations > opts.ping_window:
        raise fail(
            scene, "monitoring", "ping_violations",
            f"is {opts.ping_violations}, more than the ping_window of {opts.ping_window} it is counted in",
        )  # fmt: skip
    for name in ("tab_warning_s", "tab_exclude_s"):
        if given.get(name) is not None:
            setattr(opts, name, check_number(scene, "monitoring", name, given[name], minimum=0.5, maximum=86_400))
    if opts.tab_warning_s is not None and opts.tab_exclude_s is not None and opts.tab_warning_s >= opts.tab_exclude_s:
        raise fail(
            scene, "monitoring", "tab_warning_s",
            f"({opts.tab_warning_s:g} s) must come before tab_exclude_s ({opts.tab_exclude_s:g} s)",
        )  # fmt: skip
    messages = given.get("messages")
    if messages is not None:
        if not isinstance(messages, dict):
            raise fail(scene, "monitoring", "messages", f"must be a dict, got {type(messages).__name__}")
        for key, text in messages.items():
            if key not in DEFAULT_MESSAGES:
                raise fail(scene, "monitoring", "messages", f"has {key!r}; the keys are {', '.join(DEFAULT_MESSAGES)}")
            if not isinstance(text, str) or not text.strip():
                raise fail(scene, "monitoring", "messages", f"[{key!r}] must be a non-empty string")
            opts.messages[key] = text
    callback = given.get("callback")
    if callback is not None and not callable(callback):
        raise fail(scene, "monitoring", "callback", f"must be a function, got {type(callback).__name__}")
    opts.callback = callback
    if "callback_interval_s" in given:
        opts.callback_interval_s = check_number(
            scene, "monitoring", "callback_interval_s", given["callback_interval_s"], minimum=0.1, maximum=3600
        )
    return opts
