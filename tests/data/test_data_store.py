"""Store: round trip of every write method, idempotency, validation -- on SQLite and on PostgreSQL.

The ``store`` fixture runs each test on both backends (``location``, tests/data/conftest.py);
tests of what only a SQLite file has (WAL, its migrations) use a folder.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from mug.data import SCHEMA_VERSION, ParticipantRecord, RecordError, Store
from mug.data.backends import open_database


@pytest.fixture
def store(location):
    with Store(location) as s:
        yield s


def step(game_id="g1", episode=0, step=0, **over):
    row = {
        "game_id": game_id,
        "episode": episode,
        "step": step,
        "participant_id": "p1",
        "scene_id": "game",
        "t": 1000.0 + step,
        "actions": {"agent_0": 1},
        "rewards": {"agent_0": 0.5},
        "terminated": False,
        "truncated": False,
        "infos": {},
        "observations": None,
    }
    row.update(over)
    return row


def episode(game_id="g1", episode=0, **over):
    row = {
        "game_id": game_id,
        "episode": episode,
        "scene_id": "game",
        "participant_ids": ["p1"],
        "seed": 7,
        "started_at": 1000.0,
        "ended_at": 1010.0,
        "num_steps": 10,
        "returns": {"agent_0": 5.0},
        "terminated": True,
        "truncated": False,
        "outcome": "completed",
    }
    row.update(over)
    return row


def rows(store: Store, sql: str, *params):
    """What a connection of its own reads from the store's database (what was committed)."""
    conn = open_database(store.location)
    try:
        return [tuple(row) for row in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


# -- lifecycle ----------------------------------------------------------------------------------


def test_creates_folder_and_wal_database(tmp_path: Path):
    with Store(tmp_path / "a" / "b") as s:
        assert s.path == tmp_path / "a" / "b" / "mug.sqlite3"
        assert s.path.is_file()
        conn = sqlite3.connect(s.path)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()
    assert s.closed


def test_reopen_keeps_data(tmp_path: Path):
    with Store(tmp_path) as s:
        s.get_or_create_participant("p1", {}, 1.0)
    with Store(tmp_path) as s:
        assert s.get_participant("p1") is not None


def test_closed_store_refuses_calls(tmp_path: Path):
    s = Store(tmp_path)
    s.close()
    s.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        s.counts()
    with pytest.raises(RuntimeError, match="closed"):
        s.add_event(None, None, "x", {}, 1.0)


def test_bad_synchronous_setting(tmp_path: Path):
    with pytest.raises(ValueError, match="synchronous"):
        Store(tmp_path, synchronous="OFF")  # type: ignore[arg-type]


def test_refuses_database_from_newer_schema(tmp_path: Path):
    Store(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "mug.sqlite3")
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    with pytest.raises(RuntimeError, match="newer"):
        Store(tmp_path)


# -- participants and scene visits --------------------------------------------------------------


def test_participant_round_trip_and_idempotent_creation(store: Store):
    created = store.get_or_create_participant("p1", {"PROLIFIC_PID": "abc"}, 10.0)
    assert created == ParticipantRecord(
        participant_id="p1",
        created_at=10.0,
        updated_at=10.0,
        query={"PROLIFIC_PID": "abc"},
        scene_index=0,
        scene_id=None,
        status="active",
        completion_code=None,
        data={},
    )
    again = store.get_or_create_participant("p1", {"other": "x"}, 20.0)
    assert again == created  # first query kept, nothing changed
    assert store.get_participant("p1") == created
    assert store.get_participant("nobody") is None
    assert store.counts()["participants"] == 1


def test_update_participant_data_merges(store: Store):
    store.get_or_create_participant("p1", {}, 1.0)
    store.update_participant_data("p1", {"a": 1, "b": {"x": 1}}, 2.0)
    store.update_participant_data("p1", {"b": 2, "c": [1, 2]}, 3.0)
    record = store.get_participant("p1")
    assert record.data == {"a": 1, "b": 2, "c": [1, 2]}
    assert record.updated_at == 3.0
    with pytest.raises(KeyError, match="nobody"):
        store.update_participant_data("nobody", {}, 1.0)


def test_enter_scene_opens_and_closes_visits(store: Store):
    store.get_or_create_participant("p1", {}, 1.0)
    store.enter_scene("p1", 0, "start", "StartScene", 2.0)
    store.enter_scene("p1", 1, "game", "GymScene", 5.0)
    record = store.get_participant("p1")
    assert (record.scene_index, record.scene_id) == (1, "game")
    visits = rows(
        store,
        "SELECT scene_index, scene_id, scene_type, entered_at, exited_at, reloads FROM scene_visits "
        "ORDER BY visit_id",
    )
    assert visits == [(0, "start", "StartScene", 2.0, 5.0, 0), (1, "game", "GymScene", 5.0, None, 0)]


def test_reload_does_not_duplicate_visit(store: Store):
    store.get_or_create_participant("p1", {}, 1.0)
    store.enter_scene("p1", 0, "start", "StartScene", 2.0)
    store.enter_scene("p1", 0, "start", "StartScene", 3.0)
    store.enter_scene("p1", 0, "start", "StartScene", 4.0)
    assert rows(store, "SELECT entered_at, exited_at, reloads FROM scene_visits") == [(2.0, None, 2)]
    # Going back to a scene visited earlier (not open) is a new visit.
    store.enter_scene("p1", 1, "game", "GymScene", 5.0)
    store.enter_scene("p1", 0, "start", "StartScene", 6.0)
    assert store.counts()["scene_visits"] == 3


def test_enter_scene_unknown_participant(store: Store):
    with pytest.raises(KeyError):
        store.enter_scene("nobody", 0, "start", "StartScene", 1.0)
    assert store.counts()["scene_visits"] == 0


def test_complete_participant_closes_visit(store: Store):
    store.get_or_create_participant("p1", {}, 1.0)
    store.enter_scene("p1", 0, "start", "StartScene", 2.0)
    store.complete_participant("p1", "C0DE", 9.0)
    record = store.get_participant("p1")
    assert (record.status, record.completion_code, record.updated_at) == ("completed", "C0DE", 9.0)
    assert rows(store, "SELECT exited_at FROM scene_visits") == [(9.0,)]


def test_exclude_participant_logs_event(store: Store):
    store.get_or_create_participant("p1", {}, 1.0)
    store.enter_scene("p1", 1, "game", "GymScene", 2.0)
    store.exclude_participant("p1", "focus lost too long", 3.0)
    assert store.get_participant("p1").status == "excluded"
    assert rows(store, "SELECT participant_id, scene_id, kind, data, t FROM events") == [
        ("p1", "game", "excluded", '{"reason":"focus lost too long"}', 3.0)
    ]
    assert rows(store, "SELECT exited_at FROM scene_visits") == [(3.0,)]


# -- records ------------------------------------------------------------------------------------


def test_add_steps_round_trip_and_idempotent(store: Store):
    batch = [step(step=i, infos={"agent_0": {"lives": 3}}) for i in range(5)]
    batch[4]["observations"] = {"agent_0": [0.5, float("nan")]}
    assert store.add_steps(batch) == 5
    assert store.add_steps(batch) == 0
    assert store.add_steps([step(step=4), step(step=5)]) == 1
    assert store.add_steps([]) == 0
    assert store.counts()["steps"] == 6
    got = rows(
        store,
        "SELECT game_id, episode, step, participant_id, scene_id, t, actions, rewards, terminated, "
        "truncated, infos, observations FROM steps WHERE step = 4",
    )
    assert got == [
        (
            "g1",
            0,
            4,
            "p1",
            "game",
            1004.0,
            '{"agent_0":1}',
            '{"agent_0":0.5}',
            0,
            0,
            '{"agent_0":{"lives":3}}',
            '{"agent_0":[0.5,null]}',
        )
    ]


def test_add_steps_optional_fields_default(store: Store):
    row = step()
    for key in ("participant_id", "infos", "observations"):
        del row[key]
    assert store.add_steps([row]) == 1
    assert rows(store, "SELECT participant_id, infos, observations FROM steps") == [(None, "{}", None)]


def test_add_steps_bad_row_refuses_whole_batch(store: Store):
    batch = [step(step=0), step(step=1, terminated="no")]
    with pytest.raises(RecordError, match=r"steps\[1\]\.terminated"):
        store.add_steps(batch)
    assert store.counts()["steps"] == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"episode": -1}, r"steps\[0\]\.episode"),
        ({"step": 1.5}, r"steps\[0\]\.step"),
        ({"t": float("nan")}, r"steps\[0\]\.t"),
        ({"rewards": {"a": "x"}}, r"steps\[0\]\.rewards\.a"),
        ({"actions": [1]}, r"steps\[0\]\.actions"),
        ({"infos": {"a": 3}}, r"steps\[0\]\.infos\.a"),
        ({"game_id": ""}, r"steps\[0\]\.game_id"),
        ({"extra": 1}, "unknown field"),
    ],
)
def test_add_steps_validation(store: Store, change, message):
    with pytest.raises(RecordError, match=message):
        store.add_steps([step(**change)])


