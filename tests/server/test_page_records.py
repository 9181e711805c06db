"""What a page may make the server store, checked over the real protocol against a hostile client.

Each test plays one attack from the hostile-client review with a python-socketio client against a
real server (``exp.serve()`` on 127.0.0.1) and checks what ends up in the data:

* forged records (events of server kinds, other participants' games, dated forms) are refused and
  nothing of them is stored, while a real form and a page's own events keep the server's time;
* one participant's records and events are bounded by `mug.ClientLimits` (a rate with a stated
  retry time, a total, and refusals counted into a few rows rather than a row each);
* a client-side game said to be done without its records is ``unverified`` until they arrive;
* a second browser's records, numbered from 0 again, are stored, not dropped as duplicates.
"""

from __future__ import annotations

import math
import sqlite3
import time
from typing import Any

import pytest
import socketio
from helpers import eventually, join

import mug
from mug import Experiment, GymScene, StaticScene

YEAR_3000 = 32_503_680_000.0  # unix seconds


def browser_scene(scene_id: str = "g") -> GymScene:
    """A client-side game scene: the env would run in the page; the test's client sends the records."""
    return (
        GymScene()
        .scene(scene_id)
        .runtime(env_code="from mug.env.examples.catch import CatchEnv\nenv = CatchEnv()\n")
        .gameplay(action_mapping={"ArrowLeft": 1}, default_action=0, num_episodes=1)
        .policies(policy_mapping={"player": "human"})
    )


def connect(server, participant: str) -> socketio.Client:
    client = socketio.Client(reconnection=False)
    client.connect(server.url, transports=["websocket"], socketio_path="socket.io")
    reply = join(client, server, participant)
    assert reply["ok"], reply
    return client


def step(game_id: str, number: int, *, scene_id: str = "g", episode: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "game_id": game_id, "episode": episode, "step": number, "scene_id": scene_id, "t": 1.0 + number,
        "actions": {"player": 0}, "rewards": {"player": 0.0}, "terminated": False, "truncated": False,
        "infos": {}, "observations": None, **extra,
    }  # fmt: skip


def episode_record(game_id: str, seed: int, num_steps: int, *, scene_id: str = "g") -> dict[str, Any]:
    now = time.time()
    return {
        "game_id": game_id, "episode": 1, "scene_id": scene_id, "participant_ids": ["ignored"], "seed": seed,
        "started_at": now - 1.0, "ended_at": now, "num_steps": num_steps, "returns": {"player": 1.0},
        "terminated": True, "truncated": False, "outcome": "completed",
    }  # fmt: skip


