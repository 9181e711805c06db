"""The DataFrames of an experiment's small tables, built from the rows of the results queries.

Participants, scene visits, forms, games, episodes, events and peer-to-peer statistics: one row
per record, JSON payloads flattened into ``<prefix>.<key>`` columns, every fixed column with its
documented dtype (docs/data.md) even when the table is empty. These tables hold one row per
person, visit or episode, so they are small next to ``steps`` and are built the plain way; the
step tables, which reach millions of rows, have their own fast path in :mod:`mug.data.step_frames`.
The helpers here (:class:`Columns`, :func:`frame`, ...) are shared with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd

from ._json import loads

__all__ = [
    "POLICY_PREFIX",
    "episodes_frame",
    "events_frame",
    "forms_frame",
    "games_frame",
    "p2p_frame",
    "participants_frame",
    "scene_visits_frame",
]

#: How games record an agent played by a policy rather than a participant (``games.players.<agent>``).
POLICY_PREFIX = "policy:"

# Fixed columns (always present, even when empty) and their dtypes.
_EPISODE_COLUMNS = {
    "game_id": "str",
    "episode": "int64",
    "scene_id": "str",
    "participant_ids": "object",
    "seed": "Int64",
    "started_at": "float64",
    "ended_at": "float64",
    "duration_s": "float64",
    "num_steps": "int64",
    "terminated": "bool",
    "truncated": "bool",
    "outcome": "str",
    "parity": "str",
}
_FORM_COLUMNS = {"participant_id": "str", "scene_id": "str", "submitted_at": "float64"}
_PARTICIPANT_COLUMNS = {
    "participant_id": "str",
    "status": "str",
    "completion_code": "str",
    "scene_index": "int64",
    "scene_id": "str",
    "created_at": "float64",
    "updated_at": "float64",
}
_EVENT_COLUMNS = {
    "event_id": "int64",
    "participant_id": "str",
    "scene_id": "str",
    "kind": "str",
    "t": "float64",
}
_VISIT_COLUMNS = {
    "participant_id": "str",
    "scene_index": "int64",
    "scene_id": "str",
    "scene_type": "str",
    "entered_at": "float64",
    "exited_at": "float64",
    "duration_s": "float64",
    "reloads": "int64",
}
_GAME_COLUMNS = {
    "game_id": "str",
    "scene_id": "str",
    "mode": "str",
    "seed": "Int64",
    "started_at": "float64",
    "ended_at": "float64",
    "duration_s": "float64",
    "outcome": "str",
}


class Columns:
    """Sparse, insertion-ordered columns: ``put(column, row, value)``, then ``dense(n)``."""

    def __init__(self) -> None:
        self._cols: dict[str, dict[int, Any]] = {}

    def put(self, column: str, row: int, value: Any) -> None:
        self._cols.setdefault(column, {})[row] = value

    def names(self) -> list[str]:
        return list(self._cols)

    def dense(self, n: int, column: str) -> list[Any]:
        cells = self._cols[column]
        return [cells.get(i) for i in range(n)]


def frame(fixed: dict[str, str], data: dict[str, list[Any]], extra: Iterable[tuple[str, Any]] = ()) -> pd.DataFrame:
    """Build a DataFrame: fixed columns with their dtypes, then the extra (name, values) columns."""
    columns: dict[str, Any] = {}
    for name, dtype in fixed.items():
        values = data[name]
        if dtype.startswith("datetime64"):
            columns[name] = utc_datetimes(values)
        else:
            columns[name] = pd.Series(values, dtype=dtype)
    for name, values in extra:
        columns[name] = values if isinstance(values, pd.Series) else pd.Series(values)
    return pd.DataFrame(columns)


def utc_datetimes(seconds: Any) -> pd.Series:
    """Seconds since the epoch as UTC timestamps, rounded to the microsecond (what ``time`` columns hold)."""
    micros = (pd.Series(seconds, dtype="float64") * 1e6).round().astype("int64")
    return pd.to_datetime(micros, unit="us", utc=True).astype("datetime64[us, UTC]")


def flatten(prefix: str, value: dict[str, Any], out: Callable[[str, Any], None]) -> None:
    """Flatten nested dicts into dotted column names (lists stay as values)."""
    for key, item in value.items():
        name = f"{prefix}.{key}"
        if isinstance(item, dict):
            flatten(name, item, out)
        else:
            out(name, item)


def columns_of(rows: list[tuple[Any, ...]], names: Iterable[str]) -> dict[str, list[Any]]:
    """Rows of a query as named columns (pandas builds a frame from columns far faster than from rows)."""
    names = list(names)
    if not rows:
        return {name: [] for name in names}
    return {name: list(values) for name, values in zip(names, zip(*rows, strict=True), strict=True)}


def durations(starts: list[float], ends: list[float | None]) -> list[float | None]:
    """``end - start`` of each pair; None while the thing is still going on (no end yet)."""
    return [None if end is None else end - start for start, end in zip(starts, ends, strict=True)]


def agent_order(dicts: Iterable[dict[str, Any]]) -> list[str]:
    """Every key of ``dicts`` in first-seen order (through their distinct key tuples: rows mostly repeat them)."""
    order: dict[str, None] = {}
    for keys in dict.fromkeys(map(tuple, dicts)):
        for key in keys:
            order.setdefault(key, None)
    return list(order)


def empty_shape(agents: list[list[str]]) -> list[str] | None:
    """None for the single-agent shape; else every agent id of the experiment's game scenes."""
    if all(len(ids) == 1 for ids in agents):
        return None
    return agent_order({agent: None for agent in ids} for ids in agents)