def test_add_steps_missing_field(store: Store):
    row = step()
    del row["rewards"]
    with pytest.raises(ValueError, match="missing field"):
        store.add_steps([row])


def test_non_json_payload_gives_clear_error(store: Store):
    class Array:  # stands in for a numpy array the server forgot to convert
        pass

    with pytest.raises(RecordError, match=r"steps\[0\]\.observations\.agent_0\[1\].*Array.*not JSON"):
        store.add_steps([step(observations={"agent_0": [1, Array()]})])
    with pytest.raises(TypeError, match=r"event\.data\.when.*datetime"):
        import datetime

        store.add_event("p1", None, "x", {"when": datetime.datetime.now()}, 1.0)
    with pytest.raises(RecordError, match="keys must be str"):
        store.add_form("p1", "survey", {"q": {1: "a"}}, 1.0)
    assert sum(store.counts().values()) == 0


def test_non_finite_floats_become_null(store: Store):
    store.add_event(None, None, "x", {"a": float("inf"), "b": [float("-inf"), 1.0]}, 1.0)
    assert rows(store, "SELECT data FROM events") == [('{"a":null,"b":[null,1.0]}',)]


def test_add_form_resubmission_replaces(store: Store):
    store.add_form("p1", "survey", {"age": 30, "likes": ["a"]}, 5.0)
    store.add_form("p1", "survey", {"age": 31}, 6.0)
    store.add_form("p1", "other", {"ok": True}, 7.0)
    got = rows(
        store,
        "SELECT scene_id, submitted_at, answers, first_submitted_at, submissions FROM forms "
        "ORDER BY scene_id",
    )
    assert got == [("other", 7.0, '{"ok":true}', 7.0, 1), ("survey", 6.0, '{"age":31}', 5.0, 2)]
    # A late resend of an older submission does not overwrite newer answers.
    store.add_form("p1", "survey", {"age": 30, "likes": ["a"]}, 5.0)
    assert rows(store, "SELECT submitted_at, answers FROM forms WHERE scene_id='survey'") == [
        (6.0, '{"age":31}')
    ]


