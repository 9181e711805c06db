"""The render-state schema: what a frame sent to the browser renderer looks like.

A render state is ``{"objects": [...], "removed": [...]}``. Each object is a dict
with ``"type"``, ``"id"``, ``"depth"``, ``"alpha"`` and the fields of its type
(see :data:`OBJECT_FIELDS`). Coordinates are normalised to the game area
(0–1, x right, y down). This module is pure Python (stdlib only) because it is
also imported inside Pyodide.

The same field checks are used by :class:`mug.env.Surface` (which raises
``TypeError``/``ValueError`` naming the method and argument) and by
:func:`validate_render_state` (which raises :class:`RenderStateError` naming the
object and field).
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mug.env.errors import RenderStateError

__all__ = [
    "ALIGNMENTS",
    "COMMON_FIELDS",
    "OBJECT_FIELDS",
    "OBJECT_TYPES",
    "complete_object",
    "validate_render_state",
]

#: Text alignments accepted by ``text`` objects.
ALIGNMENTS: tuple[str, ...] = ("left", "center", "right")

_COLOR_RE = re.compile(r"^#(?:[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")
_COLOR_HELP = "a CSS hex color '#rrggbb' or '#rrggbbaa'"


def _show(value: Any) -> str:
    """A short printable form of ``value`` for error messages."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


# --- field checkers --------------------------------------------------------
# Each checker takes (value, strict) and returns the normalised value, or raises
# TypeError/ValueError whose message completes the sentence "argument 'x' ...".
# strict=True (validating a finished render state) accepts only JSON-ready
# Python types; strict=False (Surface arguments) also accepts numpy scalars and
# tuples and converts them.


def _real(value: Any, strict: bool) -> float:
    kind = type(value)
    if kind is float:  # the common case first: the ABC check below costs more than the rest
        if math.isfinite(value):
            return value
        raise ValueError(f"must be a finite number, got {_show(value)}")
    if kind is int:
        return float(value)
    ok = isinstance(value, (int, float)) if strict else isinstance(value, numbers.Real)
    if isinstance(value, bool) or not ok:
        raise TypeError(f"must be a finite number, got {_show(value)}")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"must be a finite number, got {_show(value)}")
    return result


_number = _real  # any finite number (its own name where the schema lists fields)


def _non_negative(value: Any, strict: bool) -> float:
    if type(value) is float and 0.0 <= value < math.inf:  # the common case, without a call
        return value
    result = _real(value, strict)
    if result < 0:
        raise ValueError(f"must be a finite number >= 0, got {_show(value)}")
    return result


def _positive(value: Any, strict: bool) -> float:
    result = _real(value, strict)
    if result <= 0:
        raise ValueError(f"must be a finite number > 0, got {_show(value)}")
    return result


def _alpha(value: Any, strict: bool) -> float:
    result = _real(value, strict)
    if not 0.0 <= result <= 1.0:
        raise ValueError(f"must be a number from 0 to 1, got {_show(value)}")
    return result


def _depth(value: Any, strict: bool) -> int:
    if type(value) is int:
        return value
    ok = isinstance(value, int) if strict else isinstance(value, numbers.Integral)
    if isinstance(value, bool) or not ok:
        raise TypeError(f"must be an int, got {_show(value)}")
    return int(value)


def _object_id(value: Any, strict: bool) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"must be a non-empty str or None, got {_show(value)}")
    if not value:
        raise ValueError("must be a non-empty str or None, got ''")
    return value


# Colours already checked, normalised: an env draws the same few every frame. Bounded, so an env
# that makes up a new colour each frame cannot grow it without end.
_KNOWN_COLORS: dict[str, str] = {}
_KNOWN_COLORS_MAX = 4096


def _checked_color(value: str) -> str | None:
    """`value` normalised if it is a valid colour, else None (remembered for next time)."""
    if not _COLOR_RE.match(value):
        return None
    normal = value.lower()
    if len(_KNOWN_COLORS) < _KNOWN_COLORS_MAX:
        _KNOWN_COLORS[value] = normal
    return normal


def _color(value: Any, strict: bool) -> str:
    if type(value) is str and value in _KNOWN_COLORS:
        return _KNOWN_COLORS[value]
    if not isinstance(value, str):
        raise TypeError(f"must be {_COLOR_HELP}, got {_show(value)}")
    normal = _checked_color(value)
    if normal is None:
        raise ValueError(f"must be {_COLOR_HELP}, got {_show(value)}")
    return normal


def _color_or_none(value: Any, strict: bool) -> str | None:
    if value is None:
        return None
    if type(value) is str and value in _KNOWN_COLORS:
        return _KNOWN_COLORS[value]
    if not isinstance(value, str):
        raise TypeError(f"must be {_COLOR_HELP} or None, got {_show(value)}")
    normal = _checked_color(value)
    if normal is None:
        raise ValueError(f"must be {_COLOR_HELP} or None, got {_show(value)}")
    return normal


