"""``results()`` reads the steps through ADBC into Arrow, and gives the same frames as the Python drivers.

The ADBC path (mug.data.arrow_read) is what makes 1M steps load in seconds; the driver path
(``sqlite3``/psycopg row tuples) is kept for environments without the ADBC wheels, for
``MUG_ADBC=0``, and whenever the ADBC read cannot be used. Both must give exactly the same
DataFrames, on both backends (``location``, tests/data/conftest.py), and the ADBC connection must
read the same moment of the data as the store's own connection reads every other table.

The stored rows are chosen for what the ADBC drivers find hard: more than a batch (1,024) of rows
whose ``participant_id``, ``observations`` and ``focus`` are NULL before any text appears (SQLite's
driver types a column from its first values), games stored interleaved and out of key order, game
ids whose order depends on case and accents, list actions, nested infos.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import pandas as pd
import pytest

import mug.data.arrow_read as arrow_read
import mug.data.results as results_module
from mug.data import Store, load_results

SERVER_ROWS = 1_200  # (more than SQLite's ADBC driver's default batch of 1,024, all of it NULL-first)
P2P_GAMES = ("b-p2p", "B-p2p", "é-p2p")


def _row(game_id: str, episode: int, step: int, **over: Any) -> dict[str, Any]:
    row = {
        "game_id": game_id,
        "episode": episode,
        "step": step,
        "participant_id": None,
        "scene_id": "race",
        "t": 1_767_225_600.0 + step / 30 + episode,
        "actions": {"red": step % 4, "blue": [step % 3, 1]},
        "rewards": {"red": float(step % 5 == 0), "blue": 0.5},
        "terminated": step % 50 == 0,
        "truncated": False,
        "infos": {"red": {"lives": 3 - step % 2, "pos": {"x": step % 7}}, "blue": {}},
        "observations": None,
    }
    row.update(over)
    return row


def _record(location: Any) -> int:
    """A server-run game's rows first (NULL ids, observations, focus), then three peer-to-peer
    games' rows interleaved, newest first, with participant ids, observations and focus."""
    with Store(location) as store:
        store.start_game("srv", "race", "server_authoritative", {"red": "policy:greedy", "blue": "ann"}, 1, 0.0)
        for game_id in P2P_GAMES:
            store.start_game(game_id, "race", "client_p2p", {"red": "bob", "blue": "cat"}, 2, 0.0)
        rows = [_row("srv", 1 + i // 400, 1 + i % 400) for i in range(SERVER_ROWS)]
        store.add_steps(rows)
        later = []
        for step in range(40, 0, -1):
            for game_id in P2P_GAMES:
                later.append(
                    _row(
                        game_id, 1, step, participant_id=f"p-{game_id}", observations={"grid": [step, step + 1]},
                        focus={"red": step % 3 != 0, "blue": True},
                    )
                )  # fmt: skip
        store.add_steps(later)
        return len(rows) + len(later)


@pytest.fixture(autouse=True)
def small_tables_through_adbc(monkeypatch: pytest.MonkeyPatch) -> None:
    """These stores are small: read them through ADBC anyway (SQLite leaves tables of fewer than
    SQLITE_MIN_ROWS rows to the Python driver, which is faster than starting its reading process)."""
    monkeypatch.setattr(arrow_read, "SQLITE_MIN_ROWS", 1)


@pytest.fixture
def arrow_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times load_results built its step columns from Arrow (the ADBC path was taken)."""
    calls: list[int] = []
    real = results_module.arrow_step_columns

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(results_module, "arrow_step_columns", counted)
    return calls


def _assert_same_results(first: Any, second: Any) -> None:
    one, two = first.tables(), second.tables()
    assert list(one) == list(two)
    for name in one:
        pd.testing.assert_frame_equal(one[name], two[name], check_exact=True, obj=name)
    if first.peer_steps is None or second.peer_steps is None:
        assert first.peer_steps is second.peer_steps is None
    else:
        pd.testing.assert_frame_equal(first.peer_steps, second.peer_steps, check_exact=True, obj="peer_steps")


def test_the_adbc_and_driver_paths_give_the_same_frames(location, monkeypatch, arrow_reads, caplog) -> None:
    total = _record(location)
    with caplog.at_level(logging.WARNING, logger="mug.data"):
        fast = load_results(location, peer_rows=True)
    assert arrow_reads == [1] and not caplog.records  # (the ADBC path was taken, and nothing failed)
    monkeypatch.setenv(arrow_read.ENV_SWITCH, "0")
    driver = load_results(location, peer_rows=True)
    assert arrow_reads == [1]  # (MUG_ADBC=0: the Python driver read the rows)
    _assert_same_results(fast, driver)
    steps = fast.steps
    assert len(steps) == total and steps["game_id"].iloc[0] == "B-p2p" and steps["game_id"].iloc[-1] == "é-p2p"
    assert steps["participant_id"].isna().sum() == SERVER_ROWS and steps["obs"].notna().sum() == total - SERVER_ROWS
    assert steps["focus.red"].dtype == "boolean" and steps["focus.red"].isna().sum() == SERVER_ROWS
    cells = steps["action.blue"].tolist()
    assert len({id(cell) for cell in cells}) == len(cells)  # (equal lists, each its own object)
    pd.testing.assert_frame_equal(fast.player_steps, driver.player_steps, check_exact=True)


def test_a_sqlite_table_read_in_several_parts_gives_the_same_frames(location, monkeypatch, arrow_reads) -> None:
    _record(location)
    monkeypatch.setattr(arrow_read, "SQLITE_PARTS", 3)  # (each part a connection and a thread; PostgreSQL: one)
    monkeypatch.setattr(arrow_read, "_SQLITE_PART_MIN_ROWS", 10)
    in_parts = load_results(location, peer_rows=True)
    assert arrow_reads == [1]
    monkeypatch.setenv(arrow_read.ENV_SWITCH, "0")
    _assert_same_results(in_parts, load_results(location, peer_rows=True))


def test_without_the_adbc_packages_results_come_through_the_driver(location, monkeypatch, arrow_reads, caplog) -> None:
    _record(location)
    fast = load_results(location)
    for module in ("adbc_driver_sqlite.dbapi", "adbc_driver_postgresql.dbapi"):
        monkeypatch.setitem(sys.modules, module, None)  # (import fails, as in an environment without the wheels)
    with caplog.at_level(logging.WARNING, logger="mug.data"):
        without = load_results(location)
    assert arrow_reads == [1] and not caplog.records  # (a quiet fallback: nothing is wrong)
    _assert_same_results(fast, without)


def _add_game(location: Any, game_id: str, steps: int) -> None:
    with Store(location) as store:
        store.start_game(game_id, "race", "server_authoritative", {"red": "policy:greedy"}, 3, 0.0)
        store.add_steps([_row(game_id, 1, step) for step in range(1, steps + 1)])


def _commit_after(monkeypatch: pytest.MonkeyPatch, method: str, location: Any, game_id: str) -> None:
    """The reader load_results opens stores a new game (another connection, committed) right after ``method``."""
    real_open = arrow_read.StepsReader.open

    def opened(db: Any) -> Any:
        reader = real_open(db)
        real = getattr(reader, method)

        def then_commit(*args: Any) -> Any:
            done = real(*args)
            _add_game(location, game_id, 5)
            return done

        setattr(reader, method, then_commit)
        return reader

    monkeypatch.setattr(arrow_read.StepsReader, "open", staticmethod(opened))


def test_a_game_committed_just_before_the_read_is_in_every_table(location, monkeypatch) -> None:
    """Committed after the ADBC reader opened its transaction but before the store's connection did:
    the frames are the later moment, all of them (on SQLite the steps are then read by the store's
    connection)."""
    total = _record(location)
    _commit_after(monkeypatch, "before_snapshot", location, "late")
    results = load_results(location)
    assert "late" in results.games["game_id"].tolist()
    assert len(results.steps) == total + 5 and (results.steps["game_id"] == "late").sum() == 5


def test_a_game_committed_during_the_read_is_in_no_table(location, monkeypatch, arrow_reads) -> None:
    total = _record(location)
    _commit_after(monkeypatch, "join_snapshot", location, "later")
    results = load_results(location)
    assert arrow_reads == [1]  # (read through ADBC, at the store connection's moment)
    assert "later" not in results.games["game_id"].tolist() and len(results.steps) == total
    monkeypatch.undo()
    assert len(load_results(location).steps) == total + 5  # (the next read sees it)


def test_a_postgresql_password_is_never_shown(postgres_url, caplog) -> None:
    _record(postgres_url)
    secret = "pw-s3cret"
    url = postgres_url.replace("://mug@", f"://mug:{secret}@")  # (the test server trusts its user: any password)
    assert secret in url
    with caplog.at_level(logging.DEBUG, logger="mug"):
        results = load_results(url)
    assert secret not in str(results.path) and secret not in repr(results)
    assert all(secret not in record.getMessage() for record in caplog.records)
    message = arrow_read._scrub(f"could not connect to {url}: password authentication failed", url)
    assert secret not in message and "***" in message


def test_a_wrong_mug_adbc_value_is_named(tmp_path, monkeypatch) -> None:
    _record(tmp_path / "data")
    monkeypatch.setenv(arrow_read.ENV_SWITCH, "maybe")
    with pytest.raises(ValueError, match=r"MUG_ADBC='maybe'.*0 .*1"):
        load_results(tmp_path / "data")


def test_the_sqlite_reading_process_ends_with_each_read(tmp_path, monkeypatch, arrow_reads) -> None:
    """SQLite's ADBC driver runs in a process of its own (two copies of SQLite must not open one file
    in one process: tests/data/test_data_concurrency.py's writer thread died of SIGBUS when it ran
    here). That process ends when load_results returns; a file that is no store starts none."""
    started: list[Any] = []
    real = arrow_read._SQLiteSteps.start

    def start(db: Any) -> Any:
        started.append(real(db))
        return started[-1]

    monkeypatch.setattr(arrow_read._SQLiteSteps, "start", staticmethod(start))
    _record(tmp_path / "data")
    load_results(tmp_path / "data")
    junk = tmp_path / "junk" / "mug.sqlite3"
    junk.parent.mkdir()
    junk.write_bytes(b"not a database" * 300)
    with pytest.raises(ValueError, match="not a SQLite database"):
        load_results(junk.parent)
    assert arrow_reads == [1] and len(started) == 1  # (the junk file: no process started)
    assert started[0]._proc.poll() is not None  # (ended and reaped)


def test_a_small_sqlite_store_is_read_by_the_driver(tmp_path, monkeypatch, arrow_reads) -> None:
    monkeypatch.setattr(arrow_read, "SQLITE_MIN_ROWS", 100_000)
    started: list[Any] = []
    monkeypatch.setattr(arrow_read._SQLiteSteps, "start", staticmethod(lambda db: started.append(db)))
    total = _record(tmp_path / "data")
    assert len(load_results(tmp_path / "data").steps) == total
    assert started == [] and arrow_reads == []  # (no reading process for 1,320 rows)