def episodes_frame(rows: list[tuple[Any, ...]], *, agents: list[list[str]] | None = None) -> pd.DataFrame:
    """The ``episodes`` DataFrame from rows of the ``episodes`` query.

    ``agents`` shapes a table without rows, as for :func:`steps_frame`.
    """
    names = (
        "game_id",
        "episode",
        "scene_id",
        "participant_ids",
        "seed",
        "started_at",
        "ended_at",
        "num_steps",
        "terminated",
        "truncated",
        "outcome",
        "parity",
        "returns",
    )
    data = columns_of(rows, names)
    data["participant_ids"] = [loads(p) for p in data["participant_ids"]]
    data["duration_s"] = durations(data["started_at"], data["ended_at"])
    returns = [loads(r) for r in data["returns"]]
    extra: list[tuple[str, Any]] = []
    if not returns:
        several = empty_shape(agents or [])
        if several is None:
            extra = [("agent_id", pd.Series([], dtype="str")), ("return", pd.Series([], dtype="float64"))]
        else:
            extra = [(f"return.{agent}", pd.Series([], dtype="float64")) for agent in several]
    elif all(len(r) == 1 for r in returns):
        agent_ids = [next(iter(r)) for r in returns]
        extra.append(("agent_id", pd.Series(agent_ids, dtype="str")))
        own_returns = [r[k] for r, k in zip(returns, agent_ids, strict=True)]
        extra.append(("return", pd.Series(own_returns, dtype="float64")))
    else:
        for agent in agent_order(returns):
            extra.append((f"return.{agent}", pd.Series([r.get(agent) for r in returns], dtype="float64")))
    return frame(_EPISODE_COLUMNS, data, extra)


def forms_frame(rows: list[tuple[Any, ...]], *, fields: dict[str, str] | None = None) -> pd.DataFrame:
    """The ``forms`` DataFrame: one row per form, one column per answer field.

    A table without rows has a column for each of ``fields`` (see :func:`form_fields`).
    """
    data = columns_of(rows, ("participant_id", "scene_id", "submitted_at", "answers"))
    if not rows:
        empty = [
            (f"answer.{name}" if name in _FORM_COLUMNS else name, pd.Series([], dtype=dtype))
            for name, dtype in (fields or {}).items()
        ]
        return frame(_FORM_COLUMNS, data, empty)
    answers = Columns()
    for i, text in enumerate(data["answers"]):
        for key, value in loads(text).items():
            answers.put(f"answer.{key}" if key in _FORM_COLUMNS else key, i, value)
    n = len(rows)
    return frame(_FORM_COLUMNS, data, [(name, _answer_column(answers.dense(n, name))) for name in answers.names()])


def _answer_column(values: list[Any]) -> Any:
    """An answer column; whole numbers (e.g. rating scales) stay ints where other forms lack the field."""
    given = [v for v in values if v is not None]
    if given and all(isinstance(v, int) and not isinstance(v, bool) for v in given):
        return pd.Series(values, dtype="Int64")  # (a plain Series would turn them to floats beside NaN)
    return values


def _one_level(prefix: str, texts: list[str], n: int) -> list[tuple[str, list[Any]]]:
    cols = Columns()
    for i, text in enumerate(texts):
        for key, value in loads(text).items():
            cols.put(f"{prefix}.{key}", i, value)
    return [(name, cols.dense(n, name)) for name in cols.names()]


