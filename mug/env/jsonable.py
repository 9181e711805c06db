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
    return _convert(value, "value", 0)


def _convert(value: Any, path: str, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        raise TypeError(f"to_jsonable: {path} is nested more than {_MAX_DEPTH} levels deep (a cycle?)")
    if value is None or isinstance(value, (bool, str)):
        return str(value) if isinstance(value, str) and type(value) is not str else value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {_key(k, path): _convert(v, f"{path}[{k!r}]", depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_convert(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        try:
            items = sorted(value)
        except TypeError:
            items = list(value)
        return [_convert(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(items)]
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("latin-1")
    enum_value = getattr(type(value), "__members__", None) is not None and hasattr(value, "value")
    if enum_value:
        return _convert(value.value, path, depth + 1)
    # numpy arrays and scalars (and anything that behaves like them)
    for method in ("tolist", "item"):
        convert = getattr(value, method, None)
        if callable(convert):
            try:
                plain = convert()
            except (TypeError, ValueError):
                continue
            if plain is not value:
                return _convert(plain, path, depth + 1)
    if isinstance(value, complex):
        raise TypeError(f"to_jsonable: {path} is a complex number ({value!r}), which JSON cannot hold")
    raise TypeError(
        f"to_jsonable: {path} is a {type(value).__module__}.{type(value).__qualname__}, "
        "which has no JSON form; use numbers, strings, lists, dicts or numpy values"
    )


def _key(key: Any, path: str) -> str:
    if isinstance(key, str):
        return str(key)
    plain = _convert(key, f"{path} key {key!r}", 0)
    if isinstance(plain, (dict, list)):
        return str(key)
    return "null" if plain is None else str(plain).lower() if isinstance(plain, bool) else str(plain)
