"""PostgreSQL as the store: a real server run gives the results SQLite gives (and replays); several processes
write at once without duplicates; load_results/`mug export` read a URL; bad URLs and unreachable
databases say what is wrong; an old SQLite file gains the games' host column; a process closes
only its own open games.

PostgreSQL is a throwaway instance of the session (tests/postgres.py, tests/data/conftest.py).
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from envs import walk_scene
from helpers import run_async

import mug
from mug.data import Store, load_results, open_store
from mug.data.backends import open_database
from mug.replay import replay_game
from mug.scenes import SceneConfigError
from mug.widgets import autopilot

# -- a server run on each backend -----------------------------------------------------------------

#: Columns that differ between two runs of the same study by nature: clocks and random game ids.
VARYING = {
    "t", "time", "started_at", "ended_at", "duration_s", "created_at", "updated_at", "entered_at", "exited_at",
    "submitted_at", "game_id",
}  # fmt: skip


def run_study(tmp_path: Path, database: str | None) -> mug.Results:
    """Two scripted participants play a server-run walk (always action 0: the scene's default, so the
    record does not depend on when their actions arrive) through a real server."""
    scenes = [mug.StartScene().scene("hello"), walk_scene(length=40), mug.EndScene().scene("end")]
    exp = mug.Experiment("walks", scenes, data_dir=tmp_path, database=database)
    server = exp.serve()
    try:
        for pid in ("walker-1", "walker-2"):
            run_async(autopilot(server, pid, policy=lambda spec, step: 0))
    finally:
        server.stop()
    return exp.results()


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame without the varying columns, its rows in an order of their own (rows ordered by a
    random game id come in another order in each run)."""
    kept = frame.drop(columns=[c for c in frame.columns if c in VARYING])
    order = sorted(range(len(kept)), key=lambda i: tuple(map(str, kept.iloc[i])))
    return kept.iloc[order].reset_index(drop=True)


def test_a_server_run_on_postgresql_gives_the_results_of_the_same_run_on_sqlite(tmp_path: Path, postgres_url):
    on_sqlite = run_study(tmp_path / "sqlite", None)
    on_postgres = run_study(tmp_path / "postgres", postgres_url)
    assert not (tmp_path / "postgres" / "walks" / "mug.sqlite3").exists()  # (everything went to PostgreSQL)
    assert on_postgres.path == postgres_url and on_postgres.metadata["config"]["experiment_id"] == "walks"
    assert len(on_postgres.steps) == 80 and list(on_postgres.games["outcome"]) == ["completed", "completed"]
    for name in ("participants", "scene_visits", "forms", "games", "episodes", "steps", "player_steps", "p2p"):
        mine, theirs = getattr(on_postgres, name), getattr(on_sqlite, name)
        assert list(mine.columns) == list(theirs.columns), name
        assert dict(mine.dtypes) == dict(theirs.dtypes), name
        pd.testing.assert_frame_equal(comparable(mine), comparable(theirs), obj=name)
    # A replay reads the game and its config from the database alone (no experiment.json there).
    replayed = replay_game(postgres_url, str(on_postgres.games.iloc[0]["game_id"]))
    assert replayed.ok and replayed.record.path == postgres_url and len(replayed.episodes[1].steps) == 40
    assert dict(on_postgres.events.dtypes.iloc[:5]) == dict(on_sqlite.events.dtypes.iloc[:5])


# -- several processes at once ---------------------------------------------------------------------


def _writer(url: str, barrier: multiprocessing.synchronize.Barrier, who: int, queue: multiprocessing.Queue) -> None:
    """One server process's share: the same participants, steps, forms, client records as the other's."""
    try:
        with Store(url) as store:
            barrier.wait(timeout=30)
            rows = [
                Store.encode_step(
                    {
                        "game_id": f"g{i // 100}",
                        "episode": 1,
                        "step": i % 100,
                        "participant_id": None,
                        "scene_id": "walk",
                        "t": 1000.0 + i,
                        "actions": {"a": 1},
                        "rewards": {"a": 0.5},
                        "terminated": False,
                        "truncated": False,
                        "infos": {},
                        "observations": None,
                    }
                )
                for i in range(2000)
            ]
            for start in range(0, len(rows), 100):
                store.add_encoded_steps(rows[start : start + 100])
            orders = []
            for p in range(20):
                pid = f"p{p}"
                store.get_or_create_participant(pid, {"who": str(who)}, 1.0 + who)
                store.enter_scene(pid, 1, "walk", "gym", 2.0)
                store.add_form(pid, "survey", {"q": who}, 3.0 + who)
                records = [{"seq": s, "kind": "event", "payload": {"kind": "focus", "data": {"s": s}, "t": 4.0}}
                           for s in range(5)]  # fmt: skip
                store.commit_client_records(pid, records, source="tab")
                # Balanced assignment: the order used least so far (sees every other's, never a stale count).
                orders.append(store.assign_scene_order(pid, _least_used, 5.0))
        queue.put(("ok", who))
    except BaseException as exc:  # (reported to the test)
        queue.put(("error", f"{type(exc).__name__}: {exc}"))


