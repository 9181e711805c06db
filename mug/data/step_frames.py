"""The ``steps`` and ``player_steps`` DataFrames: the tables that reach millions of rows, built fast.

A study of a few hundred two-player games records a million step rows, and a researcher reloads
``results()`` every time she looks. What made that slow was per-row Python work; these builders do
per-row work in numpy and per-*distinct*-value work in Python:

* the rows of the steps query become one 2-D object array (one C loop instead of ``zip(*rows)``);
* every text column is factorized (``pandas.factorize``: an integer code per row, the distinct
  values once); JSON payloads (actions, rewards, infos, focus) are decoded **once per distinct
  text** -- steps repeat them: the benchmark's million rows hold 6 actions, 2 rewards, 5 infos texts -- and
  each derived column (``action.<agent>``, ``info.<key>``...) is built for the distinct values, then
  taken by the codes. String columns are taken the same way from a column of the distinct strings.
  A cell that holds a list or dict is decoded anew for each of its rows, so no two cells share
  one mutable object (as when every row was decoded by itself);
* a column's dtype is the one pandas infers from its distinct values, which is the one it infers
  from every row's (the same set of types), so the frames are unchanged;
* ``player_steps`` (two rows per step for two agents) is built only when first read
  (:class:`mug.data.results.Results`): most analyses never touch it, and it was half the time.

Measured with ``benchmarks/store.py`` (1M rows of two-player steps; ``python -m benchmarks --only
store``) on this 2-core machine while other engineers' tests ran on it (load average 5-7, so wall
times are inflated and noisy; CPU time of the process is steadier):

* before: ``load_results`` 24 s on a quieter machine (30 s at load ~5): ``player_steps`` built
  eagerly 10-15 s, ``fetchall`` ~5 s, ``zip(*rows)`` ~2.7 s, JSON decoding ~3 s, the info and
  string columns most of the rest;
* after: SQLite 11.3 s wall / 9.7 s CPU, PostgreSQL 8.5 s wall / 6.4 s CPU (the server's share of
  the read is not in this process's CPU); ``player_steps`` on first read 4-5.5 s. Of the SQLite
  CPU time, ~5-6 s is the driver reading the rows (``fetchall``: SQLite's own row decoding and
  one tuple per row; 13 columns or the same data packed into 8 cost the same, ``mmap_size`` did
  not help), ~3 s the columns built here (the row-to-array copy 0.4 s, the key sort 0.5 s,
  factorizing ten columns 1.2 s), 0.3 s the frame. Reading in storage order and sorting here
  instead of ``ORDER BY`` saved ~30% of the read on SQLite. The 5 s goal is not met on this
  loaded machine; what is left is mostly the driver's per-row work.

That per-row work is gone where ADBC is installed (the default): :mod:`mug.data.arrow_read` reads
the steps query into Arrow columns and codes the texts there, and gives :class:`StepColumns` its
columns already coded (:meth:`StepColumns.from_columns`); :class:`Coded` takes codes and values
from either side (:meth:`Coded.factorize` for the driver's rows). The figures are in that module.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._json import loads
from .frames import POLICY_PREFIX, agent_order, empty_shape, flatten, utc_datetimes

__all__ = ["StepColumns", "player_steps_frame", "steps_frame"]

# The columns of the steps query, in its order (mug.data.results._QUERIES["steps"]).
STEP_QUERY_COLUMNS = (
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
_CONTAINERS = (list, dict)


class Coded:
    """A column as an integer code per row and its distinct values (None included, as a value).

    Why: a million rows of steps hold a few dozen distinct actions texts, a few thousand game ids;
    work done per distinct value and then taken by the codes is work done a few dozen times.
    """

    def __init__(self, codes: np.ndarray, values: list[Any]) -> None:
        """``codes``: one per row, in first-appearance order (row 0 has code 0, the next new value 1...);
        ``values``: the distinct values at those codes (None a value like any other)."""
        self.codes: np.ndarray = codes
        self.values: list[Any] = values

    @classmethod
    def factorize(cls, column: np.ndarray) -> Coded:
        """The column (an object array of the rows' cells) coded by ``pandas.factorize``."""
        codes, uniques = pd.factorize(column)
        values = list(uniques)
        if len(codes) and codes.min() < 0:  # (None: factorize gives it -1; it becomes a value of its own)
            codes = np.where(codes < 0, len(values), codes)
            values.append(None)
        return cls(codes, values)

    def __len__(self) -> int:
        return len(self.codes)

    def rows_of(self, wanted: Sequence[int]) -> np.ndarray:
        """The rows whose value is one of the distinct values at ``wanted``."""
        return np.flatnonzero(np.isin(self.codes, np.asarray(wanted, dtype=self.codes.dtype)))

    def typed(self, dtype: str, codes: np.ndarray | None = None) -> pd.Series:
        """The column as a Series of ``dtype`` (the distinct values converted once, then taken by
        ``codes``: the rows' own unless given)."""
        return pd.Series(pd.Series(self.values, dtype=dtype).array.take(self.codes if codes is None else codes))

    def objects(self) -> np.ndarray:
        """The column as an object array (one shared object per distinct value)."""
        return _objects(self.values)[self.codes]


class JsonCoded(Coded):
    """A column of JSON texts, each distinct text decoded once (``decoded``; None stays None)."""

    def __init__(self, codes: np.ndarray, values: list[Any]) -> None:
        super().__init__(codes, values)
        self.decoded: list[Any] = [loads(text) for text in self.values]

    def derived(self, get: Callable[[Any], Any], dtype: str | None = None) -> pd.Series:
        """A column of ``get(payload)`` per row, of ``dtype`` (else the dtype pandas infers for it).

        A list or dict value is made anew for each of its rows (decoded again), so cells never
        share a mutable object.
        """
        return _derived(self, [get(value) for value in self.decoded], lambda i: get(loads(self.values[i])), dtype)

    def per_row(self) -> list[Any]:
        """Every row's payload (fresh objects per row when any payload holds a list or dict)."""
        if any(_has_container(value) for value in self.decoded):
            return [loads(self.values[c]) for c in self.codes]
        return np.asarray(_objects(self.decoded), dtype=object)[self.codes].tolist()


def _has_container(value: Any) -> bool:
    if isinstance(value, dict):
        return any(isinstance(v, _CONTAINERS) for v in value.values())
    return isinstance(value, list)


def _objects(values: list[Any]) -> np.ndarray:
    """An object array holding ``values`` as cells (a list value stays one cell)."""
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        out[i] = value
    return out


def _derived(coded: Coded, per_value: list[Any], fresh: Callable[[int], Any], dtype: str | None = None) -> pd.Series:
    """The column whose row with code ``c`` holds ``per_value[c]``; rows whose value is a list or
    dict get ``fresh(c)`` instead (a new object each)."""
    containers = [c for c, value in enumerate(per_value) if isinstance(value, _CONTAINERS)]
    if not containers:
        return pd.Series(pd.Series(per_value, dtype=dtype).array.take(coded.codes))
    cells = _objects(per_value)[coded.codes]
    for row in coded.rows_of(containers):
        cells[row] = fresh(int(coded.codes[row]))
    return pd.Series(cells.tolist(), dtype=dtype)


def _pairs(first: Coded, second: Coded) -> tuple[Coded, list[tuple[int, int]]]:
    """The distinct (first, second) value pairs of the rows, coded; and each pair's two codes."""
    combined = first.codes.astype(np.int64) * max(len(second.values), 1) + second.codes
    pairs = Coded.factorize(combined)
    width = max(len(second.values), 1)
    return pairs, [divmod(int(value), width) for value in pairs.values]


#: The text columns of the steps query, coded (JSON payloads as :class:`JsonCoded`).
STEP_TEXT_COLUMNS = ("game_id", "participant_id", "scene_id", "actions", "rewards", "infos", "observations", "focus")
#: The number columns of the steps query and their numpy dtypes.
STEP_NUMBER_COLUMNS = {"episode": np.int64, "step": np.int64, "t": np.float64, "terminated": bool, "truncated": bool}
_JSON_COLUMNS = ("actions", "rewards", "focus")


class StepColumns:
    """The rows of the steps query as columns: numbers as numpy arrays, texts coded (:class:`Coded`).

    What both ``steps`` and (later, lazily) ``player_steps`` are built from; it holds codes and
    distinct values, not a million row tuples. Made from the driver's row tuples (here) or from
    an Arrow table (:func:`mug.data.arrow_read.step_columns`, :meth:`from_columns`): the same
    columns either way.
    """

    def __init__(self, rows: list[tuple[Any, ...]], *, sort: bool = False) -> None:
        """``rows``: of the steps query; ``sort``: put them in (game_id, episode, step) order first."""
        n = len(rows)
        width = len(STEP_QUERY_COLUMNS)
        # (numpy reads the cells through one flat iterator: ~2x faster than np.array(rows) measuring its shape)
        table = np.fromiter(itertools.chain.from_iterable(rows), dtype=object, count=n * width).reshape(n, width)
        if sort and n:
            table = table[_key_order(table)]
        col = {name: table[:, k] for k, name in enumerate(STEP_QUERY_COLUMNS)}
        self._fill(
            n,
            {name: (col[name], None) for name in STEP_TEXT_COLUMNS},
            {name: col[name].astype(dtype) for name, dtype in STEP_NUMBER_COLUMNS.items()},
        )

    @classmethod
    def from_columns(
        cls, n: int, texts: dict[str, tuple[np.ndarray, list[Any]]], numbers: dict[str, np.ndarray]
    ) -> StepColumns:
        """From columns already coded: ``texts`` maps each of :data:`STEP_TEXT_COLUMNS` to (codes in
        first-appearance order, distinct values), ``numbers`` each of :data:`STEP_NUMBER_COLUMNS` to
        an array of its dtype; rows already in their final order."""
        self = cls.__new__(cls)
        self._fill(n, texts, numbers)
        return self

    def _fill(
        self, n: int, texts: dict[str, tuple[np.ndarray, list[Any] | None]], numbers: dict[str, np.ndarray]
    ) -> None:
        """Set the columns: a text given as (cells, None) is factorized here, (codes, values) taken as coded."""

        def coded(name: str) -> Any:
            kind = JsonCoded if name in _JSON_COLUMNS else Coded
            first, values = texts[name]
            return kind.factorize(first) if values is None else kind(first, values)

        self.n = n
        self.game_id: Coded = coded("game_id")
        self.participant_id: Coded = coded("participant_id")
        self.scene_id: Coded = coded("scene_id")
        self.episode: np.ndarray = numbers["episode"]
        self.step: np.ndarray = numbers["step"]
        self.t: np.ndarray = numbers["t"]
        self.terminated: np.ndarray = numbers["terminated"]
        self.truncated: np.ndarray = numbers["truncated"]
        self.actions: JsonCoded = coded("actions")
        self.rewards: JsonCoded = coded("rewards")
        self.infos: Coded = coded("infos")
        self.observations: Coded = coded("observations")
        self.focus: JsonCoded = coded("focus")

    def agent_rows(self) -> int:
        """How many rows ``player_steps`` has (one per agent of each step), without building it."""
        if not self.n:
            return 0
        per_value = np.array([len(a) for a in self.actions.decoded], dtype=np.int64)
        return int(per_value[self.actions.codes].sum())


def key_order(game_codes: np.ndarray, game_ids: list[Any], episode: np.ndarray, step: np.ndarray) -> np.ndarray:
    """The permutation that sorts step rows by (game_id, episode, step), the game ids given coded.

    Strings compare by code point, which is UTF-8 byte order: SQLite's BINARY collation and
    PostgreSQL's ``"C"`` one (MUG's schema), so the order is the database's. The key is unique, so
    there are no ties.
    """
    rank = np.empty(len(game_ids), dtype=np.int64)
    rank[sorted(range(len(game_ids)), key=game_ids.__getitem__)] = np.arange(len(game_ids))
    return np.lexsort((step, episode, rank[game_codes]))


def _key_order(table: np.ndarray) -> np.ndarray:
    """The permutation that sorts rows of the steps query by (game_id, episode, step), as ``ORDER BY`` would.

    Why not ``ORDER BY``: SQLite walks the primary-key index and looks every row up in the table,
    ~30% of the read at 1M rows; a scan in storage order plus this sort is cheaper (:func:`key_order`).
    """
    games = Coded.factorize(table[:, 0])
    return key_order(games.codes, games.values, table[:, 3].astype(np.int64), table[:, 4].astype(np.int64))


def steps_frame(rows: list[tuple[Any, ...]] | StepColumns, *, agents: list[list[str]] | None = None) -> pd.DataFrame:
    """The ``steps`` DataFrame from rows of the ``steps`` query (or their :class:`StepColumns`).

    ``agents`` (see :func:`mug.data.results.scene_agents`) shapes a table without rows: the
    single-agent columns (``agent_id``, ``action``, ``reward``) unless a game scene has several
    agents, then ``action.<agent>`` and ``reward.<agent>`` for each.
    """
    cols = rows if isinstance(rows, StepColumns) else StepColumns(rows)
    out: dict[str, Any] = {
        "game_id": cols.game_id.typed("str"),
        "participant_id": cols.participant_id.typed("str"),
        "scene_id": cols.scene_id.typed("str"),
        "episode": pd.Series(cols.episode, dtype="int64"),
        "step": pd.Series(cols.step, dtype="int64"),
        "t": pd.Series(cols.t, dtype="float64"),
        "time": utc_datetimes(cols.t),
    }
    by_agent = _agent_columns(cols, agents)
    out.update(by_agent)
    out["terminated"] = pd.Series(cols.terminated, dtype="bool")
    out["truncated"] = pd.Series(cols.truncated, dtype="bool")
    if cols.n:
        out.update(_info_columns(cols, single="agent_id" in by_agent))
    focus = cols.focus
    present = [value for value in focus.decoded if value is not None]
    for agent in agent_order(present):
        out[f"focus.{agent}"] = focus.derived(lambda f, a=agent: None if f is None else f.get(a), "boolean")
    if any(value is not None for value in cols.observations.values):
        out["obs"] = cols.observations.typed("str")
    return pd.DataFrame(out)


def _agent_columns(cols: StepColumns, agents: list[list[str]] | None) -> dict[str, pd.Series]:
    """``agent_id``/``action``/``reward`` (every row one agent's), else ``action.<a>``/``reward.<a>``."""
    actions, rewards = cols.actions, cols.rewards
    if not cols.n:
        several = empty_shape(agents or [])
        if several is None:
            return {
                "agent_id": pd.Series([], dtype="str"),
                "action": pd.Series([], dtype="object"),
                "reward": pd.Series([], dtype="float64"),
            }
        return {
            **{f"action.{a}": pd.Series([], dtype="object") for a in several},
            **{f"reward.{a}": pd.Series([], dtype="float64") for a in several},
        }
    pairs, codes = _pairs(actions, rewards)
    pair_values = [(actions.decoded[i], rewards.decoded[j]) for i, j in codes]
    if all(len(a) == 1 and all(k in a for k in r) for a, r in pair_values):  # one agent per row
        own = [next(iter(a)) for a, _ in pair_values]
        return {
            "agent_id": _derived(pairs, own, own.__getitem__, "str"),
            "action": _derived(
                pairs, [a[k] for (a, _), k in zip(pair_values, own, strict=True)],
                lambda c: loads(actions.values[codes[c][0]])[own[c]],
            ),
            "reward": _derived(
                pairs, [r.get(k) for (_, r), k in zip(pair_values, own, strict=True)],
                lambda c: loads(rewards.values[codes[c][1]]).get(own[c]), "float64",
            ),
        }  # fmt: skip
    out = {f"action.{a}": actions.derived(lambda p, a=a: p.get(a)) for a in agent_order(actions.decoded)}
    for agent in agent_order([*actions.decoded, *rewards.decoded]):
        out[f"reward.{agent}"] = rewards.derived(lambda r, a=agent: r.get(a), "float64")
    return out


def _flat_info(info: dict[str, Any], agent: str | None) -> dict[str, Any]:
    """A step's infos as columns: one agent's under ``info``, others' under ``info.<key>``."""
    pairs: dict[str, Any] = {}
    for key, value in info.items():
        prefix = "info" if key == agent else f"info.{key}"
        if isinstance(value, dict):
            flatten(prefix, value, pairs.__setitem__)
        else:
            pairs[prefix] = value
    return pairs


def _info_columns(cols: StepColumns, *, single: bool) -> dict[str, pd.Series]:
    """The ``info...`` columns, in the order they first appear in the rows.

    In the single-agent shape a row's own agent's infos go under ``info``, so the distinct values
    are (infos text, agent) pairs; else the distinct infos texts.
    """
    infos = cols.infos
    agent_ids: list[Any] | None = None
    coded: Coded = infos
    texts = infos.values
    if single:
        coded, codes = _pairs(infos, cols.actions)
        texts = [infos.values[i] for i, _ in codes]
        agent_ids = [next(iter(cols.actions.decoded[j])) for _, j in codes]
    flat = [_flat_info(loads(text), None if agent_ids is None else agent_ids[c]) for c, text in enumerate(texts)]
    names = dict.fromkeys(name for columns in flat for name in columns)
    out: dict[str, pd.Series] = {}
    for name in names:
        out[name] = _derived(
            coded, [columns.get(name) for columns in flat],
            lambda c, name=name: _flat_info(loads(texts[c]), None if agent_ids is None else agent_ids[c]).get(name),
        )  # fmt: skip
    return out


def player_steps_frame(cols: StepColumns | list[tuple[Any, ...]], game_rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """One row per agent per step: whose action it was (a participant, or a policy) and its reward.

    ``game_rows``: rows of the games query (their rosters name who played each agent).
    Built column by column rather than row by row: at 1M steps of two agents that is the
    difference between ~1 s and ~10 s.
    """
    if not isinstance(cols, StepColumns):
        cols = StepColumns(cols)
    rosters = {row[0]: (loads(row[7]) or {}) for row in game_rows}
    actions, rewards = cols.actions.per_row(), cols.rewards.per_row()
    game_ids, pids = cols.game_id.objects(), cols.participant_id.objects()
    same = {tuple(value) for value in cols.actions.decoded}
    if len(same) == 1 and cols.n:  # (every step has the same agents, in the same order: column by column)
        return _player_steps_same_agents(cols, game_ids, pids, rosters, actions, rewards, list(next(iter(same))))
    index: list[int] = []
    agents: list[str] = []
    taken: list[Any] = []
    for i, acts in enumerate(actions):
        for agent, action in acts.items():
            index.append(i)
            agents.append(agent)
            taken.append(action)
    who_of: dict[tuple[Any, str, Any], Any] = {}
    who = []
    for i, agent in zip(index, agents, strict=True):
        key = (game_ids[i], agent, pids[i])
        if key not in who_of:
            who_of[key] = rosters.get(game_ids[i], {}).get(agent, pids[i])
        who.append(who_of[key])
    policy_of = {w: w[len(POLICY_PREFIX) :] for w in set(who) if isinstance(w, str) and w.startswith(POLICY_PREFIX)}
    at = np.asarray(index, dtype=np.intp)
    out = {
        "game_id": game_ids[at],
        "scene_id": cols.scene_id.objects()[at],
        "episode": cols.episode[at],
        "step": cols.step[at],
        "t": cols.t[at],
        "agent_id": agents,
        "participant_id": [None if w in policy_of else w for w in who],
        "policy": [policy_of.get(w) for w in who],
        "action": _objects(taken),
        "reward": [rewards[i].get(agent) for i, agent in zip(index, agents, strict=True)],
    }
    return pd.DataFrame({name: pd.Series(values, dtype=_PLAYER_STEP_COLUMNS[name]) for name, values in out.items()})


def _player_steps_same_agents(
    cols: StepColumns,
    game_ids: np.ndarray,
    pids: np.ndarray,
    rosters: dict[Any, dict[str, Any]],
    actions: list[dict[str, Any]],
    rewards: list[dict[str, Any]],
    agents: list[str],
) -> pd.DataFrame:
    """:func:`player_steps_frame` when every step has the same agents: each agent's column at once,
    then interleaved (row 0's agents, row 1's, ...) by slicing, as the row-by-row build orders them."""
    n, k = cols.n, len(agents)

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
        "game_id": cols.game_id.typed("str", np.repeat(cols.game_id.codes, k)),
        "scene_id": cols.scene_id.typed("str", np.repeat(cols.scene_id.codes, k)),
        "episode": np.repeat(cols.episode, k),
        "step": np.repeat(cols.step, k),
        "t": np.repeat(cols.t, k),
        "agent_id": np.tile(np.array(agents, dtype=object), n),
        "participant_id": [None if w in policy_of else w for w in who],
        "policy": [policy_of.get(w) for w in who],
        "action": interleave([[a[agent] for a in actions] for agent in agents]),
        "reward": interleave([[r.get(agent) for r in rewards] for agent in agents]),
    }
    return pd.DataFrame({name: pd.Series(values, dtype=_PLAYER_STEP_COLUMNS[name]) for name, values in out.items()})
