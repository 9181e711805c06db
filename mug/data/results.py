"""Reading an experiment's data back as pandas DataFrames.

:func:`load_results` opens the database read-only (it works while the server
is writing), reads every table inside one read transaction (so the frames are
a consistent snapshot) and shapes them into the DataFrames documented in
``docs/data.md``. The database is a SQLite file in a data folder or a PostgreSQL
database named by its URL; the same queries read both, so the frames are equal.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from ._json import loads
from .backends import Database, is_database_url, parse_location, redact_url
from .schema import DB_FILENAME, METADATA_FILENAME, SCHEMA_VERSION

__all__ = ["RESULT_TABLES", "Results", "load_results", "open_results_database", "resolve_database"]

#: DataFrames of :class:`Results`, in the order they are reported and exported.
RESULT_TABLES: tuple[str, ...] = (
    "participants",
    "scene_visits",
    "forms",
    "games",
    "episodes",
    "steps",
    "player_steps",
    "events",
    "p2p",
)

#: How games record an agent played by a policy rather than a participant (``games.players.<agent>``).
POLICY_PREFIX = "policy:"

# Fixed columns (always present, even when empty) and their dtypes.
_STEP_COLUMNS = {
    "game_id": "str",
    "participant_id": "str",
    "scene_id": "str",
    "episode": "int64",
    "step": "int64",
    "t": "float64",
    "time": "datetime64[us, UTC]",
}
_STEP_FLAGS = {"terminated": "bool", "truncated": "bool"}
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


@dataclass(frozen=True, eq=False, repr=False)
class Results:
    """An experiment's data as DataFrames (see ``docs/data.md`` for every column).

    Attributes:
        path: the data folder the results were loaded from, or the PostgreSQL URL (password hidden).
        participants, scene_visits, forms, games, episodes, steps, player_steps, events, p2p: DataFrames.
        metadata: ``experiment.json`` (``config``, ``versions``, ``written_at``),
            or the latest copy stored in the database, or ``{}``.
        peer_steps: each peer's own step rows of peer-to-peer games, when loaded with
            ``peer_rows=True`` (else None).
    """

    path: Path | str
    participants: pd.DataFrame
    scene_visits: pd.DataFrame
    forms: pd.DataFrame
    games: pd.DataFrame
    episodes: pd.DataFrame
    steps: pd.DataFrame
    player_steps: pd.DataFrame
    events: pd.DataFrame
    p2p: pd.DataFrame
    metadata: dict[str, Any] = field(default_factory=dict)
    peer_steps: pd.DataFrame | None = None

    def tables(self) -> dict[str, pd.DataFrame]:
        """The DataFrames by name, in :data:`RESULT_TABLES` order (then ``peer_steps`` when loaded)."""
        tables = {name: getattr(self, name) for name in RESULT_TABLES}
        if self.peer_steps is not None:
            tables["peer_steps"] = self.peer_steps
        return tables

    def __repr__(self) -> str:
        lines = [f"<mug Results from {str(self.path)!r}>"]
        for name, frame in self.tables().items():
            lines.append(f"  {name:<13} {len(frame):>8} rows")
        lines.append(f"  {'metadata':<13} {'yes' if self.metadata else 'no':>8}")
        return "\n".join(lines)


# -- locating and opening -----------------------------------------------------------------------


def resolve_database(path: str | os.PathLike[str]) -> Path:
    """The database file for ``path``: an experiment's data folder, the ``.sqlite3`` file itself,
    or the data root above experiments' folders (``data_dir``) when it holds exactly one experiment.

    Raises ``FileNotFoundError`` with a message saying what was looked for (and, for a data root
    holding several experiments, which they are).
    """
    given = Path(path)
    if given.is_dir():
        db = given / DB_FILENAME
        if db.is_file():
            return db
        below = sorted(p for p in given.iterdir() if p.is_dir() and (p / DB_FILENAME).is_file())
        if len(below) == 1:  # the data root of a single experiment: data/<experiment_id>
            return below[0] / DB_FILENAME
        if below:
            names = ", ".join(repr(p.name) for p in below)
            raise FileNotFoundError(
                f"{given} holds the data of {len(below)} experiments ({names}), not one experiment's data: "
                f"pass one of their folders, e.g. {below[0]}"
            )
        raise FileNotFoundError(
            f"no MUG data in {given}: {DB_FILENAME} not found in that folder or in a folder inside it"
        )
    if given.is_file():
        return given
    raise FileNotFoundError(f"no MUG data at {given}: expected an experiment's data folder or its {DB_FILENAME} file")


def open_results_database(source: str | os.PathLike[str]) -> tuple[Database, Path | None]:
    """A read-only connection to an experiment's database, and its data folder (None on PostgreSQL).

    ``source``: a ``postgresql://`` URL, or anything :func:`resolve_database` takes (``sqlite:///path``
    too). Raises ``ValueError`` for a malformed URL, ``FileNotFoundError`` for a missing folder,
    ``ConnectionError`` for a PostgreSQL server that cannot be reached.
    """
    if is_database_url(source):
        where = parse_location(source, "results source")
        if isinstance(where, str):
            from .backends.postgres import PostgresDatabase

            return PostgresDatabase(where), None
        source = where
    from .backends.sqlite import SQLiteDatabase

    db = resolve_database(source)
    return SQLiteDatabase(db, readonly=True), db.parent


def load_results(
    path: str | os.PathLike[str],
    *,
    include_idle: bool = False,
    peer_rows: bool = False,
    simulated: bool | Literal["only"] = False,
) -> Results:
    """Load an experiment's data as DataFrames.

    Args:
        path: the experiment's data folder (the one holding ``mug.sqlite3``), the database file
            itself, or the data root above it (``data_dir``) when that holds one experiment only
            (with several, the ``FileNotFoundError`` lists them); or the ``postgresql://`` URL of
            the experiment's database (``Experiment(database=...)``).
        include_idle: also give participants who opened the study page and never did anything
            (never moved on, started a game or sent a record), with their scene visits and
            events. They are left out by default so that page loads (link checks, bots,
            crawlers) do not crowd the data.
        peer_rows: also give ``peer_steps``: in peer-to-peer games every peer records every step,
            and ``steps`` holds one (canonical) row per step; ``peer_steps`` holds each peer's own.
        simulated: simulated participants (``Experiment.simulate``, docs/simulate.md) and their
            data are left out by default; ``True`` gives them too (``participants["data.simulated"]``
            tells them apart), ``"only"`` gives only them and their games.

    The database is opened read-only, so this is safe while the server is
    still recording; the result is a consistent snapshot of one moment.
    """
    conn, folder = open_results_database(path)
    try:
        with conn.snapshot():  # one read transaction: every table from the same snapshot
            version = _check_schema(conn)
            idle = "" if include_idle or version < 2 else _ACTIVE_ONLY  # (version 1 kept no activity)
            # A database of an older version read before any server upgraded it lacks the P2P columns.
            columns = {"focus": "focus", "parity": "parity"} if version >= 3 else {"focus": "NULL", "parity": "NULL"}
            columns.update(_simulated_filters(simulated, version, conn))
            raw = {name: conn.execute(sql.format(active=idle, **columns)).fetchall() for name, sql in _QUERIES.items()}
            peer_steps_sql = _PEER_STEPS.format(**columns)
            peer_step_rows = conn.execute(peer_steps_sql).fetchall() if peer_rows and version >= 3 else []
            stored_metadata = conn.execute(
                "SELECT written_at, config, versions FROM metadata ORDER BY metadata_id DESC LIMIT 1"
            ).fetchone()
    finally:
        conn.close()
    metadata = _metadata(folder, stored_metadata)
    agents = scene_agents(metadata)
    # (actions and rewards decoded once for both steps and player_steps)
    decoded = (_decode_all([r[6] for r in raw["steps"]]), _decode_all([r[7] for r in raw["steps"]]))
    return Results(
        path=folder if folder is not None else redact_url(str(path)),
        participants=participants_frame(raw["participants"]),
        scene_visits=scene_visits_frame(raw["scene_visits"]),
        forms=forms_frame(raw["forms"], fields=form_fields(metadata)),
        games=games_frame(raw["games"], agents=agents),
        episodes=episodes_frame(raw["episodes"], agents=agents),
        steps=steps_frame(raw["steps"], agents=agents, decoded=decoded),
        player_steps=player_steps_frame(raw["steps"], raw["games"], decoded=decoded),
        events=events_frame(raw["events"]),
        p2p=p2p_frame(raw["p2p"]),
        metadata=metadata,
        peer_steps=steps_frame(peer_step_rows, agents=agents) if peer_rows else None,
    )


def scene_agents(metadata: dict[str, Any]) -> list[list[str]]:
    """The agent ids of each game scene in an experiment's saved config (``policy_mapping`` order).

    This is what gives an empty ``steps``, ``episodes`` or ``games`` table the agent columns it will
    have once games are recorded; ``[]`` when the config is unknown (then the single-agent shape).
    """
    found: list[list[str]] = []

    def walk(node: Any) -> None:  # (scenes may nest: a randomised or repeated group holds scenes)
        if isinstance(node, dict):
            mapping = node.get("policy_mapping")
            if node.get("scene_type") == "gym" and isinstance(mapping, dict):
                found.append([str(agent) for agent in mapping])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(metadata.get("config"))
    return found


#: The dtype of a survey question's forms column, by the question's kind (see mug.scenes.surveys).
_ANSWER_DTYPES = {"scale": "Int64", "text": "str", "option": "str", "choice": "object"}
# The inputs of a static scene's own HTML form (the same pattern as StaticScene.form_fields).
_HTML_FIELD = re.compile(r"<(?:input|select|textarea)\b[^>]*\bname=[\"']([^\"']+)[\"']")


def form_fields(metadata: dict[str, Any]) -> dict[str, str]:
    """The forms columns (answer fields) of the scenes in an experiment's saved config, with dtypes.

    What gives an empty ``forms`` table the columns it will have once forms are submitted: each
    survey question (a scale is ``Int64``, a text or an option ``str``, a multiple choice a list),
    and the inputs of a static scene's HTML form (``object``); ``{}`` when the config is unknown.
    """
    fields: dict[str, str] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            survey = node.get("survey")
            if isinstance(survey, list):
                for item in survey:
                    if isinstance(item, dict) and isinstance(item.get("name"), str):
                        fields.setdefault(item["name"], _ANSWER_DTYPES.get(str(item.get("kind")), "object"))
            if isinstance(node.get("scene_type"), str) and isinstance(node.get("body"), str):
                for name in _HTML_FIELD.findall(node["body"]):
                    fields.setdefault(name, "object")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(metadata.get("config"))
    return fields


def _empty_shape(agents: list[list[str]]) -> list[str] | None:
    """None for the single-agent shape; else every agent id of the experiment's game scenes."""
    if all(len(ids) == 1 for ids in agents):
        return None
    return _agent_order({agent: None for agent in ids} for ids in agents)