def test_add_episode_replaces(store: Store):
    store.add_episode(episode())
    store.add_episode(episode(outcome="aborted", seed=None))
    store.add_episode(episode(episode=1))
    assert store.counts()["episodes"] == 2
    assert rows(store, "SELECT seed, outcome, participant_ids, returns FROM episodes WHERE episode=0") == [
        (None, "aborted", '["p1"]', '{"agent_0":5.0}')
    ]
    with pytest.raises(RecordError, match="participant_ids"):
        store.add_episode(episode(participant_ids="p1"))
    with pytest.raises(RecordError, match="seed"):
        store.add_episode(episode(seed=2**70))


def test_games(store: Store):
    store.start_game("g0", "game", "server", {"agent_0": "p1"}, None, 5.0)  # before any config was saved
    store.write_metadata({"scenes": []}, {})
    store.start_game("g1", "game", "server", {"agent_0": "p1", "agent_1": "ppo"}, 3, 10.0)
    store.write_metadata({"scenes": ["changed"]}, {})  # a later server start
    store.start_game("g1", "game", "server", {"agent_0": "p1", "agent_1": "ppo"}, 3, 11.0)  # retry
    store.end_game("g1", "completed", 20.0)
    # Each game keeps the config it started under (metadata_id: what a replay rebuilds it from).
    assert rows(store, "SELECT * FROM games ORDER BY game_id") == [
        ("g0", "game", "server", '{"agent_0":"p1"}', None, 5.0, None, None, None, None),
        ("g1", "game", "server", '{"agent_0":"p1","agent_1":"ppo"}', 3, 10.0, 20.0, "completed", 1, None),
    ]
    with pytest.raises(KeyError, match="nope"):
        store.end_game("nope", "completed", 1.0)


def test_add_event(store: Store):
    store.add_event("p1", "game", "disconnect", {"reason": "transport close"}, 3.0)
    store.add_event(None, None, "env_error", {}, 4.0)
    assert rows(store, "SELECT participant_id, scene_id, kind, data, t FROM events ORDER BY t") == [
        ("p1", "game", "disconnect", '{"reason":"transport close"}', 3.0),
        (None, None, "env_error", "{}", 4.0),
    ]
    with pytest.raises(RecordError, match="kind"):
        store.add_event(None, None, "", {}, 1.0)


def test_write_metadata(store: Store):
    store.write_metadata({"scenes": ["start"], "fps": 30, "x": float("nan")}, {"mug": "0.1.0"})
    store.write_metadata({"scenes": ["start", "end"]}, {"mug": "0.1.0"})
    first = rows(store, "SELECT config FROM metadata ORDER BY metadata_id LIMIT 1")[0][0]
    assert json.loads(first) == {"scenes": ["start"], "fps": 30, "x": None}
    assert store.counts()["metadata"] == 2
    if store.directory is None:  # (PostgreSQL: the database alone holds it)
        return
    document = json.loads((store.directory / "experiment.json").read_text())
    assert document["config"] == {"scenes": ["start", "end"]}
    assert document["versions"] == {"mug": "0.1.0"}
    assert isinstance(document["written_at"], float)
    assert store.counts()["metadata"] == 2
    assert not [p for p in store.directory.iterdir() if p.name.endswith(".tmp")]


