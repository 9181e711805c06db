"""load_results: DataFrame shapes, columns and dtypes -- the same from SQLite and from PostgreSQL.

The ``store`` fixture runs each test on both backends (``location``, tests/data/conftest.py).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from mug.data import RESULT_TABLES, Results, Store, load_results

FIXED_STEP_COLUMNS = ["game_id", "participant_id", "scene_id", "episode", "step", "t", "time"]


def step(game_id="g1", episode=0, step=0, actions=None, rewards=None, infos=None, **over):
    row = {
        "game_id": game_id,
        "episode": episode,
        "step": step,
        "participant_id": "p1",
        "scene_id": "game",
        "t": 1_700_000_000.25 + step,
        "actions": {"agent_0": 1} if actions is None else actions,
        "rewards": {"agent_0": 0.5} if rewards is None else rewards,
        "terminated": False,
        "truncated": False,
        "infos": {} if infos is None else infos,
    }
    row.update(over)
    return row


@pytest.fixture
def store(location):
    with Store(location) as s:
        yield s


def test_empty_store_has_fixed_columns(store: Store):
    results = load_results(store.location)
    assert isinstance(results, Results)
    assert list(results.tables()) == list(RESULT_TABLES)
    for frame in results.tables().values():
        assert frame.empty
    # (without a saved config: the single-agent shape)
    assert list(results.steps.columns) == [
        *FIXED_STEP_COLUMNS,
        "agent_id",
        "action",
        "reward",
        "terminated",
        "truncated",
    ]
    assert str(results.steps["time"].dtype) == "datetime64[us, UTC]"
    assert results.steps["episode"].dtype == "int64"
    assert list(results.forms.columns) == ["participant_id", "scene_id", "submitted_at"]
    assert list(results.scene_visits.columns) == [
        "participant_id",
        "scene_index",
        "scene_id",
        "scene_type",
        "entered_at",
        "exited_at",
        "duration_s",
        "reloads",
    ]
    assert list(results.episodes.columns) == [
        "game_id",
        "episode",
        "scene_id",
        "participant_ids",
        "seed",
        "started_at",
        "ended_at",
        "duration_s",
        "num_steps",
        "terminated",
        "truncated",
        "outcome",
        "parity",
        "agent_id",
        "return",
    ]
    assert list(results.participants.columns) == [
        "participant_id",
        "status",
        "completion_code",
        "scene_index",
        "scene_id",
        "created_at",
        "updated_at",
    ]
    assert list(results.events.columns) == ["event_id", "participant_id", "scene_id", "kind", "t"]
    assert list(results.games.columns) == [
        "game_id",
        "scene_id",
        "mode",
        "seed",
        "started_at",
        "ended_at",
        "duration_s",
        "outcome",
    ]
    assert results.metadata == {}


def test_single_agent_steps(store: Store):
    store.add_steps(
        [
            step(step=1, infos={"agent_0": {"lives": 2, "pos": {"x": 0.5, "y": 1}}}),
            step(step=0, infos={"agent_0": {"lives": 3, "pos": {"x": 0.1, "y": 2}}}, terminated=True),
        ]
    )
    steps = load_results(store.location).steps
    assert list(steps.columns) == [
        *FIXED_STEP_COLUMNS,
        "agent_id",
        "action",
        "reward",
        "terminated",
        "truncated",
        "info.lives",
        "info.pos.x",
        "info.pos.y",
    ]
    assert steps["step"].tolist() == [0, 1]  # sorted
    assert steps["agent_id"].tolist() == ["agent_0", "agent_0"]
    assert steps["action"].tolist() == [1, 1]
    assert steps["reward"].tolist() == [0.5, 0.5]
    assert steps["terminated"].tolist() == [True, False]
    assert steps["info.lives"].tolist() == [3, 2]
    assert steps["info.pos.x"].tolist() == [0.1, 0.5]
    assert steps["t"].iloc[0] == 1_700_000_000.25
    assert steps["time"].iloc[0] == pd.Timestamp("2023-11-14 22:13:20.25", tz="UTC")
    assert "obs" not in steps.columns


def test_multi_agent_steps(store: Store):
    store.add_steps(
        [
            step(
                step=i,
                actions={"a": i, "b": [0, 1]},
                rewards={"a": 1.0, "b": -1.0},
                infos={"a": {"score": i}, "b": {"pos": {"x": 3}}},
            )
            for i in range(3)
        ]
    )
    steps = load_results(store.path or store.location).steps
    assert list(steps.columns) == [
        *FIXED_STEP_COLUMNS,
        "action.a",
        "action.b",
        "reward.a",
        "reward.b",
        "terminated",
        "truncated",
        "info.a.score",
        "info.b.pos.x",
    ]
    assert steps["action.a"].tolist() == [0, 1, 2]
    assert steps["action.b"].tolist() == [[0, 1]] * 3
    assert steps["reward.b"].tolist() == [-1.0] * 3
    assert steps["info.b.pos.x"].tolist() == [3, 3, 3]


def test_mixed_single_and_multi_agent_use_multi_form(store: Store):
    store.add_steps(
        [
            step("g1", step=0),
            step("g2", step=0, actions={"a": 0, "b": 1}, rewards={"a": 1.0, "b": 2.0}, infos={"a": {"k": 1}}),
        ]
    )
    steps = load_results(store.location).steps
    assert "agent_id" not in steps.columns
    assert {"action.agent_0", "action.a", "action.b", "reward.agent_0", "info.a.k"} <= set(steps.columns)
    assert steps["reward.agent_0"].iloc[0] == 0.5
    assert pd.isna(steps["reward.agent_0"].iloc[1])
    assert pd.isna(steps["info.a.k"].iloc[0])


def test_nan_reward_and_observations(store: Store):
    store.add_steps(
        [
            step(step=0, rewards={"agent_0": float("nan")}, observations={"agent_0": [1, 2]}),
            step(step=1),
        ]
    )
    steps = load_results(store.location).steps
    assert pd.isna(steps["reward"].iloc[0])
    assert steps["obs"].iloc[0] == '{"agent_0":[1,2]}'
    assert pd.isna(steps["obs"].iloc[1])


def test_forms_are_wide(store: Store):
    store.add_form("p1", "survey", {"age": 30, "likes": ["a", "b"]}, 5.0)
    store.add_form("p2", "survey", {"age": 41, "comment": "fine"}, 6.0)
    store.add_form("p2", "consent", {"agree": True, "scene_id": "clash"}, 4.0)
    forms = load_results(store.location).forms
    assert list(forms.columns) == [
        "participant_id",
        "scene_id",
        "submitted_at",
        "age",
        "likes",
        "agree",
        "answer.scene_id",
        "comment",
    ]
    assert forms[["participant_id", "scene_id"]].values.tolist() == [
        ["p1", "survey"],
        ["p2", "consent"],
        ["p2", "survey"],
    ]
    assert forms["likes"].iloc[0] == ["a", "b"]
    assert forms["answer.scene_id"].iloc[1] == "clash"


def test_participants_visits_events_games_episodes(store: Store):
    store.get_or_create_participant("p1", {"PROLIFIC_PID": "x1", "study": "s"}, 1.0)
    store.mark_active("p1", 1.0)  # (the server marks a participant active at their first action)
    store.update_participant_data("p1", {"group": "A"}, 1.5)
    store.enter_scene("p1", 0, "start", "StartScene", 2.0)
    store.enter_scene("p1", 0, "start", "StartScene", 2.5)
    store.enter_scene("p1", 1, "game", "GymScene", 3.0)
    store.add_event("p1", "game", "focus", {"visible": False, "extra": {"a": 1}}, 3.5)
    store.start_game("g1", "game", "p2p", {"agent_0": "p1", "agent_1": "bot"}, None, 3.0)
    store.end_game("g1", "completed", 9.0)
    store.add_episode(
        {
            "game_id": "g1",
            "episode": 0,
            "scene_id": "game",
            "participant_ids": ["p1"],
            "seed": 5,
            "started_at": 3.0,
            "ended_at": 8.0,
            "num_steps": 50,
            "returns": {"agent_0": 1.0, "agent_1": 2.0},
            "terminated": True,
            "truncated": False,
            "outcome": "completed",
        }
    )
    r = load_results(store.location)

    p = r.participants
    assert p[["query.PROLIFIC_PID", "query.study", "data.group"]].values.tolist() == [["x1", "s", "A"]]
    assert p["scene_index"].tolist() == [1]

    v = r.scene_visits
    assert v[["scene_id", "reloads"]].values.tolist() == [["start", 1], ["game", 0]]
    assert v["duration_s"].iloc[0] == 1.0
    assert pd.isna(v["duration_s"].iloc[1])

    e = r.events
    assert e["data.visible"].tolist() == [False]
    assert e["data.extra"].tolist() == [{"a": 1}]  # one level only

    g = r.games
    assert g[["players.agent_0", "players.agent_1"]].values.tolist() == [["p1", "bot"]]
    assert g["duration_s"].tolist() == [6.0]
    assert pd.isna(g["seed"].iloc[0])

    ep = r.episodes
    assert ep["participant_ids"].tolist() == [["p1"]]
    assert ep[["return.agent_0", "return.agent_1"]].values.tolist() == [[1.0, 2.0]]
    assert ep["duration_s"].tolist() == [5.0]
    assert ep["seed"].tolist() == [5]


def test_single_agent_episode_columns(store: Store):
    store.add_episode(
        {
            "game_id": "g1",
            "episode": 0,
            "scene_id": "game",
            "participant_ids": ["p1"],
            "seed": None,
            "started_at": 3.0,
            "ended_at": 8.0,
            "num_steps": 50,
            "returns": {"agent_0": 4.5},
            "terminated": False,
            "truncated": True,
            "outcome": "aborted",
        }
    )
    ep = load_results(store.location).episodes
    assert ep[["agent_id", "return"]].values.tolist() == [["agent_0", 4.5]]


def test_metadata_from_file_then_database(store: Store):
    store.write_metadata({"fps": 30}, {"mug": "0.1.0"})
    results = load_results(store.location)
    assert results.metadata["config"] == {"fps": 30}
    if store.directory is None:  # PostgreSQL: from the database, the URL as its path
        assert results.metadata["versions"] == {"mug": "0.1.0"} and results.path == store.location
        return
    (store.directory / "experiment.json").unlink()
    results = load_results(store.path)  # the database file itself works too
    assert results.metadata["versions"] == {"mug": "0.1.0"}
    assert results.path == store.directory


def test_repr_summarises_counts(store: Store):
    store.add_steps([step(step=i) for i in range(3)])
    text = repr(load_results(store.location))
    assert "steps" in text and " 3 rows" in text
    assert "participants" in text


def test_missing_paths(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match=r"mug\.sqlite3"):
        load_results(tmp_path)
    with pytest.raises(FileNotFoundError, match="no MUG data"):
        load_results(tmp_path / "nope")


def test_not_a_mug_database(tmp_path: Path):
    other = tmp_path / "other.sqlite3"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE x (a)")
    conn.close()
    with pytest.raises(ValueError, match="not a MUG database"):
        load_results(other)
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(ValueError, match="not a SQLite database"):
        load_results(junk)


def test_player_steps_say_whose_action_each_agent_took(location) -> None:
    from mug.data import Store, load_results

    with Store(location) as store:
        store.start_game("g", "race", "server_authoritative", {"red": "alice", "blue": "policy:random"}, 1, 0.0)
        store.add_steps(
            [
                {
                    "game_id": "g",
                    "episode": 1,
                    "step": s,
                    "participant_id": None,
                    "scene_id": "race",
                    "t": float(s),
                    "actions": {"red": 2, "blue": s % 3},
                    "rewards": {"red": 1.0, "blue": 0.0},
                    "terminated": False,
                    "truncated": False,
                    "infos": {},
                    "observations": None,
                }
                for s in (1, 2)
            ]
        )
    frame = load_results(location).player_steps
    assert len(frame) == 4
    red = frame[frame["agent_id"] == "red"]
    assert list(red["participant_id"]) == ["alice", "alice"] and red["policy"].isna().all()
    blue = frame[frame["agent_id"] == "blue"]
    assert list(blue["policy"]) == ["random", "random"] and list(blue["action"]) == [1, 2]
    assert list(frame.columns) == [
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


def test_the_data_root_opens_its_only_experiment(tmp_path: Path):
    # `Experiment(data_dir="data")` keeps its data in data/<experiment_id>; a researcher passes "data".
    with Store(tmp_path / "data" / "pilot") as store:
        store.add_steps([step(step=0)])
    (tmp_path / "data" / "notes").mkdir()  # (a folder without MUG data is not an experiment)
    results = load_results(tmp_path / "data")
    assert results.path == tmp_path / "data" / "pilot"
    assert len(results.steps) == 1


def test_the_data_root_of_several_experiments_names_them(tmp_path: Path):
    for name in ("pilot", "main_study"):
        Store(tmp_path / "data" / name).close()
    with pytest.raises(FileNotFoundError) as error:
        load_results(tmp_path / "data")
    message = str(error.value)
    assert "2 experiments" in message and "'main_study', 'pilot'" in message
    assert str(tmp_path / "data" / "main_study") in message  # (what to pass instead)