def _check_schema(conn: Database) -> int:
    version = conn.schema_version()
    if version == 0:
        raise ValueError(f"{conn.name} is not a MUG database (no MUG schema in it)")
    if version > SCHEMA_VERSION:
        raise ValueError(
            f"{conn.name} has schema version {version}, newer than this MUG ({SCHEMA_VERSION}); upgrade MUG"
        )
    return int(version)


def _metadata(directory: Path | None, stored: tuple[Any, ...] | None) -> dict[str, Any]:
    file = None if directory is None else directory / METADATA_FILENAME
    if file is not None and file.is_file():
        with open(file, encoding="utf-8") as handle:
            return json.load(handle)
    if stored is not None:
        written_at, config, versions = stored
        return {"config": loads(config), "versions": loads(versions), "written_at": written_at}
    return {}


# Rows of participants who did something (see load_results' include_idle); "{active}" in a query.
_ACTIVE_ONLY = "AND participant_id NOT IN (SELECT participant_id FROM participants WHERE active_at IS NULL)"


def _simulated_filters(simulated: bool | str, version: int, conn: Database) -> dict[str, str]:
    """The ``{sim}`` (rows of a participant), ``{sim_games}`` (rows of a game) and ``{sim_events}``
    filters of the queries, for ``load_results(simulated=...)``."""
    if simulated not in (False, True, "only") or (simulated in (0, 1) and not isinstance(simulated, bool)):
        raise ValueError(f"simulated must be False, True or 'only', got {simulated!r}")
    if simulated is True:
        return {"sim": "", "sim_games": "", "sim_events": ""}
    if version < 2:  # (no simulated participants before version 2)
        none = "AND FALSE" if simulated == "only" else ""
        return {"sim": none, "sim_games": none, "sim_events": none}
    # Simulated participants (mug.simulate): marked in their session data by the researcher's process,
    # and counted as simulated only while their session is bound to the simulator's secret.
    binding = conn.json_text("data", "simulated", "binding")
    sim_people = (
        f"SELECT participant_id FROM participants WHERE {binding} IS NOT NULL "
        f"AND {binding} = substr(secret_hash, 1, 16)"
    )
    # Games a simulated participant played in.
    sim_games = f"SELECT g.game_id FROM games g, {conn.json_values('g.players')} WHERE p.value IN ({sim_people})"
    game_of_event = conn.json_text("data", "game_id")
    if simulated == "only":
        return {
            "sim": f"AND participant_id IN ({sim_people})",
            "sim_games": f"AND game_id IN ({sim_games})",
            "sim_events": (
                f"AND (participant_id IN ({sim_people}) OR (participant_id IS NULL AND "
                f"{game_of_event} IN ({sim_games})))"
            ),
        }
    return {
        "sim": f"AND participant_id NOT IN ({sim_people})",
        "sim_games": f"AND game_id NOT IN ({sim_games})",
        "sim_events": (
            f"AND COALESCE(participant_id, '') NOT IN ({sim_people}) "
            f"AND COALESCE({game_of_event}, '') NOT IN ({sim_games})"
        ),
    }