def participants_frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """The ``participants`` DataFrame (``query.<key>`` and ``data.<key>`` columns)."""
    data = columns_of(rows, (*_PARTICIPANT_COLUMNS, "query", "data"))
    n = len(rows)
    extra = [*_one_level("query", data["query"], n), *_one_level("data", data["data"], n)]
    return frame(_PARTICIPANT_COLUMNS, data, extra)


def events_frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """The ``events`` DataFrame (``data.<key>`` columns, one level)."""
    data = columns_of(rows, (*_EVENT_COLUMNS, "data"))
    return frame(_EVENT_COLUMNS, data, _one_level("data", data["data"], len(rows)))


def scene_visits_frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """The ``scene_visits`` DataFrame (``duration_s`` is NaN while a visit is open)."""
    names = ("participant_id", "scene_index", "scene_id", "scene_type", "entered_at", "exited_at", "reloads")
    data = columns_of(rows, names)
    data["duration_s"] = durations(data["entered_at"], data["exited_at"])
    return frame(_VISIT_COLUMNS, data)


def games_frame(rows: list[tuple[Any, ...]], *, agents: list[list[str]] | None = None) -> pd.DataFrame:
    """The ``games`` DataFrame (``players.<agent_id>`` columns).

    A table without rows has a ``players.<agent_id>`` column for each agent of the game scenes in
    ``agents`` (see :func:`scene_agents`).
    """
    data = columns_of(rows, (*[c for c in _GAME_COLUMNS if c != "duration_s"], "players"))
    data["duration_s"] = durations(data["started_at"], data["ended_at"])
    if rows:
        return frame(_GAME_COLUMNS, data, _one_level("players", data["players"], len(rows)))
    every = agent_order({agent: None for agent in ids} for ids in agents or [])
    return frame(_GAME_COLUMNS, data, [(f"players.{agent}", pd.Series([], dtype="str")) for agent in every])


_P2P_COLUMNS = {
    "game_id": "str",
    "participant_id": "str",
    "scene_id": "str",
    "t": "float64",
    "transport": "object",
    "rtt_ms": "object",
    "frames": "Int64",
    "rollbacks": "Int64",
    "max_rollback_depth": "Int64",
    "predicted_frames": "Int64",
    "predicted_share": "float64",
    "desyncs": "Int64",
    "replayed_frames": "Int64",
}
_P2P_COUNTS = ("frames", "rollbacks", "max_rollback_depth", "predicted_frames", "desyncs", "replayed_frames")


def p2p_frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """One row per peer of each peer-to-peer game: how its netcode and transport fared.

    From the ``p2p_stats`` events (rows of the ``p2p`` query): a page records one at the end of its
    game; should a peer have recorded several for one game (a reload), its last one counts.
    """
    latest: dict[tuple[Any, Any], tuple[Any, Any, Any, dict[str, Any]]] = {}
    for participant_id, scene_id, t, text in rows:
        data = loads(text)
        data = data if isinstance(data, dict) else {}
        key = (data.get("game_id"), participant_id)
        latest.pop(key, None)  # (a later one goes to the end: rows stay in the order they were recorded)
        latest[key] = (participant_id, scene_id, t, data)
    out: dict[str, list[Any]] = {name: [] for name in _P2P_COLUMNS}
    more = Columns()
    for i, (participant_id, scene_id, t, data) in enumerate(latest.values()):
        game_id = data.get("game_id")
        out["game_id"].append(game_id if isinstance(game_id, str) else None)
        out["participant_id"].append(participant_id)
        out["scene_id"].append(scene_id)
        out["t"].append(t)
        for name in ("transport", "rtt_ms"):
            out[name].append(data.get(name) if isinstance(data.get(name), dict) else None)
        for name in _P2P_COUNTS:
            value = data.get(name)
            out[name].append(value if isinstance(value, int) and not isinstance(value, bool) else None)
        frames, predicted = out["frames"][-1], out["predicted_frames"][-1]
        out["predicted_share"].append(predicted / frames if frames and predicted is not None else None)
        for key, value in data.items():
            if key not in _P2P_COLUMNS and key != "page_t":
                more.put(key, i, value)
    n = len(latest)
    fixed = {name: pd.Series(values, dtype=_P2P_COLUMNS[name]) for name, values in out.items()}
    return pd.DataFrame({**fixed, **{name: more.dense(n, name) for name in more.names()}})