def _points(minimum: int) -> Callable[[Any, bool], list[list[float]]]:
    def check(value: Any, strict: bool) -> list[list[float]]:
        need = f"a list of at least {minimum} (x, y) points"
        if not strict and hasattr(value, "tolist"):
            value = value.tolist()  # numpy array of shape (n, 2)
        ok = isinstance(value, (list, tuple)) or (
            not strict and isinstance(value, Sequence) and not isinstance(value, (str, bytes))
        )
        if not ok:
            raise TypeError(f"must be {need}, got {_show(value)}")
        if len(value) < minimum:
            raise ValueError(f"must be {need}, got {len(value)} point(s)")
        result = []
        for i, point in enumerate(value):
            ok = isinstance(point, (list, tuple)) or (
                not strict and isinstance(point, Sequence) and not isinstance(point, (str, bytes))
            )
            if not ok or len(point) != 2:
                raise TypeError(f"point {i} must be an (x, y) pair, got {_show(point)}")
            try:
                result.append([_real(point[0], strict), _real(point[1], strict)])
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"point {i}: coordinate {exc}") from None
        return result

    return check


def _text(value: Any, strict: bool) -> str:
    if not isinstance(value, str):
        raise TypeError(f"must be a str, got {_show(value)} (format numbers with str() or f-strings)")
    return value


def _name(value: Any, strict: bool) -> str:
    if not isinstance(value, str):
        raise TypeError(f"must be a non-empty str, got {_show(value)}")
    if not value:
        raise ValueError("must be a non-empty str, got ''")
    return value


def _align(value: Any, strict: bool) -> str:
    if not isinstance(value, str) or value not in ALIGNMENTS:
        raise ValueError(f"must be one of 'left', 'center', 'right', got {_show(value)}")
    return value


def _frame(value: Any, strict: bool) -> str | int | None:
    if value is None or isinstance(value, str):
        return value
    ok = isinstance(value, int) if strict else isinstance(value, numbers.Integral)
    if isinstance(value, bool) or not ok:
        raise TypeError(f"must be a str (frame name), an int (frame index) or None, got {_show(value)}")
    return int(value)


def _src(value: Any, strict: bool) -> str:
    if not isinstance(value, str):
        raise TypeError(f"must be a data URL str 'data:image/...', got {_show(value)}")
    if not value.startswith("data:image/"):
        raise ValueError(f"must be a data URL str starting with 'data:image/', got {_show(value)}")
    return value


Checker = Callable[[Any, bool], Any]

#: Fields every object has, with their checkers.
COMMON_FIELDS: dict[str, Checker] = {
    "id": _object_id,
    "depth": _depth,
    "alpha": _alpha,
}

_SHAPE_STYLE: dict[str, Checker] = {
    "fill": _color_or_none,
    "stroke": _color_or_none,
    "stroke_width": _non_negative,
}

#: Type-specific fields of each object type, with their checkers (order = documented order).
OBJECT_FIELDS: dict[str, dict[str, Checker]] = {
    "rect": {"x": _number, "y": _number, "w": _non_negative, "h": _non_negative,
             **_SHAPE_STYLE, "angle": _number},
    "circle": {"x": _number, "y": _number, "radius": _non_negative, **_SHAPE_STYLE},
    "ellipse": {"x": _number, "y": _number, "w": _non_negative, "h": _non_negative, **_SHAPE_STYLE},
    "arc": {"x": _number, "y": _number, "radius": _non_negative,
            "start_angle": _number, "end_angle": _number, **_SHAPE_STYLE},
    "line": {"points": _points(2), "color": _color, "width": _positive},
    "polygon": {"points": _points(3), **_SHAPE_STYLE},
    "text": {"x": _number, "y": _number, "text": _text, "size": _positive,
             "color": _color, "font": _name, "align": _align},
    "sprite": {"x": _number, "y": _number, "w": _non_negative, "h": _non_negative,
               "texture": _name, "frame": _frame, "angle": _number},
    "image": {"src": _src, "x": _number, "y": _number, "w": _non_negative, "h": _non_negative},
}

#: All object types, in documented order.
OBJECT_TYPES: tuple[str, ...] = tuple(OBJECT_FIELDS)
# Every field of each type, common ones first (what an object of that type must have).
_ALL_FIELDS: dict[str, dict[str, Checker]] = {kind: {**COMMON_FIELDS, **own} for kind, own in OBJECT_FIELDS.items()}

_COMMON_DEFAULTS: dict[str, Any] = {"id": None, "depth": 0, "alpha": 1.0}
_STYLE_DEFAULTS: dict[str, Any] = {"fill": "#000000", "stroke": None, "stroke_width": 0}