_QUERIES = {
    "participants": (
        "SELECT participant_id, status, completion_code, scene_index, scene_id, created_at, "
        "updated_at, query, data FROM participants WHERE TRUE {active} {sim} ORDER BY created_at, participant_id"
    ),
    "scene_visits": (
        "SELECT participant_id, scene_index, scene_id, scene_type, entered_at, exited_at, reloads "
        "FROM scene_visits WHERE TRUE {active} {sim} ORDER BY participant_id, entered_at, visit_id"
    ),
    "forms": (
        "SELECT participant_id, scene_id, submitted_at, answers FROM forms WHERE TRUE {sim} "
        "ORDER BY participant_id, submitted_at, scene_id"
    ),
    "games": (
        "SELECT game_id, scene_id, mode, seed, started_at, ended_at, outcome, players FROM games "
        "WHERE TRUE {sim_games} ORDER BY started_at, game_id"
    ),
    "episodes": (
        "SELECT game_id, episode, scene_id, participant_ids, seed, started_at, ended_at, num_steps, "
        "terminated, truncated, outcome, {parity}, returns FROM episodes WHERE TRUE {sim_games} "
        "ORDER BY game_id, episode"
    ),
    "steps": (
        "SELECT game_id, participant_id, scene_id, episode, step, t, actions, rewards, terminated, "
        "truncated, infos, observations, {focus} FROM steps WHERE TRUE {sim_games} ORDER BY game_id, episode, step"
    ),
    "events": (
        "SELECT event_id, participant_id, scene_id, kind, t, data FROM events "
        "WHERE (participant_id IS NULL OR TRUE {active}) {sim_events} ORDER BY t, event_id"
    ),
    "p2p": "SELECT participant_id, scene_id, t, data FROM events WHERE kind = 'p2p_stats' {sim} ORDER BY event_id",
}
_PEER_STEPS = (
    "SELECT game_id, participant_id, scene_id, episode, step, t, actions, rewards, terminated, "
    "truncated, infos, observations, focus FROM peer_steps WHERE TRUE {sim_games} "
    "ORDER BY game_id, episode, step, participant_id"
)