def _least_used(others: list[list[str]]) -> list[str]:
    a, b = ["x", "y"], ["y", "x"]
    return a if others.count(a) <= others.count(b) else b


def test_two_processes_writing_the_same_records_at_once_store_each_once(postgres_url):
    Store(postgres_url).close()  # (the schema exists before they race)
    context = multiprocessing.get_context("fork")
    barrier, queue = context.Barrier(2), context.Queue()
    workers = [context.Process(target=_writer, args=(postgres_url, barrier, who, queue)) for who in (1, 2)]
    for worker in workers:
        worker.start()
    try:
        outcomes = [queue.get(timeout=120) for _ in workers]
    finally:
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()
    assert sorted(outcomes) == [("ok", 1), ("ok", 2)]
    with Store(postgres_url) as store:
        counts = store.counts()
        assert counts["steps"] == 2000 and counts["participants"] == 20 and counts["forms"] == 20
        assert counts["client_records"] == 100 and counts["events"] == 100  # each seq once, its event once
        assert counts["scene_visits"] == 20  # (the second entry of the same scene was a reload)
        forms = store.forms_of("p3")
        assert forms["survey"] == {"q": 2}  # the later submission's answers
    results = load_results(postgres_url, include_idle=True)
    orders = [tuple(order) for order in results.participants["data.scene_order"]]
    assert sorted(set(orders)) == [("x", "y"), ("y", "x")] and orders.count(("x", "y")) == 10  # balanced
    assert (results.scene_visits["reloads"] == 1).all()


# -- reading a URL --------------------------------------------------------------------------------


def test_load_results_and_mug_export_read_a_postgresql_url(tmp_path: Path, postgres_url):
    with Store(postgres_url) as store:
        store.write_metadata({"experiment_id": "x", "scenes": []}, {"mug": "test"})
        store.get_or_create_participant("p1", {}, 1.0)
        store.mark_active("p1", 1.0)
        store.add_steps([{"game_id": "g", "episode": 1, "step": 1, "participant_id": "p1", "scene_id": "s",
                          "t": 2.0, "actions": {"a": 1}, "rewards": {"a": 1.0}, "terminated": True,
                          "truncated": False}])  # fmt: skip
    results = load_results(postgres_url)
    assert len(results.steps) == 1 and list(results.participants["participant_id"]) == ["p1"]
    mug_command = str(Path(sys.executable).with_name("mug"))
    out = tmp_path / "export"
    done = subprocess.run([mug_command, "export", postgres_url, "--out", str(out)], capture_output=True, text=True,
                          timeout=120, env={**os.environ})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert pd.read_csv(out / "steps.csv")["action"].tolist() == [1]
    assert (out / "experiment.json").is_file()  # (from the database's metadata table)


# -- bad locations --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("database", "message"),
    [
        ("mysql://u@host/db", "unsupported scheme 'mysql://'"),
        ("postgresql://u@127.0.0.1:5432/", "no database name"),
        ("postgresql://u@127.0.0.1:port/db", "port is not a number"),
        ("postgresql://u:hunter2@127.0.0.1:99999/db", "port is not a number"),
        ("data/results.sqlite3", "file mug.sqlite3 in a data folder"),
        ("", "must be a PostgreSQL URL"),
    ],
)
def test_a_bad_database_option_is_refused_when_the_experiment_is_defined(database: str, message: str):
    with pytest.raises(SceneConfigError, match=message) as caught:
        mug.Experiment("x", [mug.StartScene().scene("a"), mug.EndScene().scene("b")], database=database)
    assert "hunter2" not in str(caught.value)