#: Defaults of the optional fields (the same defaults as the Surface methods).
#: Fields not listed here (geometry, text, texture, src) are required.
DEFAULTS: dict[str, dict[str, Any]] = {
    "rect": {**_STYLE_DEFAULTS, "angle": 0},
    "circle": dict(_STYLE_DEFAULTS),
    "ellipse": dict(_STYLE_DEFAULTS),
    "arc": dict(_STYLE_DEFAULTS),
    "line": {"color": "#000000", "width": 1},
    "polygon": dict(_STYLE_DEFAULTS),
    "text": {"size": 16, "color": "#000000", "font": "sans-serif", "align": "left"},
    "sprite": {"frame": None, "angle": 0},
    "image": {"x": 0, "y": 0, "w": 1, "h": 1},
}


def _describe(index: int, obj: Mapping[str, Any]) -> str:
    parts = []
    if isinstance(obj.get("id"), str):
        parts.append(f"id {obj['id']!r}")
    if isinstance(obj.get("type"), str):
        parts.append(f"type {obj['type']!r}")
    return f"objects[{index}]" + (f" ({', '.join(parts)})" if parts else "")


def complete_object(obj: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of a hand-written object dict with missing optional fields filled in.

    Used for envs that build render objects themselves instead of with
    :class:`~mug.env.Surface`: they may leave out ``id``, ``depth``, ``alpha`` and
    style fields, which get the same defaults the Surface methods use. Unknown
    types are returned unchanged (copied) so validation can report them.
    """
    result = dict(obj)
    kind = result.get("type")
    if isinstance(kind, str) and kind in DEFAULTS:
        for name, default in _COMMON_DEFAULTS.items():
            result.setdefault(name, default)
        for name, default in DEFAULTS[kind].items():
            result.setdefault(name, default)
    return result


def validate_render_state(state: Any) -> None:
    """Check that ``state`` is a valid render state; raise :class:`RenderStateError` if not.

    A valid state is a dict with exactly the keys ``"objects"`` (a list of object
    dicts, every field present, JSON-ready values) and ``"removed"`` (a list of
    ids). Ids must be unique within ``objects`` and must not also appear in
    ``removed``. The message of the error names the object index and id, the
    field and the problem.
    """
    if not isinstance(state, Mapping):
        raise RenderStateError(
            f"a render state must be a dict with 'objects' and 'removed', got {_show(state)}"
        )
    unknown = sorted(str(k) for k in state if k not in ("objects", "removed"))
    if unknown:
        raise RenderStateError(
            f"render state has unknown key(s) {unknown}; allowed keys are 'objects' and 'removed'"
        )
    for key in ("objects", "removed"):
        if key not in state:
            raise RenderStateError(f"render state is missing the key {key!r}")
        if not isinstance(state[key], (list, tuple)):
            raise RenderStateError(f"render state {key!r} must be a list, got {_show(state[key])}")

    seen: dict[str, int] = {}
    for index, obj in enumerate(state["objects"]):
        _validate_object(index, obj)
        object_id = obj["id"]
        if object_id is not None:
            if object_id in seen:
                raise RenderStateError(
                    f"{_describe(index, obj)}: duplicate id {object_id!r} "
                    f"(already used by objects[{seen[object_id]}]); ids must be unique in a frame"
                )
            seen[object_id] = index

    for index, removed_id in enumerate(state["removed"]):
        if not isinstance(removed_id, str) or not removed_id:
            raise RenderStateError(
                f"removed[{index}] must be a non-empty str id, got {_show(removed_id)}"
            )
        if removed_id in seen:
            raise RenderStateError(
                f"removed[{index}]: id {removed_id!r} is also drawn by objects[{seen[removed_id]}]"
            )


def _validate_object(index: int, obj: Any) -> None:
    if not isinstance(obj, Mapping):
        raise RenderStateError(f"objects[{index}] must be a dict, got {_show(obj)}")
    kind = obj.get("type")
    if "type" not in obj:
        where = _describe(index, obj)
        raise RenderStateError(f"{where}: missing field 'type'; allowed types: {', '.join(OBJECT_TYPES)}")
    if not isinstance(kind, str) or kind not in OBJECT_FIELDS:
        raise RenderStateError(
            f"{_describe(index, obj)}: unknown type {kind!r}; allowed types: {', '.join(OBJECT_TYPES)}"
        )
    fields = _ALL_FIELDS[kind]
    for name in obj:
        if name != "type" and name not in fields:
            raise RenderStateError(
                f"{_describe(index, obj)}: unknown field {name!r}; {kind} fields are: "
                f"type, {', '.join(fields)}"
            )
    for name, check in fields.items():
        if name not in obj:
            raise RenderStateError(f"{_describe(index, obj)}: missing field {name!r}")
        try:
            check(obj[name], True)
        except (TypeError, ValueError) as exc:
            raise RenderStateError(f"{_describe(index, obj)}: field {name!r} {exc}") from None