# -- frame builders -----------------------------------------------------------------------------


class _Columns:
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


def _decode_all(texts: list[str | None]) -> list[Any]:
    """Decode a column of JSON texts (None stays None) in one parse.

    One ``json.loads`` of ``[t1,t2,...]`` instead of one call per cell: measured at 100k step
    rows, 3 columns, ~3x less time (the per-call overhead is most of a small payload's cost).
    """
    if not texts:
        return []
    return json.loads("[" + ",".join("null" if text is None else text for text in texts) + "]")


def _flat_info(info: dict[str, Any], agent: str | None) -> list[tuple[str, Any]]:
    """A step's infos as (column, value) pairs: one agent's under ``info``, others' under ``info.<key>``."""
    pairs: list[tuple[str, Any]] = []
    for key, value in info.items():
        prefix = "info" if key == agent else f"info.{key}"
        if isinstance(value, dict):
            _flatten(prefix, value, lambda c, v: pairs.append((c, v)))
        else:
            pairs.append((prefix, value))
    return pairs


def _info_columns(texts: list[str], agents: list[str] | None) -> _Columns:
    """The ``info...`` columns of the steps, in the order their columns first appear.

    Steps often repeat their infos (``{}``, a counter that changes now and then): the pairs of a
    text are made once and reused while every value in them is a scalar (a list or dict value is
    made anew for each row, so cells never share one object).
    """
    cols = _Columns()
    cache: dict[tuple[str, str | None], list[tuple[str, Any]]] = {}
    for i, text in enumerate(texts):
        agent = agents[i] if agents is not None else None
        pairs = cache.get((text, agent))
        if pairs is None:
            pairs = _flat_info(loads(text), agent)
            if not any(isinstance(v, (list, dict)) for _, v in pairs):
                cache[(text, agent)] = pairs
        for column, value in pairs:
            cols.put(column, i, value)
    return cols


