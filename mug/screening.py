"""Entry screening: who may start the study, decided when a participant first arrives.

``Experiment.entry_screening(...)`` keeps out participants whose device or browser cannot play
the study, and lets the researcher decide with a function of their own (``entry_callback``). The
decision is the server's, made at the participant's first join from the page's User-Agent header
and the link's query (nothing the page reports about itself): a screened-out participant sees the
message and a completion code (the scene's ``screen_out_redirect_url`` if given), is recorded as
``excluded`` with the reason, and stays screened out on reload. A callback that raises or takes
longer than ``callback_timeout_s`` is recorded (``screening_error``) and lets the participant in:
screening fails open, so a bug in it never locks out a whole study.

The names follow the system MUG replaces (``device_exclusion``, ``browser_requirements``,
``browser_blocklist``, ``exclusion_messages``, ``entry_callback``); docs/screening.md has them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BROWSERS", "EntryScreening", "ScreeningContext", "describe_agent", "entry_screening_options"]

#: Browser names the requirements and blocklist take (what `describe_agent` reports).
BROWSERS = ("chrome", "edge", "firefox", "safari", "opera", "other")

DEFAULT_MESSAGES = {
    "mobile": "This study needs a computer with a keyboard; it cannot be done on a phone or tablet.",
    "desktop": "This study is meant for phones and tablets; please open it on one.",
    "browser": "This study does not work in your web browser. Please open it in another one.",
    "callback": "Thank you for your interest. You cannot take part in this study.",
    "ping": "Your connection to the study is too slow for it to work well. Thank you for your interest.",
}


@dataclass(frozen=True)
class ScreeningContext:
    """What an ``entry_callback`` is given about an arriving participant."""

    participant_id: str
    #: The query parameters of their link (e.g. a platform's study id, a condition).
    query: Mapping[str, str]
    user_agent: str
    #: "mobile" or "desktop" (phones and tablets are mobile).
    device: str
    #: One of `BROWSERS`, with its major version (None when unknown).
    browser: str
    browser_version: int | None
    #: "windows", "macos", "linux", "android", "ios" or "other".
    os: str


@dataclass
class EntryScreening:
    """The experiment's entry screening (see ``Experiment.entry_screening``)."""

    device_exclusion: str | None = None
    browser_requirements: tuple[str, ...] | None = None
    browser_blocklist: tuple[str, ...] = ()
    exclusion_messages: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_MESSAGES))
    entry_callback: Callable[[ScreeningContext], Any] | None = None
    callback_timeout_s: float = 5.0
    screen_out_redirect_url: str | None = None
    max_ping_ms: float | None = None
    min_ping_measurements: int = 5

    def decide(self, context: ScreeningContext) -> tuple[str, str] | None:
        """The fixed rules: (reason, message) when the participant is screened out, else None."""
        if self.device_exclusion is not None and context.device == self.device_exclusion:
            return f"device: {context.device}", self.exclusion_messages[context.device]
        if self.browser_requirements is not None and context.browser not in self.browser_requirements:
            return f"browser: {context.browser}", self.exclusion_messages["browser"]
        if context.browser in self.browser_blocklist:
            return f"browser: {context.browser}", self.exclusion_messages["browser"]
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "device_exclusion": self.device_exclusion,
            "browser_requirements": list(self.browser_requirements) if self.browser_requirements else None,
            "browser_blocklist": list(self.browser_blocklist),
            "exclusion_messages": dict(self.exclusion_messages),
            "entry_callback": getattr(self.entry_callback, "__qualname__", None) if self.entry_callback else None,
            "callback_timeout_s": self.callback_timeout_s,
            "screen_out_redirect_url": self.screen_out_redirect_url,
            "max_ping_ms": self.max_ping_ms,
            "min_ping_measurements": self.min_ping_measurements,
        }


def _browsers(option: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"entry_screening: {option} must be a non-empty list of browser names, got {value!r}")
    names = []
    for name in value:
        if not isinstance(name, str) or name.lower() not in BROWSERS:
            raise ValueError(f"entry_screening: {option} has {name!r}; browsers are {', '.join(BROWSERS)}")
        names.append(name.lower())
    return tuple(names)