def test_an_unreachable_or_missing_database_names_the_url(postgres_server):
    with pytest.raises(ConnectionError, match=r"cannot connect to the PostgreSQL database postgresql://mug:\*\*\*@"
                       r"127\.0\.0\.1:1/nothere") as caught:  # fmt: skip
        Store("postgresql://mug:secret@127.0.0.1:1/nothere", timeout=2)
    assert "secret" not in str(caught.value)
    missing = postgres_server.url_of("no_such_db")
    with pytest.raises(ConnectionError, match=r"no_such_db.*does not exist"):
        load_results(missing)
    with pytest.raises(ValueError, match="not a MUG database"):
        load_results(postgres_server.create_database())  # (a database without MUG's tables)


# -- host of a game; migration ----------------------------------------------------------------------


def test_a_process_closes_only_its_own_open_games(location):
    with Store(location) as store:
        store.start_game("mine", "walk", "server", {"walker": "p1"}, 1, 1.0, host="server-a")
        store.start_game("theirs", "walk", "server", {"walker": "p2"}, 1, 1.0, host="server-b")
        store.start_game("old", "walk", "server", {"walker": "p3"}, 1, 1.0)
        assert [g["game_id"] for g in store.close_open_games(5.0, host="server-a")] == ["mine"]
        assert [g["game_id"] for g in store.close_open_games(6.0)] == ["old", "theirs"]  # (no host: every one)
    games = load_results(location, include_idle=True).games.set_index("game_id")
    assert games.loc["mine", "ended_at"] == 5.0 and games.loc["theirs", "ended_at"] == 6.0
    assert set(games["outcome"]) == {"interrupted"}


def test_a_version_4_sqlite_file_gains_the_host_column_and_keeps_its_games(tmp_path: Path):
    with Store(tmp_path) as store:
        store.start_game("g1", "walk", "server", {"walker": "p1"}, 1, 1.0)
    conn = sqlite3.connect(tmp_path / "mug.sqlite3")
    conn.executescript("ALTER TABLE games DROP COLUMN host; PRAGMA user_version = 4;")
    conn.close()
    with open_store(tmp_path) as store:
        store.start_game("g2", "walk", "server", {"walker": "p2"}, 1, 2.0, host="server-a")
    db = open_database(tmp_path)
    try:
        assert db.execute("SELECT game_id, host FROM games ORDER BY game_id").fetchall() == [
            ("g1", None),
            ("g2", "server-a"),
        ]
        assert db.schema_version() == 5
    finally:
        db.close()


def test_the_live_views_read_a_postgresql_store(postgres_url):
    from mug.data.live import StoredCache, latest_step, stored_state
    from mug.data.live import open_database as open_live
    from mug.data.timeline import events_since, participant_detail

    with Store(postgres_url) as store:
        store.get_or_create_participant("p1", {}, 1.0)
        store.enter_scene("p1", 1, "walk", "gym", 1.5)
        store.exclude_participant("p1", "too slow", 2.0)
        store.get_or_create_participant("p2", {}, 1.0)  # (opened the page, never did anything)
        store.add_steps([{"game_id": "g", "episode": 1, "step": 3, "participant_id": "p1", "scene_id": "walk",
                          "t": 1.8, "actions": {"a": 1}, "rewards": {"a": 0.0}, "terminated": False,
                          "truncated": False}])  # fmt: skip
    conn = open_live(postgres_url)
    try:
        state = stored_state(conn)
        assert state["counts"] == {"excluded": 1, "total": 1, "idle": 1}
        assert state["exclusions"] == [{"participant_id": "p1", "scene_id": "walk", "reason": "too slow", "t": 2.0}]
        assert StoredCache(postgres_url).read()["counts"] == {"idle": 1, "excluded": 1, "total": 1}
        assert latest_step(conn, "walk", {"p1"}) == (1, 3)
        assert [e["kind"] for e in events_since(conn, 0)] == ["excluded"]
        assert participant_detail(conn, "p1")["visits"][0]["exited_at"] == 2.0
    finally:
        conn.close()
    assert open_live("postgresql://mug@127.0.0.1:1/nothere") is None  # (unreachable: the next read tries again)