def send(client: socketio.Client, source: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    return client.call("client_records", {"source": source, "records": records})


def query(exp: Experiment, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Read the experiment's SQLite file directly (read-only)."""
    path = (exp.data_path / "mug.sqlite3").resolve()
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def test_forged_exclusions_forms_and_other_players_records_are_refused_and_never_stored(tmp_path) -> None:
    exp = Experiment("forged", [browser_scene("g"), StaticScene().scene("survey")], data_dir=tmp_path)
    with exp.serve() as server:
        victim = connect(server, "victim")
        attacker = connect(server, "attacker")
        try:
            theirs = victim.call("start_game", {"scene_id": "g"})["game"]["game_id"]
            mine = attacker.call("start_game", {"scene_id": "g"})["game"]["game_id"]
            sent_at = time.time()
            reply = send(
                attacker,
                "attacker-outbox",
                [
                    {"seq": 0, "kind": "event", "payload": {
                        "scene_id": "g", "kind": "excluded", "data": {"reason": "forged by the page"}, "t": sent_at,
                    }},
                    {"seq": 1, "kind": "event", "payload": {
                        "scene_id": "g", "kind": "env_error", "data": {"game_id": theirs, "error": "x"}, "t": sent_at,
                    }},
                    {"seq": 2, "kind": "form", "payload": {
                        "scene_id": "survey", "answers": {"q": "forged"}, "t": YEAR_3000,
                    }},
                    {"seq": 3, "kind": "step", "payload": step(theirs, 1)},
                    {"seq": 4, "kind": "event", "payload": {
                        "scene_id": "g", "kind": "clock_behind", "data": {"game_id": mine}, "t": YEAR_3000,
                    }},
                ],
            )  # fmt: skip
            assert sorted(reply["refused"]) == [0, 1, 2, 3], reply
            assert reply["committed"] == [4], reply

            # Nothing forged is stored: no exclusion, no form, no record for the other player's game.
            results = exp.results()
            events = results.events
            mine_events = events[events["participant_id"] == "attacker"]
            assert mine_events[mine_events["kind"] == "excluded"].empty
            assert events[events["kind"] == "env_error"].empty
            assert results.participants.set_index("participant_id").loc["attacker", "status"] == "active"
            assert server.snapshot()["exclusions"] == []
            assert results.forms.empty
            assert query(exp, "SELECT COUNT(*) FROM steps") == [(0,)]

            # The page's own event is kept, dated by the server; the page's time stays in data.page_t.
            behind = mine_events[mine_events["kind"] == "clock_behind"]
            assert len(behind) == 1
            assert behind.iloc[0]["data.game_id"] == mine
            assert behind.iloc[0]["data.page_t"] == YEAR_3000
            assert abs(behind.iloc[0]["t"] - time.time()) < 5.0

            # The real form comes with `advance`, dated by the server, and its answers are stored.
            assert attacker.call("advance", {"scene_id": "g", "game_id": mine, "outcome": "done"})["ok"]
            assert attacker.call("advance", {"scene_id": "survey", "answers": {"q": "real"}})["ok"]
        finally:
            attacker.disconnect()
            victim.disconnect()
    forms = exp.results().forms
    assert len(forms) == 1
    form = forms.iloc[0]
    assert (form["participant_id"], form["scene_id"], form["q"]) == ("attacker", "survey", "real")
    assert abs(form["submitted_at"] - time.time()) < 5.0
    assert query(exp, "SELECT submissions FROM forms") == [(1,)]
    assert server.snapshot()["exclusions"] == []


LIMITS = mug.ClientLimits(  # (bursts are at least one batch a page may send: 1000 records, 1 MB)
    records_per_s=100, records_burst=1_000, bytes_per_s=500_000, bytes_burst=1_000_000,
    max_record_bytes=1_500_000, events_per_s=20, events_burst=40,
)  # fmt: skip


def test_a_page_flooding_records_and_events_is_slowed_then_capped_and_costs_a_few_rows(tmp_path) -> None:
    exp = Experiment("quota", [browser_scene("g")], data_dir=tmp_path)
    with exp.serve(client_limits=LIMITS) as server:
        client = connect(server, "flood")
        flooder = connect(server, "noisy")
        try:
            game = client.call("start_game", {"scene_id": "g"})["game"]["game_id"]
            not_taken = 0  # batches the server refused as a whole (each counted once)

            # Over the rate: a batch comes back with a time to retry, and nothing of it is stored.
            seq = 0
            while True:
                batch = [{"seq": seq + i, "kind": "step", "payload": step(game, seq + i)} for i in range(30)]
                reply = send(client, "flood-outbox", batch)
                if reply.get("ok") is False:
                    break
                assert reply["committed"] == [r["seq"] for r in batch] and reply["refused"] == [], reply
                seq += 30
                assert seq <= 3_000, "the rate limit never applied"
            not_taken += 1
            assert reply["retry_after_s"] > 0, reply
            held = [r["seq"] for r in batch]
            assert query(exp, "SELECT COUNT(*) FROM steps WHERE step >= ?", seq) == [(0,)]
            stored = query(exp, "SELECT COUNT(*) FROM client_records WHERE seq >= ?", seq)
            assert stored == [(0,)]
            time.sleep(reply["retry_after_s"])  # the server's stated retry time
            reply = send(client, "flood-outbox", batch)
            assert reply["committed"] == held and reply["refused"] == [], reply
            seq += 30
            assert query(exp, "SELECT COUNT(*) FROM steps") == [(seq,)]

            # Past max_record_bytes in total: the batch is refused for good (its seqs in `refused`).
            big_seqs = []
            while True:
                big = [{"seq": seq, "kind": "step", "payload": step(game, seq, observations={"px": "x" * 150_000})}]
                reply = send(client, "flood-outbox", big)
                if reply.get("ok") is False:
                    not_taken += 1
                    assert reply["retry_after_s"] > 0, reply
                    time.sleep(reply["retry_after_s"])  # the server's stated retry time
                    continue
                if reply["refused"]:
                    break
                assert reply["committed"] == [seq], reply
                big_seqs.append(seq)
                seq += 1
                assert len(big_seqs) <= 10, "the total limit never applied"
            not_taken += 1
            assert reply == {"ok": True, "committed": [], "refused": [seq]}
            assert 3 <= len(big_seqs) <= 9  # the rate's records (~0.3 MB) and 150 KB each, up to 1.5 MB
            assert send(client, "flood-outbox", big) == {"ok": True, "committed": [], "refused": [seq]}
            not_taken += 1
            assert query(exp, "SELECT COUNT(*) FROM steps WHERE step = ?", seq) == [(0,)]

            # 1,000 bad events: an error reply each; past events_burst they are refused unhandled.
            begun = time.monotonic()
            replies = []
            for i in range(1000):
                if i % 2:
                    replies.append(flooder.call("client_event", {"kind": "keylogger", "data": {}}))
                else:
                    replies.append(flooder.call("action", {"scene_id": "g", "action": 1}))
            elapsed = time.monotonic() - begun
            assert all(r["ok"] is False and r["error"] for r in replies)
            handled = [r for r in replies if not r["error"].startswith("too many events")]
            assert len(replies) - len(handled) >= 1000 - math.ceil(LIMITS.events_burst + LIMITS.events_per_s * elapsed)
            assert len(handled) >= LIMITS.events_burst - 1  # its `join` took one
            assert all(not r["error"].startswith("too many events") for r in replies[: int(LIMITS.events_burst) - 1])
        finally:
            client.disconnect()
            flooder.disconnect()
    events = exp.results(include_idle=True).events  # (a page that only sent refused events is idle)
    refused = events[events["kind"] == "refused"]
    noisy = refused[refused["participant_id"] == "noisy"]
    assert len(noisy) < 20
    assert noisy["data.count"].sum() == 1000
    assert len(events[events["participant_id"] == "noisy"]) < 25  # join, refusals, disconnect
    flood = refused[refused["participant_id"] == "flood"]
    assert flood["data.count"].sum() == not_taken


def test_a_game_said_done_without_being_played_is_unverified_until_its_records_arrive(tmp_path) -> None:
    exp = Experiment("unplayed", [browser_scene("g"), browser_scene("h")], data_dir=tmp_path)

    def outcome(game_id: str) -> str:
        games = exp.results().games
        return games.set_index("game_id").loc[game_id, "outcome"]

    def events_of(kind: str, game_id: str):
        events = exp.results().events
        events = events[events["kind"] == kind]
        return events[events["data.game_id"] == game_id] if "data.game_id" in events else events

    def records(game_id: str, seed: int, scene_id: str, steps: int) -> list[dict[str, Any]]:
        rows = [{"seq": i, "kind": "step", "payload": step(game_id, i + 1, scene_id=scene_id)} for i in range(steps)]
        last = {"seq": steps, "kind": "episode", "payload": episode_record(game_id, seed, steps, scene_id=scene_id)}
        return [*rows, last]

    with exp.serve() as server:
        client = connect(server, "hasty")
        try:
            game = client.call("start_game", {"scene_id": "g"})["game"]
            reply = client.call("advance", {"scene_id": "g", "game_id": game["game_id"], "outcome": "done"})
            assert reply["scene"]["scene_id"] == "h"
            assert outcome(game["game_id"]) == "unverified"
            eventually(lambda: not events_of("game_unverified", game["game_id"]).empty)
            assert events_of("game_verified", game["game_id"]).empty

            # The page was only late: its records complete the game after all.
            batch = records(game["game_id"], game["seed"], "g", 5)
            reply = send(client, "hasty-outbox", batch)
            assert sorted(reply["committed"]) == list(range(6)) and reply["refused"] == [], reply
            assert outcome(game["game_id"]) == "completed"
            eventually(lambda: not events_of("game_verified", game["game_id"]).empty)

            # Played honestly (records first, then done): completed at once.
            second = client.call("start_game", {"scene_id": "h"})["game"]
            batch = [{**r, "seq": r["seq"] + 100} for r in records(second["game_id"], second["seed"], "h", 4)]
            reply = send(client, "hasty-outbox", batch)
            assert sorted(reply["committed"]) == list(range(100, 105)), reply
            reply = client.call("advance", {"scene_id": "h", "game_id": second["game_id"], "outcome": "done"})
            assert reply["ok"], reply
            assert outcome(second["game_id"]) == "completed"
        finally:
            client.disconnect()
    assert events_of("game_unverified", second["game_id"]).empty
    assert len(events_of("game_unverified", game["game_id"])) == 1
    assert exp.results().participants.iloc[0]["status"] == "completed"


def test_an_episode_record_without_steps_does_not_make_a_game_played(tmp_path) -> None:
    exp = Experiment("empty", [browser_scene("g")], data_dir=tmp_path)
    with exp.serve() as server:
        client = connect(server, "sly")
        try:
            game = client.call("start_game", {"scene_id": "g"})["game"]
            record = {"seq": 0, "kind": "episode", "payload": episode_record(game["game_id"], game["seed"], 0)}
            assert send(client, "sly-outbox", [record])["committed"] == [0]
            client.call("advance", {"scene_id": "g", "game_id": game["game_id"], "outcome": "done"})
        finally:
            client.disconnect()
    games = exp.results().games.set_index("game_id")
    assert games.loc[game["game_id"], "outcome"] == "unverified"


def test_a_batch_refused_for_its_rate_is_taken_after_the_time_the_server_gives() -> None:
    from mug.server.sessions.intake import ClientLimits, Quota

    now = [100.0]  # the quota's clock, moved by the test
    limits = ClientLimits(records_per_s=2, records_burst=1_000, bytes_per_s=1_000_000, bytes_burst=1_000_000)
    quota = Quota(limits, clock=lambda: now[0])
    assert quota.admit(5, 1_000_000) == (None, 0.0)
    problem, retry = quota.admit(5, 500_000)  # the bytes are spent; the records are not
    assert problem is not None and retry == 0.5
    now[0] += 0.499
    assert quota.admit(5, 500_000)[0] is not None  # not yet: and asking again costs nothing
    now[0] += 0.001
    assert quota.admit(5, 500_000) == (None, 0.0)


def test_limits_smaller_than_one_batch_a_page_may_send_are_refused() -> None:
    from mug.server.sessions.intake import ClientLimits

    with pytest.raises(ValueError, match="records_burst must be at least 1000"):
        ClientLimits(records_burst=10)
    with pytest.raises(ValueError, match="bytes_burst must be at least 1000000"):
        ClientLimits(bytes_burst=1000)


def test_a_second_browsers_records_are_stored_not_dropped_as_duplicates(tmp_path) -> None:
    exp = Experiment("switch", [browser_scene("g")], data_dir=tmp_path, allow_device_switch=True)
    with exp.serve() as server:
        first = connect(server, "p")
        second = socketio.Client(reconnection=False)
        try:
            old = first.call("start_game", {"scene_id": "g"})["game"]["game_id"]
            batch = [{"seq": i, "kind": "step", "payload": step(old, i + 1)} for i in range(5)]
            assert send(first, "first-browser", batch)["committed"] == list(range(5))

            # Another device, without the session secret (the researcher allows a switch).
            second.connect(server.url, transports=["websocket"], socketio_path="socket.io")
            assert second.call("join", {"query": {"participant": "p"}})["ok"]
            new = second.call("start_game", {"scene_id": "g"})["game"]["game_id"]
            assert new != old
            batch = [{"seq": i, "kind": "step", "payload": step(new, i + 1)} for i in range(5)]
            reply = send(second, "second-browser", batch)
            assert reply["committed"] == list(range(5)) and reply["refused"] == [], reply

            def steps_of(game_id: str) -> int:
                return query(exp, "SELECT COUNT(*) FROM steps WHERE game_id = ?", game_id)[0][0]

            assert (steps_of(old), steps_of(new)) == (5, 5)

            # A resend (its acknowledgement was lost) is acknowledged again and not stored twice.
            reply = send(second, "second-browser", batch)
            assert reply["committed"] == list(range(5)) and reply["refused"] == [], reply
            assert (steps_of(old), steps_of(new)) == (5, 5)
            assert query(exp, "SELECT COUNT(*) FROM client_records") == [(10,)]

            # Another record under a number this browser already used is refused, never acknowledged.
            reply = send(
                second,
                "second-browser",
                [
                    {"seq": 5, "kind": "step", "payload": step(new, 6)},
                    {"seq": 2, "kind": "step", "payload": step(new, 7)},
                ],
            )
            assert reply["committed"] == [5] and reply["refused"] == [2], reply
            assert steps_of(new) == 6
            assert query(exp, "SELECT COUNT(*) FROM steps WHERE game_id = ? AND step = 7", new) == [(0,)]
        finally:
            second.disconnect()
            first.disconnect()


def test_a_resent_event_is_acknowledged_and_a_finished_games_record_is_closed(tmp_path) -> None:
    exp = Experiment("closed", [browser_scene("g"), StaticScene().scene("after")], data_dir=tmp_path)
    with exp.serve() as server:
        client = connect(server, "tidy")
        try:
            game = client.call("start_game", {"scene_id": "g"})["game"]
            event = {"seq": 0, "kind": "event", "payload": {
                "scene_id": "g", "kind": "clock_behind", "data": {"game_id": game["game_id"]}, "t": 1.0,
            }}  # fmt: skip
            assert send(client, "tidy-outbox", [event]) == {"ok": True, "committed": [0], "refused": []}
            # Its acknowledgement was lost: the page sends it again, and it is acknowledged, not refused.
            assert send(client, "tidy-outbox", [event]) == {"ok": True, "committed": [0], "refused": []}
            records = [{"seq": i + 1, "kind": "step", "payload": step(game["game_id"], i + 1)} for i in range(3)]
            records.append({"seq": 4, "kind": "episode", "payload": episode_record(game["game_id"], game["seed"], 3)})
            assert send(client, "tidy-outbox", records)["committed"] == [1, 2, 3, 4]
            rewrite = {"seq": 5, "kind": "episode", "payload": episode_record(game["game_id"], game["seed"], 3)}
            rewrite["payload"]["returns"] = {"player": 1e9}
            assert send(client, "tidy-outbox", [rewrite])["refused"] == [5]  # an episode is recorded once
            client.call("advance", {"scene_id": "g", "game_id": game["game_id"], "outcome": "done"})
            late = {"seq": 6, "kind": "step", "payload": step(game["game_id"], 4)}
            assert send(client, "tidy-outbox", [late])["refused"] == [6]  # the completed game is closed
        finally:
            client.disconnect()
    assert list(exp.results().games["outcome"]) == ["completed"]
    assert len(exp.results().steps) == 3
    assert query(exp, "SELECT COUNT(*) FROM events WHERE kind = 'clock_behind'") == [(1,)]
