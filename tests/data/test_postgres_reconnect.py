"""A PostgreSQL store outlives a restart of its server: writes after the restart land.

The tests restart a PostgreSQL server of their own (tests/postgres.py, ``pg_ctl restart`` with a
fast shutdown: every connection is ended, as in an upgrade or a failover), so the session's shared
server and the other tests' connections are not disturbed. What a user would notice:

* a store (and a running `mug serve`) keeps writing after the restart, every record once;
* a transaction cut by the restart is retried once, and commits whole;
* a retry that would act on data changed meanwhile commits nothing and says so;
* a database that stays down is an error naming the URL (password hidden) and the cause, and the
  store writes again once it is back.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from envs import walk_scene
from helpers import eventually, run_async
from postgres import Postgres, running_postgres

import mug
from mug.data import Store, load_results
from mug.data.backends import DatabaseUnavailable
from mug.data.backends.postgres import PostgresDatabase
from mug.widgets import autopilot


@pytest.fixture(scope="module")
def restartable() -> Iterator[Postgres]:
    """A PostgreSQL server of this module's own, which its tests restart and stop."""
    with running_postgres() as server:
        yield server


@pytest.fixture
def database(restartable: Postgres) -> str:
    """A new database of its own on the restartable server."""
    return restartable.create_database()


def steps(first: int, count: int) -> list[dict]:
    return [
        {"game_id": "g", "episode": 1, "step": i, "participant_id": "p1", "scene_id": "walk", "t": 1000.0 + i,
         "actions": {"walker": i % 3}, "rewards": {"walker": 1.0}, "terminated": False, "truncated": False}
        for i in range(first, first + count)
    ]  # fmt: skip


def test_writes_after_a_restart_land_once_each(restartable: Postgres, database: str) -> None:
    with Store(database) as store:
        store.get_or_create_participant("p1", {}, 1.0)
        assert store.add_steps(steps(0, 50)) == 50
        restartable.restart()  # the store's connection is now dead
        assert store.add_steps(steps(50, 50)) == 50  # reconnects at the transaction's start
        assert store.add_steps(steps(25, 50)) == 0  # a resend after the restart is still idempotent
        store.mark_active("p1", 2.0)
    results = load_results(database)
    assert results.steps["step"].tolist() == list(range(100))
    assert list(results.participants["participant_id"]) == ["p1"]


def test_a_transaction_cut_by_a_restart_is_retried_once_and_commits_whole(restartable: Postgres, database: str) -> None:
    db = PostgresDatabase(database)
    try:
        db.execute("CREATE TABLE t (k BIGINT PRIMARY KEY, v TEXT)")
        with db.transaction():
            db.execute("INSERT INTO t (k, v) VALUES (?, ?) ON CONFLICT DO NOTHING", (1, "before"))
            assert db.execute("SELECT v FROM t WHERE k = ?", (1,)).fetchone() == ("before",)
            restartable.restart()  # cuts the open transaction: nothing of it was committed
            db.execute("INSERT INTO t (k, v) VALUES (?, ?) ON CONFLICT DO NOTHING", (2, "after"))
        assert db.reconnects == 1
        assert db.execute("SELECT k, v FROM t ORDER BY k").fetchall() == [(1, "before"), (2, "after")]
        # A restart between a transaction's last statement and its commit: the commit is retried too.
        with db.transaction():
            db.execute("INSERT INTO t (k, v) VALUES (?, ?) ON CONFLICT DO NOTHING", (3, "at commit"))
            restartable.restart()
        assert db.reconnects == 2
        assert db.execute("SELECT count(*) FROM t").fetchone() == (3,)
    finally:
        db.close()


def test_a_retry_that_would_act_on_changed_data_commits_nothing(restartable: Postgres, database: str) -> None:
    db = PostgresDatabase(database)
    other = PostgresDatabase(database)
    try:
        db.execute("CREATE TABLE counter (k BIGINT PRIMARY KEY, n BIGINT)")
        db.execute("INSERT INTO counter (k, n) VALUES (1, 5)")
        changed = "changed meanwhile; nothing of it was committed"
        with pytest.raises(DatabaseUnavailable, match=changed) as raised, db.transaction():
            (n,) = db.execute("SELECT n FROM counter WHERE k = 1 FOR UPDATE").fetchone()
            restartable.restart()
            other.execute("UPDATE counter SET n = 7 WHERE k = 1")  # (reconnects: a restart for it too)
            db.execute("UPDATE counter SET n = ? WHERE k = 1", (n + 1,))
        assert f"postgresql://mug@127.0.0.1:{restartable.port}/" in str(raised.value)  # names the database
        assert db.execute("SELECT n FROM counter WHERE k = 1").fetchone() == (7,)  # not the stale 6
    finally:
        db.close()
        other.close()


def test_a_database_that_stays_down_is_named_with_its_cause_and_used_again_once_back(
    restartable: Postgres, database: str
) -> None:
    with_password = database.replace("postgresql://mug@", "postgresql://mug:s3cret@")
    with Store(with_password, timeout=2.0) as store:
        store.get_or_create_participant("p1", {}, 1.0)
        restartable.halt()
        try:
            started = time.monotonic()
            with pytest.raises(DatabaseUnavailable) as raised:
                store.add_steps(steps(0, 10))
            waited = time.monotonic() - started
            message = str(raised.value)
            assert "postgresql://mug:***@127.0.0.1" in message and "s3cret" not in message
            assert "unreachable" in message and "Connection refused" in message
            assert waited >= 2.0  # it tried to reconnect for the store's timeout...
            started = time.monotonic()
            with pytest.raises(DatabaseUnavailable):
                store.add_steps(steps(0, 10))
            assert time.monotonic() - started < 1.5  # ...and while still down, later calls fail at once
        finally:
            restartable.resume()  # (also when an assertion failed: the module's other tests need it)
        assert store.add_steps(steps(0, 10)) == 10  # nothing of the failed calls was committed
    assert load_results(database).steps["step"].tolist() == list(range(10))


def test_a_server_keeps_recording_a_game_through_a_restart_of_its_database(
    tmp_path: Path, restartable: Postgres, database: str
) -> None:
    scenes = [mug.StartScene().scene("hello"), walk_scene(length=150), mug.EndScene().scene("end")]
    exp = mug.Experiment("restart", scenes, data_dir=tmp_path / "unused", database=database)
    server = exp.serve()
    fed: list[dict] = []
    try:
        feed = server.feed(fed.append, interval=0.1)  # the monitor's live view: its connection is cut too
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            playing = pool.submit(run_async, autopilot(server, "p1", policy=lambda spec, step: 2, timeout=90))
            eventually(lambda: any(g["step"] >= 30 for g in server.snapshot()["games"]), timeout=60)
            restartable.restart()  # mid-game: about 120 steps are still to be played and recorded
            assert playing.result(timeout=120) == "p1"
        # The live view reads again after the restart: it shows the participant finished.
        eventually(lambda: fed and [p["status"] for p in fed[-1]["participants"]] == ["completed"], timeout=30)
        feed.stop()
    finally:
        server.stop()
    results = load_results(database)
    assert results.steps["step"].tolist() == list(range(1, 151))  # every step once, also those after the restart
    (episode,) = results.episodes.itertuples()
    assert episode.outcome == "completed" and episode.num_steps == 150
    assert results.participants.loc[0, "completion_code"]
