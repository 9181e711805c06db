"""Reading an experiment's data back as pandas DataFrames.

:func:`load_results` opens the database read-only (it works while the server
is writing), reads every table inside one read transaction (so the frames are
a consistent snapshot) and shapes them into the DataFrames documented in
``docs/data.md``. The database is a SQLite file in a data folder or a PostgreSQL
database named by its URL; the same queries read both, so the frames are equal.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from ._json import loads
from .arrow_read import StepsReader
from .arrow_read import step_columns as arrow_step_columns
from .backends import Database, is_database_url, parse_location, redact_url
from .frames import (
    POLICY_PREFIX,
    episodes_frame,
    events_frame,
    forms_frame,
    games_frame,
    p2p_frame,
    participants_frame,
    scene_visits_frame,
)
from .schema import DB_FILENAME, METADATA_FILENAME, SCHEMA_VERSION
from .step_frames import StepColumns, player_steps_frame, steps_frame

__all__ = [
    "POLICY_PREFIX",
    "RESULT_TABLES",
    "Deferred",
    "Results",
    "load_results",
    "open_results_database",
    "resolve_database",
]

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


class Deferred:
    """A table not built yet: ``build()`` makes it, on first read (see :class:`LazyTable`).

    ``rows``: its row count, known without building it (so ``repr`` and counts stay cheap).
    """

    def __init__(self, build: Callable[[], pd.DataFrame], rows: int) -> None:
        self.build = build
        self.rows = rows


class LazyTable:
    """A :class:`Results` field that may be given as a :class:`Deferred`: built on first access,
    then kept (a data descriptor, so the frozen dataclass's ``__init__`` sets it as any field).

    Why: ``player_steps`` (one row per agent per step) cost 10-15 s of the 24 s that
    ``load_results`` took on 1M two-player steps (benchmarks/store.py), and most analyses never
    read it. Built later, it is the same frame: it comes from the same snapshot's step columns.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = f"_{name}_value"

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:  # (on the class: no default value, so the dataclass field stays required)
            raise AttributeError(self.slot)
        value = obj.__dict__[self.slot]
        if isinstance(value, Deferred):
            value = value.build()
            obj.__dict__[self.slot] = value
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.slot] = value

    def rows(self, obj: Any) -> int:
        """The table's row count, without building it."""
        value = obj.__dict__[self.slot]
        return value.rows if isinstance(value, Deferred) else len(value)

    def built(self, obj: Any) -> bool:
        """Whether the table exists yet (was given as a frame, or has been read)."""
        return not isinstance(obj.__dict__[self.slot], Deferred)


@dataclass(frozen=True, eq=False, repr=False)
class Results:
    """An experiment's data as DataFrames (see ``docs/data.md`` for every column).

    Attributes:
        path: the data folder the results were loaded from, or the PostgreSQL URL (password hidden).
        participants, scene_visits, forms, games, episodes, steps, player_steps, events, p2p: DataFrames.
            ``player_steps`` is built when first read (from the same snapshot as the others):
            at a million steps it takes longer than all the other tables together.
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
    player_steps: pd.DataFrame = LazyTable()  # type: ignore[assignment]
    events: pd.DataFrame
    p2p: pd.DataFrame
    metadata: dict[str, Any] = field(default_factory=dict)
    peer_steps: pd.DataFrame | None = None

    def tables(self, *, include_player_steps: bool = True) -> dict[str, pd.DataFrame]:
        """The DataFrames by name, in :data:`RESULT_TABLES` order (then ``peer_steps`` when loaded).

        ``include_player_steps=False`` leaves ``player_steps`` out, so it is not built.
        """
        names = [n for n in RESULT_TABLES if include_player_steps or n != "player_steps"]
        tables = {name: getattr(self, name) for name in names}
        if self.peer_steps is not None:
            tables["peer_steps"] = self.peer_steps
        return tables

    def row_counts(self) -> dict[str, int]:
        """Each table's number of rows, in :meth:`tables` order, without building ``player_steps``."""
        counts = {name: len(frame) for name, frame in self.tables(include_player_steps=False).items()}
        counts["player_steps"] = Results.__dict__["player_steps"].rows(self)
        return {name: counts[name] for name in [*RESULT_TABLES, "peer_steps"] if name in counts}

    def __repr__(self) -> str:
        lines = [f"<mug Results from {str(self.path)!r}>"]
        for name, rows in self.row_counts().items():
            lines.append(f"  {name:<13} {rows:>8} rows")
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
    reader = StepsReader.open(conn)  # (None: the steps are read by conn's own driver, see mug.data.arrow_read)
    step_table = None
    try:
        if reader is not None:
            reader.before_snapshot(conn)
        with conn.snapshot():  # one read transaction: every table from the same snapshot
            version = _check_schema(conn)
            if reader is not None and not reader.join_snapshot(conn):
                reader.close()
                reader = None
            idle = "" if include_idle or version < 2 else _ACTIVE_ONLY  # (version 1 kept no activity)
            # A database of an older version read before any server upgraded it lacks the P2P columns.
            columns = {"focus": "focus", "parity": "parity"} if version >= 3 else {"focus": "NULL", "parity": "NULL"}
            columns.update(_simulated_filters(simulated, version, conn))
            queries = {name: sql.format(active=idle, **columns) for name, sql in _QUERIES.items()}
            raw = {name: conn.execute(sql).fetchall() for name, sql in queries.items() if name != "steps"}
            if reader is not None:
                step_table = reader.read(queries["steps"])
            if step_table is None:
                raw["steps"] = conn.execute(queries["steps"]).fetchall()
            peer_steps_sql = _PEER_STEPS.format(**columns)
            peer_step_rows = conn.execute(peer_steps_sql).fetchall() if peer_rows and version >= 3 else []
            stored_metadata = conn.execute(
                "SELECT written_at, config, versions FROM metadata ORDER BY metadata_id DESC LIMIT 1"
            ).fetchone()
    finally:
        if reader is not None:
            reader.close()
        conn.close()
    metadata = _metadata(folder, stored_metadata)
    agents = scene_agents(metadata)
    # (codes and distinct values: the million rows, as Arrow arrays or row tuples, go)
    if step_table is not None:
        step_columns = arrow_step_columns(step_table, sort=True)
        del step_table
    else:
        step_columns = StepColumns(raw.pop("steps"), sort=True)
    return Results(
        path=folder if folder is not None else redact_url(str(path)),
        participants=participants_frame(raw["participants"]),
        scene_visits=scene_visits_frame(raw["scene_visits"]),
        forms=forms_frame(raw["forms"], fields=form_fields(metadata)),
        games=games_frame(raw["games"], agents=agents),
        episodes=episodes_frame(raw["episodes"], agents=agents),
        steps=steps_frame(step_columns, agents=agents),
        player_steps=Deferred(
            functools.partial(player_steps_frame, step_columns, raw["games"]), rows=step_columns.agent_rows()
        ),
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
        "truncated, infos, observations, {focus} FROM steps WHERE TRUE {sim_games}"
    ),  # (no ORDER BY: read in storage order, sorted by StepColumns -- see mug.data.step_frames)
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
