"""``results().player_steps`` is built when first read, and equals the table built row by row.

``load_results`` on a million steps took 24 s, 10-15 of them for ``player_steps``, which most
analyses never read; it is now built on first access (from the same snapshot). These tests count
the builds, and compare the lazy table with one made here the plain way (one row per agent per
step, straight from the stored rows), on both backends (``location``, tests/data/conftest.py).
The steps are stored out of order and with game ids whose order depends on case and accents,
because ``results()`` sorts the step rows itself (not with ``ORDER BY``; see mug.data.step_frames).
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

import mug.data.results as results_module
from mug.data import Store, load_results
from mug.data.backends import open_database

# (upper case sorts before lower case, and "é" after "z", by code point as in the database)
ROSTERS = {
    "b-game": {"red": "alice", "blue": "policy:greedy"},
    "B-game": {"red": "bob"},  # (blue: not in the roster, so the step's participant)
    "é-game": {"red": "policy:random", "blue": "carol"},
}


def _step(game_id: str, episode: int, step: int, actions: dict[str, Any], **over: Any) -> dict[str, Any]:
    row = {
        "game_id": game_id,
        "episode": episode,
        "step": step,
        "participant_id": over.pop("participant_id", None),
        "scene_id": "race",
        "t": 1_767_225_600.0 + step / 30,
        "actions": actions,
        "rewards": {agent: float(step % 3) for agent in actions},
        "terminated": False,
        "truncated": step == 3,
        "infos": {agent: {"lives": 3 - step % 2} for agent in actions},
        "observations": None,
    }
    row.update(over)
    return row


def _record(location: Any, *, varying_agents: bool) -> None:
    """Three games, their steps stored newest first and interleaved across games."""
    with Store(location) as store:
        for game_id, roster in ROSTERS.items():
            store.start_game(game_id, "race", "server_authoritative", roster, 1, 0.0)
        rows = []
        for step in (3, 2, 1):
            for game_id in ROSTERS:
                for episode in (2, 1):
                    actions: dict[str, Any] = {"red": step % 2, "blue": [step, 0]}  # (a list: a multi-discrete action)
                    if varying_agents and game_id == "b-game" and step == 2:
                        actions = {"blue": [9, 9]}  # (one agent left this step)
                    rows.append(_step(game_id, episode, step, actions, participant_id="p-" + game_id))
        store.add_steps(rows)


def _row_by_row(location: Any) -> pd.DataFrame:
    """player_steps the plain way: every stored step in key order, one row per agent in its actions."""
    db = open_database(location, readonly=True)
    try:
        steps = db.execute(
            "SELECT game_id, scene_id, episode, step, t, actions, rewards, participant_id FROM steps"
        ).fetchall()
        rosters = {g: json.loads(p) for g, p in db.execute("SELECT game_id, players FROM games").fetchall()}
    finally:
        db.close()
    out = []
    for game_id, scene_id, episode, step, t, actions, rewards, pid in sorted(steps, key=lambda r: r[0:1] + r[2:4]):
        reward_of = json.loads(rewards)
        for agent, action in json.loads(actions).items():
            who = rosters[game_id].get(agent) or pid
            policy = who[len("policy:") :] if who.startswith("policy:") else None
            out.append(
                [game_id, scene_id, episode, step, t, agent, None if policy else who, policy, action, reward_of[agent]]
            )
    columns = [
        "game_id",
        "scene_id",
        "episode",
        "step",
        "t",
        "agent_id",
        "participant_id",
        "policy",
        "action",
        "reward",
    ]
    frame = pd.DataFrame(out, columns=columns)
    dtypes = {"episode": "int64", "step": "int64", "t": "float64", "action": "object", "reward": "float64"}
    return frame.astype({name: dtypes.get(name, "str") for name in columns})


def test_player_steps_is_built_on_first_read_only(location, monkeypatch) -> None:
    _record(location, varying_agents=False)
    builds = []
    real = results_module.player_steps_frame

    def counted(*args: Any, **kwargs: Any) -> pd.DataFrame:
        builds.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(results_module, "player_steps_frame", counted)
    results = load_results(location)
    text = repr(results)  # (row counts, player_steps' too, without building it)
    counts = results.row_counts()
    without = results.tables(include_player_steps=False)
    from mug.widgets.plots import summary_html

    summary_html(results)  # (the notebook's display of results)
    assert builds == []
    assert "player_steps" not in without and list(without)[-2:] == ["events", "p2p"]
    frame = results.player_steps
    assert builds == [1]
    assert results.player_steps is frame and results.tables()["player_steps"] is frame and builds == [1]
    assert counts["player_steps"] == len(frame) == 2 * 3 * 2 * 3  # (agents x games x episodes x steps)
    assert counts == {name: len(table) for name, table in results.tables().items()}
    assert f"  player_steps  {len(frame):>8} rows" in text


def test_the_lazy_table_equals_the_row_by_row_one(location) -> None:
    _record(location, varying_agents=False)
    pd.testing.assert_frame_equal(load_results(location).player_steps, _row_by_row(location), check_exact=True)


def test_steps_whose_agents_vary_give_the_row_by_row_table(location) -> None:
    _record(location, varying_agents=True)
    results = load_results(location)
    expected = _row_by_row(location)
    assert len(expected) == 2 * 3 * 2 * 3 - 2  # (b-game's red sat out step 2 of both episodes)
    pd.testing.assert_frame_equal(results.player_steps, expected, check_exact=True)


def test_steps_come_in_key_order_with_their_values_and_no_shared_cells(location) -> None:
    _record(location, varying_agents=True)
    steps = load_results(location).steps
    keys = list(zip(steps["game_id"], steps["episode"], steps["step"], strict=True))
    assert keys == sorted(keys) and keys[0] == ("B-game", 1, 1) and keys[-1] == ("é-game", 2, 3)
    assert len(keys) == 3 * 2 * 3
    gone = steps[(steps["game_id"] == "b-game") & (steps["step"] == 2)]
    assert gone["action.red"].isna().all() and gone["action.blue"].tolist() == [[9, 9], [9, 9]]
    assert steps["action.blue"].iloc[0] == [1, 0] and steps["info.red.lives"].iloc[0] == 2
    assert steps["truncated"].tolist() == [s == 3 for s in steps["step"]]
    cells = steps["action.blue"].tolist()
    assert len({id(cell) for cell in cells}) == len(cells)  # (equal lists, each its own object)
