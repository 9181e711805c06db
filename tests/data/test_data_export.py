"""export_results: CSV columns, Parquet round trip, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from mug.data import Store, export_results, load_results

TABLES = ["participants", "scene_visits", "forms", "games", "episodes", "steps", "player_steps", "events", "p2p"]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "data"
    with Store(directory) as store:
        store.get_or_create_participant("p1", {"src": "lab"}, 1.0)
        store.enter_scene("p1", 0, "game", "GymScene", 2.0)
        store.start_game("g1", "game", "server", {"a": "p1", "b": "bot"}, 11, 2.0)
        store.add_steps(
            [
                {
                    "game_id": "g1",
                    "episode": 0,
                    "step": i,
                    "participant_id": "p1",
                    "scene_id": "game",
                    "t": 1_700_000_000.5 + i,
                    "actions": {"a": i, "b": [i, 0]},
                    "rewards": {"a": 1.0, "b": 0.0},
                    "terminated": i == 2,
                    "truncated": False,
                    "infos": {"a": {"hp": 10 - i}},
                    "observations": {"a": [i, i + 1]} if i == 0 else None,
                }
                for i in range(3)
            ]
        )
        store.add_episode(
            {
                "game_id": "g1",
                "episode": 0,
                "scene_id": "game",
                "participant_ids": ["p1"],
                "seed": 11,
                "started_at": 2.0,
                "ended_at": 5.0,
                "num_steps": 3,
                "returns": {"a": 3.0, "b": 0.0},
                "terminated": True,
                "truncated": False,
                "outcome": "completed",
            }
        )
        store.end_game("g1", "completed", 5.0)
        store.add_form("p1", "survey", {"age": 30, "likes": ["x", "y"], "mixed": 1}, 6.0)
        store.add_form("p2", "survey", {"age": 25, "mixed": "one"}, 7.0)
        store.add_event("p1", "game", "focus", {"visible": False}, 3.0)
        store.write_metadata({"scenes": ["game", "survey"]}, {"mug": "0.1.0"})
    return directory


def test_csv_export(data_dir: Path, tmp_path: Path):
    out = tmp_path / "export"
    written = export_results(data_dir, out)
    assert [p.name for p in written] == [f"{t}.csv" for t in TABLES] + ["experiment.json"]
    assert all(p.is_file() for p in written)
    results = load_results(data_dir)
    for table in TABLES:
        frame = pd.read_csv(out / f"{table}.csv")
        assert list(frame.columns) == list(getattr(results, table).columns), table
        assert len(frame) == len(getattr(results, table))
    steps = pd.read_csv(out / "steps.csv")
    assert list(steps.columns) == [
        "game_id",
        "participant_id",
        "scene_id",
        "episode",
        "step",
        "t",
        "time",
        "action.a",
        "action.b",
        "reward.a",
        "reward.b",
        "terminated",
        "truncated",
        "info.a.hp",
        "obs",
    ]
    assert json.loads(steps["action.b"].iloc[1]) == [1, 0]  # lists are JSON text
    assert steps["t"].iloc[0] == 1_700_000_000.5  # full precision
    assert pd.Timestamp(steps["time"].iloc[0]) == pd.Timestamp("2023-11-14 22:13:20.5", tz="UTC")
    forms = pd.read_csv(out / "forms.csv")
    assert json.loads(forms["likes"].iloc[0]) == ["x", "y"]
    assert json.loads((out / "experiment.json").read_text())["config"] == {"scenes": ["game", "survey"]}
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_export_is_repeatable(data_dir: Path, tmp_path: Path):
    first = export_results(data_dir, tmp_path / "e")
    contents = {p.name: p.read_bytes() for p in first}
    second = export_results(data_dir, tmp_path / "e")
    assert {p.name: p.read_bytes() for p in second} == contents


def test_parquet_round_trip(data_dir: Path, tmp_path: Path):
    pytest.importorskip("pyarrow")
    out = tmp_path / "pq"
    written = export_results(data_dir, out, format="parquet")
    assert [p.name for p in written] == [f"{t}.parquet" for t in TABLES] + ["experiment.json"]
    results = load_results(data_dir)
    steps = pd.read_parquet(out / "steps.parquet")
    expected = results.steps.copy()
    expected["action.b"] = expected["action.b"].map(json.dumps)
    pd.testing.assert_frame_equal(steps, expected, check_dtype=False)
    assert str(steps["time"].dtype).startswith("datetime64") and str(steps["time"].dt.tz) == "UTC"
    assert steps["episode"].dtype == "int64"
    forms = pd.read_parquet(out / "forms.parquet")
    assert forms["age"].tolist() == [30, 25]
    assert forms["mixed"].tolist() == ["1", '"one"']  # mixed types: JSON text
    episodes = pd.read_parquet(out / "episodes.parquet")
    assert json.loads(episodes["participant_ids"].iloc[0]) == ["p1"]
    assert episodes["seed"].tolist() == [11]


def test_export_from_results_object(data_dir: Path, tmp_path: Path):
    results = load_results(data_dir)
    written = export_results(results, tmp_path / "r")
    assert (tmp_path / "r" / "steps.csv") in written


def test_export_metadata_from_database_when_file_missing(data_dir: Path, tmp_path: Path):
    (data_dir / "experiment.json").unlink()
    export_results(data_dir, tmp_path / "m")
    assert json.loads((tmp_path / "m" / "experiment.json").read_text())["versions"] == {"mug": "0.1.0"}


def test_empty_store_export(tmp_path: Path):
    Store(tmp_path / "d").close()
    written = export_results(tmp_path / "d", tmp_path / "o")
    assert [p.name for p in written] == [f"{t}.csv" for t in TABLES]  # no metadata written yet
    assert pd.read_csv(tmp_path / "o" / "steps.csv").columns.tolist() == [
        "game_id",
        "participant_id",
        "scene_id",
        "episode",
        "step",
        "t",
        "time",
        "agent_id",
        "action",
        "reward",
        "terminated",
        "truncated",
    ]


def test_unknown_format(data_dir: Path, tmp_path: Path):
    with pytest.raises(ValueError, match=r"'xlsx'.*'csv', 'parquet'"):
        export_results(data_dir, tmp_path / "x", format="xlsx")
    assert not (tmp_path / "x").exists()


def test_parquet_without_pyarrow(data_dir: Path, tmp_path: Path, monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pyarrow" else real_find_spec(name, *a)
    )
    with pytest.raises(ImportError, match="pip install pyarrow"):
        export_results(data_dir, tmp_path / "x", format="parquet")


def test_missing_source(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        export_results(tmp_path / "nothing", tmp_path / "out")
