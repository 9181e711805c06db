"""``to_jsonable``: make observations, actions and infos safe for JSON.

Pure Python; numpy values are recognised by duck typing (``tolist()`` /
``item()``) so this works with or without numpy installed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["to_jsonable"]

_MAX_DEPTH = 100


def to_jsonable(value: Any) -> Any:
    """Return a copy of ``value`` made only of JSON types (dict, list, str, int, float, bool, None).

    Conversions: numpy arrays → nested lists and numpy scalars → Python numbers
    (anything with ``tolist()`` / ``item()``); tuples, sets and other sequences →
    lists (sets sorted when possible); mapping keys → ``str``; NaN and ±inf →
    ``None``; ``bytes`` → ``str`` (latin-1, one char per byte); enums → their value.

    Raises:
        TypeError: a value has no JSON form; the message gives its path, e.g.
            ``value['agent_0'][2]``.
    """
    try:
        return _convert(value, 0)
    except _Unconvertible as exc:
        raise TypeError(exc.message("value")) from None


class _Unconvertible(TypeError):
    """A value with no JSON form; the path to it is collected on the way out (none is built otherwise)."""

    def __init__(self, template: str) -> None:
        super().__init__(template)
        self.template = template  # with {path} where the path goes
        self.steps: list[str] = []  # innermost first

    def message(self, root: str) -> str:
        return self.template.format(path=root + "".join(reversed(self.steps)))


def _convert(value: Any, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        raise _Unconvertible(f"to_jsonable: {{path}} is nested more than {_MAX_DEPTH} levels deep (a cycle?)")
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if isinstance(value, (bool, str)):
        return str(value) if isinstance(value, str) else bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if type(value) is dict or isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            item = type(v)
            if type(k) is str and (
                item is str or item is int or item is bool or v is None or (item is float and math.isfinite(v))
            ):
                out[k] = v  # (a plain key and value, as most are, without a call each)
                continue
            key = _key(k)
            try:
                out[key] = _convert(v, depth + 1)
            except _Unconvertible as exc:
                exc.steps.append(f"[{k!r}]")
                raise
        return out
    if isinstance(value, (set, frozenset)):
        try:
            value = sorted(value)
        except TypeError:
            value = list(value)
    if isinstance(value, (list, tuple)):
        items = []
        for i, v in enumerate(value):
            try:
                items.append(_convert(v, depth + 1))
            except _Unconvertible as exc:
                exc.steps.append(f"[{i}]")
                raise
        return items
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("latin-1")
    enum_value = getattr(type(value), "__members__", None) is not None and hasattr(value, "value")
    if enum_value:
        return _convert(value.value, depth + 1)
    # numpy arrays and scalars (and anything that behaves like them)
    for method in ("tolist", "item"):
        convert = getattr(value, method, None)
        if callable(convert):
            try:
                plain = convert()
            except (TypeError, ValueError):
                continue
            if plain is not value:
                return _convert(plain, depth + 1)
    if isinstance(value, complex):
        raise _Unconvertible(f"to_jsonable: {{path}} is a complex number ({value!r}), which JSON cannot hold")
    raise _Unconvertible(
        f"to_jsonable: {{path}} is a {type(value).__module__}.{type(value).__qualname__}, "
        "which has no JSON form; use numbers, strings, lists, dicts or numpy values"
    )


def _key(key: Any) -> str:
    if isinstance(key, str):
        return str(key)
    try:
        plain = _convert(key, 0)
    except _Unconvertible as exc:
        exc.steps.append(f" key {key!r}")
        raise
    if isinstance(plain, (dict, list)):
        return str(key)
    return "null" if plain is None else str(plain).lower() if isinstance(plain, bool) else str(plain)