def _frame(fixed: dict[str, str], data: dict[str, list[Any]], extra: Iterable[tuple[str, Any]] = ()) -> pd.DataFrame:
    """Build a DataFrame: fixed columns with their dtypes, then the extra (name, values) columns."""
    columns: dict[str, Any] = {}
    for name, dtype in fixed.items():
        values = data[name]
        if dtype.startswith("datetime64"):
            columns[name] = _utc_datetimes(values)
        else:
            columns[name] = pd.Series(values, dtype=dtype)
    for name, values in extra:
        columns[name] = values if isinstance(values, pd.Series) else pd.Series(values)
    return pd.DataFrame(columns)


def _utc_datetimes(seconds: list[float]) -> pd.Series:
    micros = (pd.Series(seconds, dtype="float64") * 1e6).round().astype("int64")
    return pd.to_datetime(micros, unit="us", utc=True).astype("datetime64[us, UTC]")


def _flatten(prefix: str, value: dict[str, Any], out: Callable[[str, Any], None]) -> None:
    """Flatten nested dicts into dotted column names (lists stay as values)."""
    for key, item in value.items():
        name = f"{prefix}.{key}"
        if isinstance(item, dict):
            _flatten(name, item, out)
        else:
            out(name, item)


def _columns_of(rows: list[tuple[Any, ...]], names: Iterable[str]) -> dict[str, list[Any]]:
    names = list(names)
    if not rows:
        return {name: [] for name in names}
    return {name: list(values) for name, values in zip(names, zip(*rows, strict=True), strict=True)}


def _durations(starts: list[float], ends: list[float | None]) -> list[float | None]:
    return [None if end is None else end - start for start, end in zip(starts, ends, strict=True)]


def _agent_order(dicts: Iterable[dict[str, Any]]) -> list[str]:
    """Every key of ``dicts`` in first-seen order (through their distinct key tuples: rows mostly repeat them)."""
    order: dict[str, None] = {}
    for keys in dict.fromkeys(map(tuple, dicts)):
        for key in keys:
            order.setdefault(key, None)
    return list(order)


def _is_single_agent(actions: list[dict[str, Any]], numbers: list[dict[str, Any]]) -> bool:
    """Every row has exactly one agent, and its reward/return (if any) is that agent's."""
    return bool(actions) and all(len(a) == 1 and all(k in a for k in r) for a, r in zip(actions, numbers, strict=True))


