"""Store.add_client_records: the browser outbox path (idempotent on participant + seq)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mug.data import RecordError, Store


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path) as s:
        yield s


def step_payload(step: int) -> dict:
    return {
        "game_id": "g1",
        "episode": 0,
        "step": step,
        "scene_id": "game",
        "t": 100.0 + step,
        "actions": {"agent_0": 2},
        "rewards": {"agent_0": 1.0},
        "terminated": False,
        "truncated": False,
        "infos": {},
    }


def episode_payload() -> dict:
    return {
        "game_id": "g1",
        "episode": 0,
        "scene_id": "game",
        "participant_ids": ["p1"],
        "seed": 1,
        "started_at": 100.0,
        "ended_at": 103.0,
        "num_steps": 3,
        "returns": {"agent_0": 3.0},
        "terminated": True,
        "truncated": False,
        "outcome": "completed",
    }


def batch() -> list[dict]:
    return [
        {"seq": 0, "kind": "step", "payload": step_payload(0)},
        {"seq": 1, "kind": "step", "payload": step_payload(1)},
        {
            "seq": 2,
            "kind": "event",
            "payload": {"scene_id": "game", "kind": "blur", "data": {"n": 1}, "t": 1.0},
        },
        {"seq": 3, "kind": "episode", "payload": episode_payload()},
        {"seq": 4, "kind": "form", "payload": {"scene_id": "survey", "answers": {"q1": "yes"}, "t": 2.0}},
    ]


def query(store: Store, sql: str):
    conn = sqlite3.connect(store.path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_dispatches_each_kind(store: Store):
    assert store.add_client_records("p1", batch()) == [0, 1, 2, 3, 4]
    counts = store.counts()
    assert (counts["steps"], counts["events"], counts["episodes"], counts["forms"]) == (2, 1, 1, 1)
    assert counts["client_records"] == 5
    # participant_id is filled in from the sender
    assert query(store, "SELECT DISTINCT participant_id FROM steps") == [("p1",)]
    assert query(store, "SELECT participant_id, kind, data FROM events") == [("p1", "blur", '{"n":1}')]
    assert query(store, "SELECT participant_id, answers FROM forms") == [("p1", '{"q1":"yes"}')]
    assert query(store, "SELECT seq, kind FROM client_records ORDER BY seq") == [
        (0, "step"),
        (1, "step"),
        (2, "event"),
        (3, "episode"),
        (4, "form"),
    ]


def test_resend_is_not_duplicated(store: Store):
    store.add_client_records("p1", batch())
    before = store.counts()
    # A resend after a reconnect: old seqs plus one new one, all acknowledged.
    resend = [*batch()[2:], {"seq": 5, "kind": "event", "payload": {"kind": "focus", "t": 3.0}}]
    assert store.add_client_records("p1", resend) == [2, 3, 4, 5]
    after = store.counts()
    assert after["events"] == before["events"] + 1
    assert after["client_records"] == 6
    assert {k: v for k, v in after.items() if k not in ("events", "client_records")} == {
        k: v for k, v in before.items() if k not in ("events", "client_records")
    }


def test_duplicate_seq_within_batch_written_once(store: Store):
    event = {"seq": 7, "kind": "event", "payload": {"kind": "x", "t": 1.0}}
    assert store.add_client_records("p1", [event, event]) == [7]
    assert store.counts()["events"] == 1


def test_seqs_are_per_participant(store: Store):
    event = {"seq": 0, "kind": "event", "payload": {"kind": "x", "t": 1.0}}
    store.add_client_records("p1", [event])
    store.add_client_records("p2", [event])
    assert store.counts()["events"] == 2


def test_empty_batch(store: Store):
    assert store.add_client_records("p1", []) == []


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"seq": 9, "kind": "telemetry", "payload": {}}, "seq=9.*unknown kind 'telemetry'"),
        ({"seq": 9, "kind": "step", "payload": {**step_payload(5), "terminated": 1}}, "seq=9.*terminated"),
        ({"seq": 9, "kind": "form", "payload": {"scene_id": "s", "t": 1.0}}, "seq=9.*missing field.*answers"),
        (
            {"seq": 9, "kind": "event", "payload": {"kind": "x", "t": 1.0, "participant_id": "p2"}},
            "seq=9.*not the sender",
        ),
        ({"seq": 9, "kind": "event", "payload": "nope"}, "seq=9.*payload must be a dict"),
        ({"seq": -1, "kind": "event", "payload": {"kind": "x", "t": 1.0}}, "seq=-1.*>= 0"),
        ({"seq": "9", "kind": "event", "payload": {"kind": "x", "t": 1.0}}, "seq.*expected an int"),
        ({"kind": "event", "payload": {}}, r"client record #5.*missing field.*seq"),
    ],
)
def test_bad_record_commits_nothing(store: Store, bad, message):
    records = [*batch(), bad]
    with pytest.raises(ValueError, match=message):
        store.add_client_records("p1", records)
    assert sum(store.counts().values()) == 0


def test_non_json_payload_names_seq(store: Store):
    records = [{"seq": 3, "kind": "event", "payload": {"kind": "x", "t": 1.0, "data": {"v": {1, 2}}}}]
    with pytest.raises(RecordError, match=r"seq=3.*data\.v.*set"):
        store.add_client_records("p1", records)


def test_failure_during_write_rolls_back(store: Store, monkeypatch):
    # Simulate a storage error after part of the batch was written: nothing may remain.
    import mug.data.client_records as client_records

    monkeypatch.setitem(client_records._INSERTS, "form", "INSERT INTO no_such_table VALUES (?1, ?2, ?3, ?4)")
    with pytest.raises(sqlite3.OperationalError):
        store.add_client_records("p1", batch())
    assert sum(store.counts().values()) == 0
