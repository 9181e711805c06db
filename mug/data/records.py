"""Record schemas: validation of the rows the store accepts.

Each ``*_params`` function checks one record and returns the tuple of SQL
parameters the store inserts. Problems raise :class:`RecordError` with a
message that starts with ``where`` (for example ``"steps[3]"`` or
``"client record seq=17"``) so the caller can tell which record was refused.

Records are strict: missing required fields and unknown fields are both
errors, so a typo on the sending side is loud rather than silently lost.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ._json import RecordError, dumps, dumps_plain

__all__ = [
    "CLIENT_RECORD_KINDS",
    "EPISODE_FIELDS",
    "STEP_FIELDS",
    "episode_params",
    "event_params",
    "form_params",
    "jsonable_step_params",
    "step_params",
]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1

#: Step row fields: name -> required?
STEP_FIELDS: dict[str, bool] = {
    "game_id": True,
    "episode": True,
    "step": True,
    "participant_id": False,
    "scene_id": True,
    "t": True,
    "actions": True,
    "rewards": True,
    "terminated": True,
    "truncated": True,
    "infos": False,
    "observations": False,
    # Peer-to-peer games: each human agent's tab focus at the frame (agent -> bool).
    "focus": False,
}

#: Episode row fields: name -> required?
EPISODE_FIELDS: dict[str, bool] = {
    "game_id": True,
    "episode": True,
    "scene_id": True,
    "participant_ids": True,
    "seed": False,
    "started_at": True,
    "ended_at": True,
    "num_steps": True,
    "returns": True,
    "terminated": True,
    "truncated": True,
    "outcome": True,
}

#: Client-record payload fields for kinds that map onto method arguments.
EVENT_FIELDS: dict[str, bool] = {
    "participant_id": False,
    "scene_id": False,
    "kind": True,
    "data": False,
    "t": True,
}
FORM_FIELDS: dict[str, bool] = {"participant_id": False, "scene_id": True, "answers": True, "t": True}

CLIENT_RECORD_KINDS: tuple[str, ...] = ("step", "episode", "event", "form")


# -- field checks -------------------------------------------------------------------------------


def check_fields(row: Any, fields: Mapping[str, bool], where: str) -> None:
    """Check ``row`` is a dict with every required field and no unknown one."""
    if not isinstance(row, Mapping):
        raise RecordError(f"{where}: expected a dict, got {type(row).__name__}")
    missing = [name for name, required in fields.items() if required and name not in row]
    if missing:
        raise RecordError(f"{where}: missing field(s) {', '.join(missing)}")
    unknown = [str(name) for name in row if name not in fields]
    if unknown:
        raise RecordError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}; allowed: {', '.join(fields)}")


def text(value: Any, where: str, *, allow_none: bool = False, allow_empty: bool = False) -> str | None:
    """A ``str`` (or ``None`` when allowed); identifiers must not be empty unless ``allow_empty``."""
    if value is None and allow_none:
        return None
    if not isinstance(value, str) or (not value and not allow_empty):
        expected = "a str" if allow_empty else "a non-empty str"
        if allow_none:
            expected += " or None"
        raise RecordError(f"{where}: expected {expected}, got {value!r}")
    return value


def integer(value: Any, where: str, *, allow_none: bool = False, minimum: int | None = None) -> int | None:
    """A 64-bit ``int`` (``bool`` refused), optionally ``>= minimum``."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError(f"{where}: expected an int, got {type(value).__name__} {value!r}")
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise RecordError(f"{where}: {value} does not fit in a signed 64-bit integer")
    if minimum is not None and value < minimum:
        raise RecordError(f"{where}: expected an int >= {minimum}, got {value}")
    return value


