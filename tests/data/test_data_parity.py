"""Peer-to-peer games in the store: every peer's rows kept, one canonical row per step, episode parity.

Every test goes through the path the server uses for a page's records (`Store.commit_client_records`,
and at the end `BrowserGames.records` itself) on a real SQLite database.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from helpers import run_async

from mug.data import SCHEMA_VERSION, Store, export_results, load_results
from mug.data.schema import DB_FILENAME
from mug.server.sessions import intake

GAME = "p2p-game"
ROSTER = {"left": "alice", "right": "bob", "bot": "policy:random"}


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path) as s:
        s.start_game(GAME, "duel", "client_p2p", ROSTER, 7, 50.0)
        yield s


def step(n: int, *, episode: int = 1, t: float | None = None, **over: Any) -> dict[str, Any]:
    payload = {
        "game_id": GAME,
        "episode": episode,
        "step": n,
        "scene_id": "duel",
        "t": 100.0 + n if t is None else t,
        "actions": {"left": n % 3, "right": 1, "bot": 0},
        "rewards": {"left": 0.5, "right": -0.5, "bot": 0.0},
        "terminated": False,
        "truncated": n == 2,
        "infos": {"left": {"x": n}, "right": {}, "bot": {}},
        "focus": {"left": True, "right": n != 1},
    }
    payload.update(over)
    return payload


def episode(*, number: int = 1, num_steps: int = 3, ended_at: float = 103.0) -> dict[str, Any]:
    return {
        "game_id": GAME,
        "episode": number,
        "scene_id": "duel",
        "participant_ids": ["whoever"],  # (the server writes the sender; the store lists the game's humans)
        "seed": 7,
        "started_at": 100.0,
        "ended_at": ended_at,
        "num_steps": num_steps,
        "returns": {"left": 1.5, "right": -1.5, "bot": 0.0},
        "terminated": False,
        "truncated": True,
        "outcome": "completed",
    }


def records(*payloads: tuple[str, dict[str, Any]], first_seq: int = 0) -> list[dict[str, Any]]:
    return [{"seq": first_seq + i, "kind": kind, "payload": p} for i, (kind, p) in enumerate(payloads)]


def whole_episode(**over: Any) -> list[dict[str, Any]]:
    """A peer's outbox for episode 1: its three steps, then its episode record."""
    return records(*(("step", step(n, **over)) for n in range(3)), ("episode", episode()))


def commit(store: Store, pid: str, batch: list[dict[str, Any]], source: str = "outbox-1") -> tuple[list, list]:
    return store.commit_client_records(pid, batch, source=source, server_time=200.0)


