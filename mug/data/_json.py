"""Strict JSON encoding for everything the store writes.

Payloads are stored as compact JSON text. Two rules on top of :func:`json.dumps`:

* non-finite floats (``nan``, ``inf``, ``-inf``) become ``null`` -- JSON has no
  spelling for them and SQLite/pandas readers would choke on ``NaN`` tokens;
* anything that is not plain JSON data (``dict`` with ``str`` keys, ``list``,
  ``tuple``, ``str``, ``int``, ``float``, ``bool``, ``None``) is refused with a
  :class:`RecordError` that names where in the payload the value sits. The
  server converts numpy values before calling the store; this is the safety net
  that makes a forgotten conversion loud instead of silently stringified.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["RecordError", "dumps", "dumps_plain", "loads"]


class RecordError(ValueError, TypeError):
    """A record or payload the store refuses (bad field, bad type, not JSON-able).

    Subclasses both :class:`ValueError` and :class:`TypeError` so callers may
    catch either.
    """


def _reject(value: Any) -> Any:
    raise TypeError(type(value).__name__)


def _sanitize(value: Any, where: str) -> Any:
    """Return a copy of ``value`` with non-finite floats replaced by ``None``.

    Raises :class:`RecordError` naming ``where`` (a dotted path) for anything
    that is not plain JSON data.
    """
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise RecordError(
                    f"{where}: dict key {key!r} is a {type(key).__name__}; JSON object keys must be str"
                )
            out[key] = _sanitize(item, f"{where}.{key}")
        return out
    if isinstance(value, (list, tuple)):
        return [_sanitize(item, f"{where}[{i}]") for i, item in enumerate(value)]
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    raise RecordError(
        f"{where}: value of type {kind} is not JSON-serialisable; convert it to plain "
        "Python (list, float, int, str, bool, dict, None) before recording it"
    )


# Made once: json.dumps with options builds a new encoder on every call.
_ENCODE = json.JSONEncoder(allow_nan=False, separators=(",", ":"), default=_reject).encode


def dumps_plain(value: Any) -> str:
    """Encode data known to be plain JSON (str keys, finite floats), such as `to_jsonable` output.

    Skips the checks of :func:`dumps`; a value that is not plain still raises (TypeError/ValueError).
    """
    return _ENCODE(value)


def dumps(value: Any, where: str = "value") -> str:
    """Encode ``value`` as compact JSON text (non-finite floats become ``null``).

    ``where`` names the value in error messages, e.g. ``"steps[3].infos"``.
    """
    try:
        # Fast path: plain data without NaN/inf and with str keys only.
        text = _ENCODE(value)
    except (TypeError, ValueError):
        text = None
    if text is not None and not _has_non_str_key(value):
        return text
    return json.dumps(_sanitize(value, where), allow_nan=False, separators=(",", ":"))


def _has_non_str_key(value: Any) -> bool:
    # json.dumps silently turns int/float/bool/None keys into strings; we refuse them
    # instead, so a payload reads back exactly as it was written.
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return True
            if isinstance(item, _CONTAINERS) and _has_non_str_key(item):
                return True
    elif isinstance(value, (list, tuple)):
        for item in value:
            if isinstance(item, _CONTAINERS) and _has_non_str_key(item):
                return True
    return False


_CONTAINERS = (dict, list, tuple)


def loads(text: str | None) -> Any:
    """Decode JSON text written by :func:`dumps` (``None`` stays ``None``)."""
    if text is None:
        return None
    return json.loads(text)