def steps_frame(
    rows: list[tuple[Any, ...]],
    *,
    agents: list[list[str]] | None = None,
    decoded: tuple[list[Any], list[Any]] | None = None,
) -> pd.DataFrame:
    """The ``steps`` DataFrame from rows of the ``steps`` query.

    ``decoded``: the rows' actions and rewards already decoded (shared with :func:`player_steps_frame`).

    ``agents`` (see :func:`scene_agents`) shapes a table without rows: the single-agent columns
    (``agent_id``, ``action``, ``reward``) unless a game scene has several agents, then
    ``action.<agent>`` and ``reward.<agent>`` for each.
    """
    names = (
        "game_id",
        "participant_id",
        "scene_id",
        "episode",
        "step",
        "t",
        "actions",
        "rewards",
        "terminated",
        "truncated",
        "infos",
        "observations",
        "focus",
    )
    data = _columns_of(rows, names)
    data["time"] = data["t"]
    n = len(rows)
    actions = decoded[0] if decoded is not None else _decode_all(data["actions"])
    rewards = decoded[1] if decoded is not None else _decode_all(data["rewards"])
    extra: list[tuple[str, Any]] = []
    info_cols = _Columns()
    if n and _is_single_agent(actions, rewards):
        agent_ids = [next(iter(a)) for a in actions]
        extra.append(("agent_id", pd.Series(agent_ids, dtype="str")))
        extra.append(("action", [a[k] for a, k in zip(actions, agent_ids, strict=True)]))
        own_rewards = [r.get(k) for r, k in zip(rewards, agent_ids, strict=True)]
        extra.append(("reward", pd.Series(own_rewards, dtype="float64")))
        info_cols = _info_columns(data["infos"], agent_ids)
    elif n:
        for agent in _agent_order(actions):
            extra.append((f"action.{agent}", [a.get(agent) for a in actions]))
        for agent in _agent_order(itertools.chain(actions, rewards)):
            extra.append((f"reward.{agent}", pd.Series([r.get(agent) for r in rewards], dtype="float64")))
        info_cols = _info_columns(data["infos"], None)
    elif (several := _empty_shape(agents or [])) is None:
        extra.append(("agent_id", pd.Series([], dtype="str")))
        extra.append(("action", pd.Series([], dtype="object")))
        extra.append(("reward", pd.Series([], dtype="float64")))
    else:
        extra.extend((f"action.{agent}", pd.Series([], dtype="object")) for agent in several)
        extra.extend((f"reward.{agent}", pd.Series([], dtype="float64")) for agent in several)
    flags = [(name, pd.Series(data[name], dtype=dtype)) for name, dtype in _STEP_FLAGS.items()]
    info_extra = [(name, info_cols.dense(n, name)) for name in info_cols.names()]
    focus = _decode_all(data["focus"]) if any(f is not None for f in data["focus"]) else [None] * n
    focus_extra = [
        (f"focus.{agent}", pd.Series([None if f is None else f.get(agent) for f in focus], dtype="boolean"))
        for agent in _agent_order(f for f in focus if f is not None)
    ]
    obs = (
        [("obs", pd.Series(data["observations"], dtype="str"))]
        if any(o is not None for o in data["observations"])
        else []
    )
    return _frame(_STEP_COLUMNS, data, [*extra, *flags, *info_extra, *focus_extra, *obs])


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
    data = _columns_of(rows, names)
    data["participant_ids"] = [loads(p) for p in data["participant_ids"]]
    data["duration_s"] = _durations(data["started_at"], data["ended_at"])
    returns = [loads(r) for r in data["returns"]]
    extra: list[tuple[str, Any]] = []
    if not returns:
        several = _empty_shape(agents or [])
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
        for agent in _agent_order(returns):
            extra.append((f"return.{agent}", pd.Series([r.get(agent) for r in returns], dtype="float64")))
    return _frame(_EPISODE_COLUMNS, data, extra)


def forms_frame(rows: list[tuple[Any, ...]], *, fields: dict[str, str] | None = None) -> pd.DataFrame:
    """The ``forms`` DataFrame: one row per form, one column per answer field.

    A table without rows has a column for each of ``fields`` (see :func:`form_fields`).
    """
    data = _columns_of(rows, ("participant_id", "scene_id", "submitted_at", "answers"))
    if not rows:
        empty = [
            (f"answer.{name}" if name in _FORM_COLUMNS else name, pd.Series([], dtype=dtype))
            for name, dtype in (fields or {}).items()
        ]
        return _frame(_FORM_COLUMNS, data, empty)
    answers = _Columns()
    for i, text in enumerate(data["answers"]):
        for key, value in loads(text).items():
            answers.put(f"answer.{key}" if key in _FORM_COLUMNS else key, i, value)
    n = len(rows)
    return _frame(_FORM_COLUMNS, data, [(name, _answer_column(answers.dense(n, name))) for name in answers.names()])


