"""Validation helpers for scene options: every bad option names itself and what is allowed."""

from __future__ import annotations

import functools
import inspect
import math
import re
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")


class NotProvided:
    """Marker for an option the caller did not pass (so `None` can be a real value)."""

    def __repr__(self) -> str:
        return "NotProvided"


NOT_PROVIDED: Any = NotProvided()


class SceneConfigError(ValueError):
    """A scene option is wrong: the message names the scene, the option and what is allowed."""


def where(scene: Any, method: str) -> str:
    sid = getattr(scene, "scene_id", None)
    name = type(scene).__name__
    return f"{name}({sid!r}).{method}()" if sid else f"{name}.{method}()"


def known_options(method: F) -> F:
    """Decorator: an unknown keyword argument raises SceneConfigError listing the allowed ones."""
    sig = inspect.signature(method)
    allowed = [p for p in sig.parameters if p != "self"]

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        unknown = sorted(set(kwargs) - set(allowed))
        if unknown:
            raise SceneConfigError(
                f"{where(self, method.__name__)}: unknown option(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}"
            )
        try:
            sig.bind(self, *args, **kwargs)
        except TypeError as exc:
            raise SceneConfigError(f"{where(self, method.__name__)}: {exc}") from None
        return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def fail(scene: Any, method: str, option: str, problem: str) -> SceneConfigError:
    return SceneConfigError(f"{where(scene, method)}: option {option!r} {problem}")


def check_int(scene: Any, method: str, option: str, value: Any, *, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(scene, method, option, f"must be an int, got {type(value).__name__} {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise fail(scene, method, option, f"must be {bound}, got {value}")
    return value


def check_number(
    scene: Any, method: str, option: str, value: Any, *, minimum: float, maximum: float | None = None
) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise fail(scene, method, option, f"must be a finite number, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise fail(scene, method, option, f"must be {bound}, got {value}")
    return float(value)


def check_str(scene: Any, method: str, option: str, value: Any, *, allow_none: bool = False) -> str | None:
    if value is None and allow_none:
        return None
    if not isinstance(value, str):
        raise fail(scene, method, option, f"must be a string, got {type(value).__name__} {value!r}")
    return value


def check_choice(scene: Any, method: str, option: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise fail(scene, method, option, f"must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def check_color(scene: Any, method: str, option: str, value: Any) -> str:
    if not isinstance(value, str) or not _COLOR.match(value):
        raise fail(scene, method, option, f"must be a CSS hex color like '#ffffff', got {value!r}")
    return value


def check_callable(scene: Any, method: str, option: str, value: Any) -> Callable[..., Any]:
    if not callable(value):
        raise fail(scene, method, option, f"must be callable, got {type(value).__name__} {value!r}")
    return value


def check_identifier(scene: Any, method: str, option: str, value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", value):
        raise fail(scene, method, option, f"must be 1-64 characters of letters, digits, '_', '-' or '.', got {value!r}")
    return value


def read_text_file(scene: Any, method: str, option: str, path: Any) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except (OSError, TypeError) as exc:
        raise fail(scene, method, option, f"must be a readable text file: {exc}") from None


def text_or_file(scene: Any, method: str, option: str, inline: Any, path: Any) -> Any:
    """The text given inline as ``option`` or read from ``<option>_filepath`` (not both); NOT_PROVIDED if neither."""
    if inline is not NOT_PROVIDED and path is not NOT_PROVIDED:
        raise fail(scene, method, f"{option}_filepath", f"cannot be combined with {option}; pass one")
    if path is not NOT_PROVIDED:
        return read_text_file(scene, method, f"{option}_filepath", path)
    if inline is not NOT_PROVIDED:
        return check_str(scene, method, option, inline)
    return NOT_PROVIDED


def is_json_value(value: Any) -> bool:
    """True when value is made of JSON types only (what can travel to the browser and the store)."""
    if value is None or isinstance(value, (bool, str)):
        return True
    if isinstance(value, (int, float)):
        return not isinstance(value, float) or math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return all(is_json_value(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_json_value(v) for k, v in value.items())
    return False