def rows(store: Store, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(store.path)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def test_two_peers_identical_records_give_one_canonical_row_per_step_and_parity_match(store: Store) -> None:
    assert commit(store, "alice", whole_episode()) == ([0, 1, 2, 3], [])
    assert store.game_parity(GAME)[0]["parity"] == "one-sided"
    # Bob's clock differs (t is when his page saw the frame): the game recorded is the same.
    assert commit(store, "bob", whole_episode(t=500.0)) == ([0, 1, 2, 3], [])

    assert store.counts()["steps"] == 3 and store.counts()["peer_steps"] == 6
    assert store.counts()["episodes"] == 1 and store.counts()["peer_episodes"] == 2
    # The canonical rows are the first peer's.
    assert rows(store, "SELECT DISTINCT participant_id, t FROM steps WHERE step = 0") == [("alice", 100.0)]
    (parity,) = store.game_parity(GAME)
    assert parity["parity"] == "match"
    assert set(parity["digests"]) == {"alice", "bob"}
    assert parity["digests"]["alice"] == parity["digests"]["bob"]

    results = load_results(store.directory)
    assert list(results.steps["step"]) == [0, 1, 2]
    ep = results.episodes.iloc[0]
    assert ep["parity"] == "match"
    assert ep["participant_ids"] == ["alice", "bob"]  # the game's humans, not only the first sender
    assert results.peer_steps is None


def test_the_digest_is_sha256_of_canonical_json_of_the_steps_without_times(store: Store) -> None:
    commit(store, "alice", whole_episode())
    expected = [
        {field: step(n)[field] for field in ("actions", "rewards", "terminated", "truncated", "infos", "focus")}
        | {"observations": None}
        for n in range(3)
    ]
    text = json.dumps(expected, sort_keys=True, separators=(",", ":"))
    assert store.game_parity(GAME)[0]["digests"]["alice"] == hashlib.sha256(text.encode()).hexdigest()


def test_one_differing_step_makes_the_episode_a_mismatch_and_both_peers_rows_stay(store: Store) -> None:
    commit(store, "alice", whole_episode())
    differs = records(
        ("step", step(0)),
        ("step", step(1, actions={"left": 2, "right": 1, "bot": 0})),  # bob's left agent did something else
        ("step", step(2)),
        ("episode", episode()),
    )
    assert commit(store, "bob", differs) == ([0, 1, 2, 3], [])

    (parity,) = store.game_parity(GAME)
    assert parity["parity"] == "mismatch"
    assert parity["digests"]["alice"] != parity["digests"]["bob"]
    results = load_results(store.directory, peer_rows=True)
    assert results.episodes.iloc[0]["parity"] == "mismatch"
    assert results.steps.set_index("step").loc[1, "action.left"] == 1  # canonical: alice's, the first
    peers = results.peer_steps
    assert peers is not None and len(peers) == 6
    at_1 = peers[peers["step"] == 1].set_index("participant_id")
    assert (at_1.loc["alice", "action.left"], at_1.loc["bob", "action.left"]) == (1, 2)
    # A focus difference alone is a mismatch too (the players' focus is part of the recorded game).
    commit(store, "alice", records(*(("step", step(n, episode=2)) for n in range(3)), first_seq=4))
    commit(store, "bob", records(*(("step", step(n, episode=2, focus={"left": True, "right": True})) for n in range(3)),
                                 first_seq=4))  # fmt: skip
    commit(store, "alice", records(("episode", episode(number=2)), first_seq=7))
    commit(store, "bob", records(("episode", episode(number=2)), first_seq=7))
    assert [e["parity"] for e in store.game_parity(GAME)] == ["mismatch", "mismatch"]


def test_one_peers_records_alone_are_one_sided(store: Store) -> None:
    commit(store, "bob", whole_episode())
    assert load_results(store.directory).episodes.iloc[0]["parity"] == "one-sided"
    progress = store.game_progress(GAME)
    assert progress["episodes"][0]["parity"] == "one-sided"


def test_a_digest_waits_for_the_steps_its_episode_record_counts(store: Store) -> None:
    commit(store, "alice", whole_episode())
    # Bob's outbox delivers his episode record before his last step (a retry after a reconnect).
    batch = whole_episode()
    assert commit(store, "bob", [batch[0], batch[1], batch[3]]) == ([0, 1, 3], [])
    (parity,) = store.game_parity(GAME)
    assert parity["digests"]["bob"] is None and parity["parity"] == "one-sided"
    progress = store.game_progress(GAME, "bob")["episodes"]
    assert progress == [{"episode": 1, "outcome": "completed", "num_steps": 3, "stored_steps": 2, "digest": None}]

    assert commit(store, "bob", [batch[2]]) == ([2], [])
    (parity,) = store.game_parity(GAME)
    assert parity["parity"] == "match" and parity["digests"]["bob"] == parity["digests"]["alice"]
    assert store.game_progress(GAME, "bob")["episodes"][0]["stored_steps"] == 3


def test_each_peers_progress_is_its_own(store: Store) -> None:
    commit(store, "alice", whole_episode())
    commit(store, "bob", whole_episode()[:2])
    alice, bob = store.game_progress(GAME, "alice"), store.game_progress(GAME, "bob")
    assert alice["steps"] == 3 and [e["stored_steps"] for e in alice["episodes"]] == [3]
    assert bob == {"episodes": [], "steps": 2}
    # Without a participant: the canonical rows.
    canonical = store.game_progress(GAME)
    assert canonical["steps"] == 3 and canonical["episodes"][0]["num_steps"] == 3


def test_a_resend_is_acknowledged_and_a_different_row_for_a_step_already_sent_is_refused(store: Store) -> None:
    commit(store, "alice", whole_episode())
    assert commit(store, "alice", whole_episode()) == ([0, 1, 2, 3], [])  # resent: the ledger's business
    # The same step again under another number (another browser storage), changed: refused.
    committed, refused = commit(store, "alice", records(("step", step(1, rewards={"left": 9.0}))), source="outbox-2")
    assert committed == [] and len(refused) == 1
    assert "step 1 of episode 1 of game 'p2p-game' is already stored from 'alice'" in refused[0][1]
    committed, refused = commit(store, "alice", records(("episode", episode())), source="outbox-2")
    assert committed == [] and "already recorded from 'alice'" in refused[0][1]
    assert store.counts()["peer_steps"] == 3
    assert store.game_parity(GAME)[0]["digests"]["alice"] is not None


def test_focus_is_stored_validated_and_read_as_one_column_per_agent(store: Store) -> None:
    commit(store, "alice", whole_episode())
    assert rows(store, "SELECT focus FROM steps WHERE step = 1") == [('{"left":true,"right":false}',)]
    steps = load_results(store.directory).steps
    assert list(steps["focus.left"]) == [True, True, True]
    assert list(steps["focus.right"]) == [True, False, True]
    assert str(steps["focus.right"].dtype) == "boolean"
    committed, refused = commit(store, "bob", records(("step", step(0, focus={"left": "yes"}))))
    assert committed == [] and "focus.left: expected a bool" in refused[0][1]
    # A game without focus (every other mode) has no focus column.
    store.add_steps([{**step(0), "game_id": "solo", "focus": None}])
    steps = load_results(store.directory).steps
    assert steps.set_index("game_id").loc["solo", "focus.left"] is pd.NA


def test_other_games_are_unchanged_by_peer_rows(store: Store) -> None:
    store.start_game("solo", "duel", "client_pyodide", {"left": "carol"}, 1, 50.0)
    solo = [{**r, "payload": {**r["payload"], "game_id": "solo"}} for r in whole_episode()]
    assert commit(store, "carol", solo) == ([0, 1, 2, 3], [])
    assert rows(store, "SELECT COUNT(*) FROM peer_steps WHERE game_id = 'solo'") == [(0,)]
    # Another participant's row for a step of a game that is not P2P is refused, as always.
    committed, refused = commit(store, "dave", solo[:1])
    assert committed == [] and "is already stored" in refused[0][1]
    episodes = load_results(store.directory).episodes
    assert pd.isna(episodes.set_index("game_id").loc["solo", "parity"])
    assert store.game_progress("solo", "carol")["episodes"][0]["parity"] is None


def test_a_server_restart_leaves_peer_to_peer_games_to_their_pages(store: Store) -> None:
    commit(store, "alice", whole_episode()[:2])
    assert store.close_open_games(300.0) == []
    assert rows(store, "SELECT ended_at, outcome FROM games") == [(None, None)]


def test_the_p2p_table_has_one_row_per_game_and_peer_from_their_stats(store: Store) -> None:
    empty = load_results(store.directory).p2p
    assert empty.empty
    assert list(empty.columns) == [
        "game_id", "participant_id", "scene_id", "t", "transport", "rtt_ms", "frames", "rollbacks",
        "max_rollback_depth", "predicted_frames", "predicted_share", "desyncs", "replayed_frames",
    ]  # fmt: skip

    def stats(frames: int, rollbacks: int) -> dict[str, Any]:
        return {
            "game_id": GAME, "transport": {"1": "direct"}, "rtt_ms": {"1": 42.5}, "rollbacks": rollbacks,
            "max_rollback_depth": 3, "predicted_frames": frames // 4, "frames": frames, "desyncs": 1,
            "replayed_frames": 240,
        }  # fmt: skip

    def event(kind: str, data: dict[str, Any], seq: int) -> list[dict[str, Any]]:
        return [{"seq": seq, "kind": "event", "payload": {"scene_id": "duel", "kind": kind, "data": data, "t": 1.0}}]

    commit(store, "alice", event("p2p_stats", stats(100, 5), 0))  # (a reload: superseded below)
    commit(store, "alice", event("p2p_transport", {"game_id": GAME, "peer_pair": [0, 1], "transport": "turn"}, 1))
    commit(store, "alice", event("p2p_stats", stats(400, 9), 2))
    commit(store, "bob", event("p2p_stats", {**stats(400, 7), "transport": {"0": "server"}, "rtt_ms": {"0": None}}, 0))

    p2p = load_results(store.directory).p2p.set_index("participant_id")
    assert list(p2p.index) == ["alice", "bob"]
    assert (p2p["game_id"] == GAME).all()
    assert p2p.loc["alice", "rollbacks"] == 9 and p2p.loc["bob", "rollbacks"] == 7
    assert p2p.loc["alice", "transport"] == {"1": "direct"} and p2p.loc["bob", "transport"] == {"0": "server"}
    assert p2p.loc["alice", "rtt_ms"] == {"1": 42.5}
    assert p2p.loc["alice", "predicted_share"] == 0.25
    assert p2p.loc["alice", "replayed_frames"] == 240 and p2p.loc["alice", "max_rollback_depth"] == 3
    assert p2p.loc["alice", "t"] == 200.0  # the server's time


def test_peer_rows_are_given_on_request_and_exported(store: Store, tmp_path: Path) -> None:
    commit(store, "alice", whole_episode())
    commit(store, "bob", whole_episode(t=300.0))
    results = load_results(store.directory, peer_rows=True)
    peers = results.peer_steps
    assert peers is not None
    assert list(zip(peers["step"], peers["participant_id"], strict=True)) == [
        (0, "alice"), (0, "bob"), (1, "alice"), (1, "bob"), (2, "alice"), (2, "bob"),
    ]  # fmt: skip
    assert list(peers.loc[peers["participant_id"] == "bob", "t"]) == [300.0, 300.0, 300.0]
    assert "focus.right" in peers.columns
    assert list(results.tables())[-1] == "peer_steps"
    written = export_results(results, tmp_path / "out")
    assert (tmp_path / "out" / "peer_steps.csv") in written
    assert len(pd.read_csv(tmp_path / "out" / "peer_steps.csv")) == 6


def test_a_version_2_database_is_upgraded_with_its_data(tmp_path: Path) -> None:
    db = tmp_path / DB_FILENAME
    conn = sqlite3.connect(db)
    conn.executescript((Path(__file__).parent / "schema_v2.sql").read_text())
    conn.executescript(
        """
        INSERT INTO participants (participant_id, created_at, updated_at, active_at) VALUES ('old', 5.0, 6.0, 5.0);
        INSERT INTO games (game_id, scene_id, mode, players, seed, started_at) VALUES
            ('g2', 's', 'client_pyodide', '{"a":"old"}', 1, 5.0);
        INSERT INTO steps VALUES ('g2', 1, 0, 'old', 's', 5.5, '{"a":1}', '{"a":1.0}', 0, 0, '{}', NULL);
        INSERT INTO episodes VALUES ('g2', 1, 's', '["old"]', 1, 5.0, 6.0, 1, '{"a":1.0}', 1, 0, 'completed');
        INSERT INTO client_records VALUES ('old', 'src', 0, 'step', 'abc', 5.5);
        """
    )
    conn.commit()
    conn.close()
    # Read as it is (read-only, before any server upgraded it): no P2P columns yet, no error.
    before = load_results(tmp_path, peer_rows=True)
    assert len(before.steps) == 1 and pd.isna(before.episodes.iloc[0]["parity"])
    assert before.peer_steps is not None and before.peer_steps.empty

    with Store(tmp_path) as store:
        assert store.counts()["steps"] == 1 and store.counts()["client_records"] == 1
        # The ledger still knows the old record; P2P games work in the upgraded database.
        again = {"seq": 0, "kind": "step", "payload": {**step(0), "game_id": "g2"}}
        assert "different record" in store.commit_client_records("old", [again], source="src")[1][0][1]
        store.start_game(GAME, "duel", "client_p2p", ROSTER, 7, 50.0)
        commit(store, "alice", whole_episode())
        commit(store, "bob", whole_episode())
        assert store.game_parity(GAME)[0]["parity"] == "match"
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
    finally:
        conn.close()
    after = load_results(tmp_path)
    old = after.steps[after.steps["game_id"] == "g2"].iloc[0]
    assert (old["participant_id"], old["t"], old["action"] if "action" in after.steps else old["action.a"]) == (
        "old", 5.5, 1,
    )  # fmt: skip
    episodes = after.episodes.set_index("game_id")
    assert pd.isna(episodes.loc["g2", "parity"]) and episodes.loc[GAME, "parity"] == "match"


def open_store_when_started(folder: Path, start: threading.Barrier, outcomes: list[Any]) -> None:
    start.wait()
    try:
        with Store(folder) as store:
            outcomes.append(store.counts()["peer_steps"])
    except Exception as exc:  # (reported by the test's assertion)
        outcomes.append(exc)


def test_two_stores_opening_one_version_2_database_at_once_both_find_it_upgraded(tmp_path: Path) -> None:
    for attempt in range(5):
        folder = tmp_path / str(attempt)
        folder.mkdir()
        conn = sqlite3.connect(folder / DB_FILENAME)
        conn.executescript((Path(__file__).parent / "schema_v2.sql").read_text())
        conn.close()
        start = threading.Barrier(2)
        outcomes: list[Any] = []
        threads = [threading.Thread(target=open_store_when_started, args=(folder, start, outcomes)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert outcomes == [0, 0]


# -- intake: what a page may send ---------------------------------------------------------------


def page_event(kind: str, data: Any, seq: int = 0) -> dict[str, Any]:
    return {"seq": seq, "kind": "event", "payload": {"scene_id": "duel", "kind": kind, "data": data, "t": 1.0}}


@pytest.mark.parametrize("kind", intake.P2P_EVENT_KINDS)
def test_intake_takes_the_p2p_pages_events_for_its_own_game_only(kind: str) -> None:
    mine = page_event(kind, {"game_id": GAME, "frame": 10}, 0)
    theirs = page_event(kind, {"game_id": "someone-elses", "frame": 10}, 1)
    not_an_object = page_event(kind, [GAME], 2)
    accepted, refused = intake.screen([mine, theirs, not_an_object], {GAME})
    assert accepted == [mine]
    assert [r["seq"] for r in refused] == [1, 2]
    assert "is not a game this participant played" in refused[0]["error"]
    assert "an event's data must be an object" in refused[1]["error"]


def test_intake_takes_events_of_a_finished_game_but_not_its_steps() -> None:
    stats = page_event("p2p_stats", {"game_id": GAME, "frames": 400}, 0)
    late_step = {"seq": 1, "kind": "step", "payload": step(3)}
    accepted, refused = intake.screen([stats, late_step], set(), {GAME})
    assert accepted == [stats]
    assert refused == [{"seq": 1, "error": "game 'p2p-game' is completed: its steps and episodes may not change"}]
    # Without the finished games (what the server passed before), both are refused as before.
    accepted, refused = intake.screen([stats, late_step], set())
    assert accepted == [] and len(refused) == 2


# -- end to end through the server's intake (BrowserGames.records) -------------------------------


def test_two_peers_batches_through_the_servers_intake_make_a_matching_game(tmp_path: Path) -> None:
    from mug.server.sessions.browser_games import BrowserGames
    from mug.server.sessions.refusals import Refusals
    from mug.server.web.protocol import ClientRecords
    from mug.server.writer import StoreWriter

    async def play(store: Store) -> list[dict[str, Any]]:
        writer = StoreWriter(store)
        refusals = Refusals(writer)
        games = BrowserGames(writer, refusals, intake.ClientLimits())
        try:
            replies = []
            for pid in ("alice", "bob"):
                batch = [*whole_episode(), page_event("p2p_stats", {"game_id": GAME, "frames": 3}, 4)]
                replies.append(await games.records(pid, ClientRecords(f"{pid}-outbox", batch, 4_000)))
            # A record for a game the participant does not play is refused by the intake.
            carol = [page_event("p2p_desync", {"game_id": GAME, "frame": 2})]
            replies.append(await games.records("carol", ClientRecords("carol-outbox", carol, 200)))
            await writer.drain()
            return replies
        finally:
            refusals.close()
            writer.close()

    with Store(tmp_path) as store:
        store.start_game(GAME, "duel", "client_p2p", ROSTER, 7, 50.0)
        for pid in ("alice", "bob", "carol"):
            store.get_or_create_participant(pid, {}, 50.0)
        for pid in ("alice", "bob"):
            store.update_participant_data(pid, {"browser_game_ids": [GAME]}, 50.0)
        alice, bob, carol = run_async(play(store))  # (Playwright may own this thread's loop)
        assert alice == bob == {"committed": [0, 1, 2, 3, 4], "refused": []}
        assert carol == {"committed": [], "refused": [0]}
        assert store.game_parity(GAME)[0]["parity"] == "match"
        for pid in ("alice", "bob"):
            (ep,) = store.game_progress(GAME, pid)["episodes"]
            assert (ep["outcome"], ep["num_steps"], ep["stored_steps"]) == ("completed", 3, 3)
    results = load_results(tmp_path)
    assert len(results.steps) == 3 and results.episodes.iloc[0]["parity"] == "match"
    assert sorted(results.p2p["participant_id"]) == ["alice", "bob"]
