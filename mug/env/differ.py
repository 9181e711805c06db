"""``RenderDiffer``: turns full render states into per-connection deltas.

Each connection (participant, peer, widget) gets its own differ. Objects with
an id are sent when they are new or changed since the previous diff and are
otherwise assumed to still be on screen; ids that disappear are listed in
``"removed"``. Objects without an id are always sent. Pure Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["RenderDiffer"]


def _copy(value: Any) -> Any:
    """Deep-copy the containers of an object dict so later in-place edits are detected."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_copy(v) for v in value]
    return value


def _same(old: Any, new: Any) -> bool:
    """Equality that treats lists and tuples alike (points may arrive either way)."""
    if type(new) is dict or isinstance(new, Mapping):
        return (type(old) is dict or isinstance(old, Mapping)) and old.keys() == new.keys() and all(
            _same(old[k], new[k]) for k in new
        )
    if isinstance(new, (list, tuple)):
        return isinstance(old, (list, tuple)) and len(old) == len(new) and all(
            _same(a, b) for a, b in zip(old, new, strict=True)
        )
    return bool(old == new)


class RenderDiffer:
    """Remembers what one connection has been sent and computes the next delta.

    ``diff(full_state)`` returns ``{"objects": [...], "removed": [...]}`` where
    ``objects`` holds every id'd object that is new or changed (sent whole, not
    as a patch) plus every object without an id, in the order of ``full_state``,
    and ``removed`` holds the ids sent before that are absent now. Call
    :meth:`reset` when the connection (re)joins so its next diff is a full frame.
    """

    def __init__(self) -> None:
        self._sent: dict[str, dict[str, Any]] = {}

    def reset(self) -> None:
        """Forget everything sent: the next :meth:`diff` returns the full frame."""
        self._sent = {}

    @property
    def known_ids(self) -> frozenset[str]:
        """Ids the connection currently has on screen (as far as this differ knows)."""
        return frozenset(self._sent)

    def diff(self, full_state: Mapping[str, Any]) -> dict[str, Any]:
        """Return the delta between the previous state and ``full_state`` and remember it."""
        objects: list[Any] = []
        current: dict[str, dict[str, Any]] = {}
        for obj in full_state.get("objects", []):
            object_id = obj.get("id") if (type(obj) is dict or isinstance(obj, Mapping)) else None
            if object_id is None:
                objects.append(obj)
                continue
            previous = self._sent.get(object_id)
            # dict == is the fast path; _same also equates tuples with lists
            if previous is None or not (previous == obj or _same(previous, obj)):
                objects.append(obj)
                current[object_id] = _copy(obj)
            else:
                current[object_id] = previous
        removed = [object_id for object_id in self._sent if object_id not in current]
        self._sent = current
        return {"objects": objects, "removed": removed}