def _answer_column(values: list[Any]) -> Any:
    """An answer column; whole numbers (e.g. rating scales) stay ints where other forms lack the field."""
    given = [v for v in values if v is not None]
    if given and all(isinstance(v, int) and not isinstance(v, bool) for v in given):
        return pd.Series(values, dtype="Int64")  # (a plain Series would turn them to floats beside NaN)
    return values


def _one_level(prefix: str, texts: list[str], n: int) -> list[tuple[str, list[Any]]]:
    cols = _Columns()
    for i, text in enumerate(texts):
        for key, value in loads(text).items():
            cols.put(f"{prefix}.{key}", i, value)
    return [(name, cols.dense(n, name)) for name in cols.names()]


def participants_frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """The ``participants`` DataFrame (``query.<key>`` and ``data.<key>`` columns)."""
    data = _columns_of(rows, (*_PARTICIPANT_COLUMNS, "query", "data"))
    n = len(rows)
    extra = [*_one_level("query", data["query"], n), *_one_level("data", data["data"], n)]
    return _frame(_PARTICIPANT_COLUMNS, data, extra)


def events_frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """The ``events`` DataFrame (``data.<key>`` columns, one level)."""
    data = _columns_of(rows, (*_EVENT_COLUMNS, "data"))
    return _frame(_EVENT_COLUMNS, data, _one_level("data", data["data"], len(rows)))


def scene_visits_frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """The ``scene_visits`` DataFrame (``duration_s`` is NaN while a visit is open)."""
    names = ("participant_id", "scene_index", "scene_id", "scene_type", "entered_at", "exited_at", "reloads")
    data = _columns_of(rows, names)
    data["duration_s"] = _durations(data["entered_at"], data["exited_at"])
    return _frame(_VISIT_COLUMNS, data)


def games_frame(rows: list[tuple[Any, ...]], *, agents: list[list[str]] | None = None) -> pd.DataFrame:
    """The ``games`` DataFrame (``players.<agent_id>`` columns).

    A table without rows has a ``players.<agent_id>`` column for each agent of the game scenes in
    ``agents`` (see :func:`scene_agents`).
    """
    data = _columns_of(rows, (*[c for c in _GAME_COLUMNS if c != "duration_s"], "players"))
    data["duration_s"] = _durations(data["started_at"], data["ended_at"])
    if rows:
        return _frame(_GAME_COLUMNS, data, _one_level("players", data["players"], len(rows)))
    every = _agent_order({agent: None for agent in ids} for ids in agents or [])
    return _frame(_GAME_COLUMNS, data, [(f"players.{agent}", pd.Series([], dtype="str")) for agent in every])


_PLAYER_STEP_COLUMNS = {
    "game_id": "str",
    "scene_id": "str",
    "episode": "int64",
    "step": "int64",
    "t": "float64",
    "agent_id": "str",
    "participant_id": "str",
    "policy": "str",
    "action": "object",
    "reward": "float64",
}