def entry_screening_options(
    *,
    device_exclusion: str | None = None,
    browser_requirements: list[str] | None = None,
    browser_blocklist: list[str] | None = None,
    exclusion_messages: Mapping[str, str] | None = None,
    entry_callback: Callable[[ScreeningContext], Any] | None = None,
    callback_timeout_s: float = 5.0,
    screen_out_redirect_url: str | None = None,
    max_ping_ms: float | None = None,
    min_ping_measurements: int = 5,
) -> EntryScreening:
    """Check ``Experiment.entry_screening``'s options; raises ValueError naming the one that is wrong."""
    if device_exclusion not in (None, "mobile", "desktop"):
        raise ValueError(
            f"entry_screening: device_exclusion must be 'mobile', 'desktop' or None, got {device_exclusion!r}"
        )
    requirements = None if browser_requirements is None else _browsers("browser_requirements", browser_requirements)
    blocklist = () if browser_blocklist is None else _browsers("browser_blocklist", browser_blocklist)
    messages = dict(DEFAULT_MESSAGES)
    if exclusion_messages is not None:
        if not isinstance(exclusion_messages, Mapping):
            raise ValueError(
                f"entry_screening: exclusion_messages must be a dict, got {type(exclusion_messages).__name__}"
            )
        for key, text in exclusion_messages.items():
            if key not in DEFAULT_MESSAGES:
                raise ValueError(
                    f"entry_screening: exclusion_messages has {key!r}; the keys are {', '.join(DEFAULT_MESSAGES)}"
                )
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"entry_screening: exclusion_messages[{key!r}] must be a non-empty string")
            messages[key] = text
    if entry_callback is not None and not callable(entry_callback):
        raise ValueError(f"entry_screening: entry_callback must be a function, got {type(entry_callback).__name__}")
    if (
        isinstance(callback_timeout_s, bool)
        or not isinstance(callback_timeout_s, (int, float))
        or not (math.isfinite(callback_timeout_s) and 0.1 <= callback_timeout_s <= 60)
    ):
        raise ValueError(
            f"entry_screening: callback_timeout_s must be seconds from 0.1 to 60, got {callback_timeout_s!r}"
        )
    if screen_out_redirect_url is not None:
        from mug.scenes.redirects import redirect_problem

        problem = redirect_problem(screen_out_redirect_url, code=True)
        if problem:
            raise ValueError(f"entry_screening: screen_out_redirect_url {problem}")
    if max_ping_ms is not None and (
        isinstance(max_ping_ms, bool) or not isinstance(max_ping_ms, (int, float)) or not 1 <= max_ping_ms <= 60_000
    ):
        raise ValueError(f"entry_screening: max_ping_ms must be from 1 to 60000 ms or None, not {max_ping_ms!r}")
    if isinstance(min_ping_measurements, bool) or not isinstance(min_ping_measurements, int) or not (
        1 <= min_ping_measurements <= 20
    ):
        raise ValueError(
            f"entry_screening: min_ping_measurements must be an int from 1 to 20, not {min_ping_measurements!r}"
        )
    return EntryScreening(
        device_exclusion, requirements, blocklist, messages, entry_callback, float(callback_timeout_s),
        screen_out_redirect_url, None if max_ping_ms is None else float(max_ping_ms), min_ping_measurements,
    )  # fmt: skip


_MOBILE = re.compile(r"Mobi|Android|iPhone|iPad|iPod", re.IGNORECASE)
# Most specific first: Edge and Opera also say "Chrome", Chrome also says "Safari".
_BROWSER = [
    ("edge", re.compile(r"Edg(?:e|A|iOS)?/(\d+)")),
    ("opera", re.compile(r"(?:OPR|Opera)/(\d+)")),
    ("firefox", re.compile(r"(?:Firefox|FxiOS)/(\d+)")),
    ("chrome", re.compile(r"(?:Chrome|CriOS|Chromium)/(\d+)")),
    ("safari", re.compile(r"Version/(\d+).*Safari/")),
]


def describe_agent(user_agent: str) -> tuple[str, str, int | None, str]:
    """(device, browser, major version, os) from a User-Agent header, as screening uses them."""
    device = "mobile" if _MOBILE.search(user_agent) else "desktop"
    browser, version = "other", None
    for name, pattern in _BROWSER:
        match = pattern.search(user_agent)
        if match:
            browser, version = name, int(match.group(1))
            break
    if re.search(r"iPhone|iPad|iPod", user_agent):
        os_name = "ios"
    elif "Android" in user_agent:
        os_name = "android"
    elif "Windows" in user_agent:
        os_name = "windows"
    elif "Mac OS X" in user_agent or "Macintosh" in user_agent:
        os_name = "macos"
    elif "Linux" in user_agent or "X11" in user_agent:
        os_name = "linux"
    else:
        os_name = "other"
    return device, browser, version, os_name