def timestamp(value: Any, where: str) -> float:
    """Finite unix seconds (``int`` or ``float``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RecordError(f"{where}: expected finite unix seconds (float), got {value!r}")
    return float(value)


def flag(value: Any, where: str) -> int:
    """A ``bool``, returned as 0/1."""
    if not isinstance(value, bool):
        raise RecordError(f"{where}: expected a bool, got {type(value).__name__} {value!r}")
    return int(value)


def mapping(value: Any, where: str) -> dict[str, Any]:
    """A ``dict`` with ``str`` keys."""
    if not isinstance(value, dict):
        raise RecordError(f"{where}: expected a dict, got {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise RecordError(f"{where}: key {key!r} is a {type(key).__name__}; keys must be str")
    return value


def number_map(value: Any, where: str) -> dict[str, Any]:
    """A ``dict`` of ``str`` -> ``int``/``float``/``None`` (rewards, returns)."""
    mapping(value, where)
    for key, item in value.items():
        if item is not None and (isinstance(item, bool) or not isinstance(item, (int, float))):
            raise RecordError(f"{where}.{key}: expected a number, got {type(item).__name__} {item!r}")
    return value


# -- records ------------------------------------------------------------------------------------


def step_params(row: Any, where: str) -> tuple[Any, ...]:
    """Validate a step row; return parameters in ``steps`` column order."""
    check_fields(row, STEP_FIELDS, where)
    observations = row.get("observations")
    if observations is not None:
        observations = dumps(mapping(observations, f"{where}.observations"), f"{where}.observations")
    return (
        text(row["game_id"], f"{where}.game_id"),
        integer(row["episode"], f"{where}.episode", minimum=0),
        integer(row["step"], f"{where}.step", minimum=0),
        text(row.get("participant_id"), f"{where}.participant_id", allow_none=True),
        text(row["scene_id"], f"{where}.scene_id", allow_empty=True),
        timestamp(row["t"], f"{where}.t"),
        dumps(mapping(row["actions"], f"{where}.actions"), f"{where}.actions"),
        dumps(number_map(row["rewards"], f"{where}.rewards"), f"{where}.rewards"),
        flag(row["terminated"], f"{where}.terminated"),
        flag(row["truncated"], f"{where}.truncated"),
        dumps(_infos(row.get("infos", {}), f"{where}.infos"), f"{where}.infos"),
        observations,
        _focus(row.get("focus"), f"{where}.focus"),
    )


def jsonable_step_params(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """`step_params` for a complete step row built by the server from checked parts.

    Its identifiers, counters, time and flags are the game's own, and its payloads came out of
    `mug.env.to_jsonable` (plain JSON by construction), so they are only encoded: a game records
    a row every tick, and the full checks cost more than the rest of recording it.
    """
    observations = row["observations"]
    focus = row.get("focus")
    return (
        row["game_id"],
        row["episode"],
        row["step"],
        row["participant_id"],
        row["scene_id"],
        row["t"],
        dumps_plain(row["actions"]),
        dumps_plain(row["rewards"]),
        int(row["terminated"]),
        int(row["truncated"]),
        dumps_plain(row["infos"]),
        None if observations is None else dumps_plain(observations),
        None if focus is None else dumps_plain(focus),
    )


def _focus(value: Any, where: str) -> str | None:
    """A step's focus flags ``{agent: bool}`` as JSON text (None when the step has none)."""
    if value is None:
        return None
    mapping(value, where)
    for agent, focused in value.items():
        if not isinstance(focused, bool):
            raise RecordError(f"{where}.{agent}: expected a bool (the agent's tab had focus), got {focused!r}")
    return dumps(value, where)


def _infos(value: Any, where: str) -> dict[str, Any]:
    mapping(value, where)
    for agent, info in value.items():
        if not isinstance(info, dict):
            raise RecordError(f"{where}.{agent}: expected a dict of info values per agent, got {type(info).__name__}")
    return value


def episode_params(row: Any, where: str) -> tuple[Any, ...]:
    """Validate an episode row; return parameters in ``episodes`` column order."""
    check_fields(row, EPISODE_FIELDS, where)
    participant_ids = row["participant_ids"]
    if not isinstance(participant_ids, (list, tuple)) or not all(isinstance(p, str) and p for p in participant_ids):
        raise RecordError(f"{where}.participant_ids: expected a list of str, got {participant_ids!r}")
    return (
        text(row["game_id"], f"{where}.game_id"),
        integer(row["episode"], f"{where}.episode", minimum=0),
        text(row["scene_id"], f"{where}.scene_id", allow_empty=True),
        dumps(list(participant_ids), f"{where}.participant_ids"),
        integer(row.get("seed"), f"{where}.seed", allow_none=True),
        timestamp(row["started_at"], f"{where}.started_at"),
        timestamp(row["ended_at"], f"{where}.ended_at"),
        integer(row["num_steps"], f"{where}.num_steps", minimum=0),
        dumps(number_map(row["returns"], f"{where}.returns"), f"{where}.returns"),
        flag(row["terminated"], f"{where}.terminated"),
        flag(row["truncated"], f"{where}.truncated"),
        text(row["outcome"], f"{where}.outcome", allow_empty=True),
    )


def event_params(participant_id: Any, scene_id: Any, kind: Any, data: Any, t: Any, where: str) -> tuple[Any, ...]:
    """Validate an event; return parameters in ``events`` column order (without the id)."""
    return (
        text(participant_id, f"{where}.participant_id", allow_none=True),
        text(scene_id, f"{where}.scene_id", allow_none=True, allow_empty=True),
        text(kind, f"{where}.kind"),
        dumps(mapping(data, f"{where}.data"), f"{where}.data"),
        timestamp(t, f"{where}.t"),
    )


def form_params(participant_id: Any, scene_id: Any, answers: Any, t: Any, where: str) -> tuple[Any, ...]:
    """Validate a form submission; return ``(participant_id, scene_id, submitted_at, answers, submitted_at)``.

    (The time twice: the upsert's ``first_submitted_at`` of a new row; positional ``?`` marks are
    what both SQLite and PostgreSQL's driver take.)
    """
    submitted_at = timestamp(t, f"{where}.t")
    return (
        text(participant_id, f"{where}.participant_id"),
        text(scene_id, f"{where}.scene_id", allow_empty=True),
        submitted_at,
        dumps(mapping(answers, f"{where}.answers"), f"{where}.answers"),
        submitted_at,
    )