def test_write_metadata_refuses_non_json(store: Store):
    with pytest.raises(RecordError, match=r"config\.env"):
        store.write_metadata({"env": object()}, {})
    assert store.directory is None or not (store.directory / "experiment.json").exists()
    assert store.counts()["metadata"] == 0


def test_counts_lists_every_table(store: Store):
    assert store.counts() == {
        "participants": 0,
        "scene_visits": 0,
        "forms": 0,
        "games": 0,
        "episodes": 0,
        "steps": 0,
        "peer_episodes": 0,
        "peer_steps": 0,
        "events": 0,
        "client_records": 0,
        "metadata": 0,
    }


def test_json_of_special_values(store: Store):
    store.add_steps([step(rewards={"agent_0": float("nan")}, actions={"agent_0": {"move": [1, 2]}})])
    actions, rewards = rows(store, "SELECT actions, rewards FROM steps")[0]
    assert json.loads(actions) == {"agent_0": {"move": [1, 2]}}
    assert json.loads(rewards) == {"agent_0": None}


def test_empty_scene_ids_are_accepted(store: Store):
    # Descriptive fields may be empty strings; identifiers (participant, game, event kind) may not.
    store.get_or_create_participant("p1", {}, 1.0)
    store.enter_scene("p1", 0, "", "", 2.0)
    store.add_form("p1", "", {"a": 1}, 3.0)
    store.add_steps([step(scene_id="")])
    store.start_game("g1", "", "", {}, None, 1.0)
    store.end_game("g1", "", 2.0)
    with pytest.raises(RecordError, match="participant_id"):
        store.get_or_create_participant("", {}, 1.0)
    with pytest.raises(RecordError, match="game_id"):
        store.add_steps([step(game_id="")])


def test_server_rows_encode_as_the_checked_path_does(store: Store):
    from mug.env import to_jsonable

    row = {
        "game_id": "g",
        "episode": 1,
        "step": 7,
        "participant_id": None,
        "scene_id": "s",
        "t": 1700000000.5,
        "actions": to_jsonable({"left": 2, "right": (1, 2)}),
        "rewards": to_jsonable({"left": float("nan"), "right": 1}),
        "terminated": False,
        "truncated": True,
        "infos": to_jsonable({"left": {"pos": {1: [0.5, float("inf")]}}, "right": {}}),
        "observations": to_jsonable({"left": [1, 2], "right": None}),
    }
    assert Store.encode_step(row, jsonable=True) == Store.encode_step(row)
    assert Store.encode_step({**row, "observations": None}, jsonable=True) == Store.encode_step(
        {**row, "observations": None}
    )
    assert store.add_encoded_steps([Store.encode_step(row, jsonable=True)]) == 1
    got = rows(store, "SELECT rewards, infos, terminated, truncated FROM steps WHERE game_id = 'g'")
    assert got == [('{"left":null,"right":1}', '{"left":{"pos":{"1":[0.5,null]}},"right":{}}', 0, 1)]


def test_a_version_1_database_is_brought_up_to_date_with_its_data(tmp_path: Path) -> None:
    from mug.data.schema import DB_FILENAME

    # The two tables version 2 changed, as version 1 made them, with a row each.
    conn = sqlite3.connect(tmp_path / DB_FILENAME)
    conn.executescript(
        """
        CREATE TABLE participants (participant_id TEXT PRIMARY KEY, created_at REAL NOT NULL,
            updated_at REAL NOT NULL, query TEXT NOT NULL DEFAULT '{}', scene_index INTEGER NOT NULL DEFAULT 0,
            scene_id TEXT, status TEXT NOT NULL DEFAULT 'active', completion_code TEXT,
            data TEXT NOT NULL DEFAULT '{}');
        CREATE TABLE client_records (participant_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL,
            received_at REAL NOT NULL, PRIMARY KEY (participant_id, seq)) WITHOUT ROWID;
        INSERT INTO participants (participant_id, created_at, updated_at) VALUES ('old', 5.0, 6.0);
        INSERT INTO client_records VALUES ('old', 0, 'step', 7.0);
        PRAGMA user_version = 1;
        """
    )
    conn.close()
    with Store(tmp_path) as store:
        record = store.get_participant("old")
        assert record is not None and record.active_at == 5.0 and record.secret_hash is None
        # The old ledger row is kept (under the empty source); new sources do not collide with it.
        assert store.add_client_records("old", [{"seq": 0, "kind": "event", "payload": {"kind": "x", "t": 1.0}}],
                                        source="browser-2") == [0]  # fmt: skip
        assert store.counts()["client_records"] == 2
    conn = sqlite3.connect(tmp_path / DB_FILENAME)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        conn.close()