def player_steps_frame(
    step_rows: list[tuple[Any, ...]],
    game_rows: list[tuple[Any, ...]],
    *,
    decoded: tuple[list[Any], list[Any]] | None = None,
) -> pd.DataFrame:
    """One row per agent per step: whose action it was (a participant, or a policy) and its reward.

    Built column by column (the step's fields taken by index) rather than row by row: at 1M steps
    of two agents that is the difference between ~1 s and ~10 s. ``decoded``: the steps' actions
    and rewards already decoded (see :func:`steps_frame`).
    """
    rosters = {row[0]: (loads(row[7]) or {}) for row in game_rows}
    if decoded is None:
        decoded = (_decode_all([r[6] for r in step_rows]), _decode_all([r[7] for r in step_rows]))
    actions, rewards = decoded
    same = dict.fromkeys(map(tuple, actions))
    if len(same) == 1 and step_rows:  # (every step has the same agents, in the same order: column by column)
        return _player_steps_same_agents(step_rows, rosters, actions, rewards, list(next(iter(same))))
    index: list[int] = []
    agents: list[str] = []
    taken: list[Any] = []
    for i, acts in enumerate(actions):
        for agent, action in acts.items():
            index.append(i)
            agents.append(agent)
            taken.append(action)
    column = list(zip(*step_rows, strict=True)) if step_rows else [()] * 8
    game_ids, pids, scene_ids, episodes, steps, times = (column[k] for k in range(6))
    who_of: dict[tuple[Any, str, Any], Any] = {}
    who = []
    for i, agent in zip(index, agents, strict=True):
        key = (game_ids[i], agent, pids[i])
        if key not in who_of:
            who_of[key] = rosters.get(game_ids[i], {}).get(agent, pids[i])
        who.append(who_of[key])
    policy_of = {w: w[len(POLICY_PREFIX) :] for w in set(who) if isinstance(w, str) and w.startswith(POLICY_PREFIX)}
    out = {
        "game_id": [game_ids[i] for i in index],
        "scene_id": [scene_ids[i] for i in index],
        "episode": [episodes[i] for i in index],
        "step": [steps[i] for i in index],
        "t": [times[i] for i in index],
        "agent_id": agents,
        "participant_id": [None if w in policy_of else w for w in who],
        "policy": [policy_of.get(w) for w in who],
        "action": taken,
        "reward": [rewards[i].get(agent) for i, agent in zip(index, agents, strict=True)],
    }
    return pd.DataFrame({name: pd.Series(values, dtype=_PLAYER_STEP_COLUMNS[name]) for name, values in out.items()})


def _player_steps_same_agents(
    step_rows: list[tuple[Any, ...]],
    rosters: dict[Any, dict[str, Any]],
    actions: list[dict[str, Any]],
    rewards: list[dict[str, Any]],
    agents: list[str],
) -> pd.DataFrame:
    """:func:`player_steps_frame` when every step has the same agents: each agent's column at once,
    then interleaved (row 0's agents, row 1's, ...) by slicing, as the row-by-row build orders them."""
    import numpy as np

    n, k = len(step_rows), len(agents)
    column = list(zip(*step_rows, strict=True))
    game_ids, pids = column[0], column[1]

    def interleave(per_agent: list[list[Any]]) -> np.ndarray:
        out = np.empty(n * k, dtype=object)
        for j, values in enumerate(per_agent):
            out[j::k] = np.fromiter(values, dtype=object, count=n)  # (a list cell stays one cell)
        return out

    whos = []
    for agent in agents:
        of_game = {g: roster.get(agent) for g, roster in rosters.items()}
        whos.append([of_game.get(g) or p for g, p in zip(game_ids, pids, strict=True)])
    who = interleave(whos)
    policy_of = {w: w[len(POLICY_PREFIX) :] for w in set(who) if isinstance(w, str) and w.startswith(POLICY_PREFIX)}
    out = {
        "game_id": np.repeat(np.array(game_ids, dtype=object), k),
        "scene_id": np.repeat(np.array(column[2], dtype=object), k),
        "episode": np.repeat(np.array(column[3], dtype="int64"), k),
        "step": np.repeat(np.array(column[4], dtype="int64"), k),
        "t": np.repeat(np.array(column[5], dtype="float64"), k),
        "agent_id": np.tile(np.array(agents, dtype=object), n),
        "participant_id": [None if w in policy_of else w for w in who],
        "policy": [policy_of.get(w) for w in who],
        "action": interleave([[a[agent] for a in actions] for agent in agents]),
        "reward": interleave([[r.get(agent) for r in rewards] for agent in agents]),
    }
    return pd.DataFrame({name: pd.Series(values, dtype=_PLAYER_STEP_COLUMNS[name]) for name, values in out.items()})


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
    more = _Columns()
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
    frame = {name: pd.Series(values, dtype=_P2P_COLUMNS[name]) for name, values in out.items()}
    return pd.DataFrame({**frame, **{name: more.dense(n, name) for name in more.names()}})
