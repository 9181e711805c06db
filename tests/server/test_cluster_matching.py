"""Participants connected to different servers are matched and play one server-run game together.

Two `mug serve --redis --database postgresql://...` processes behind nginx: two participants whose
connections land on different servers wait in the scene's one waitroom (run by one of the
servers), are matched, both see the game's frames and both control their agent, and both move on
to the end. The data is in PostgreSQL, and reads back as the same run on one SQLite server does:
the same tables, columns and types, the same numbers of rows. A participant waiting through a
server alone (nobody else comes) is timed out by their own server, as the scene says.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from pathlib import Path

import psycopg
import socketio
from cluster import Cluster
from helpers import eventually, run_async
from postgres import Postgres

from mug import load_results

TESTS = Path(__file__).resolve().parent.parent

EXPERIMENT = """
import sys
sys.path.insert(0, {tests!r})
from envs import race_scene
from mug import CompletionCodeScene, Experiment, StartScene

race = race_scene(length=90).waitroom(timeout={timeout})
experiment = Experiment("match", [StartScene().scene("hello"), race, CompletionCodeScene().scene("end")])
"""



class Player:
    """A scripted participant (python-socketio, as the page speaks) on one server."""

    def __init__(self, url: str, pid: str) -> None:
        self.pid = pid
        self.seen: dict[str, list] = {"frame": [], "scene": [], "matched": [], "waitroom": []}
        self.client = socketio.Client(reconnection=False)
        for event, got in self.seen.items():
            self.client.on(event, got.append)
        self.client.connect(url, transports=["websocket"], socketio_path="socket.io")

    def join(self, secret: str | None = None) -> dict:
        reply = self.client.call("join", {"query": {"participant": self.pid}, **({"secret": secret} if secret else {})})
        assert reply["participant_id"] == self.pid, reply
        self.secret = secret or reply["secret"]
        return reply

    def to_waitroom(self) -> dict:
        self.join()
        assert self.client.call("advance", {"scene_id": "hello"})["ok"]
        return self.client.call("start_game", {"scene_id": "race"})

    def play_to_the_end(self, action: int) -> None:
        eventually(lambda: len(self.seen["frame"]) >= 5, timeout=20)
        while not any(s.get("scene_id") == "end" for s in self.seen["scene"]):
            self.client.emit("action", {"scene_id": "race", "action": action})
            self.client.sleep(1 / 30)
            assert len(self.seen["frame"]) < 10_000

    def close(self) -> None:
        self.client.disconnect()


def play_pair(url_a: str, url_b: str) -> None:
    """Two participants wait, are matched and play the race to the end (red goes right, blue left)."""
    ann, bob = Player(url_a, "ann"), Player(url_b, "bob")
    try:
        ann.to_waitroom()
        bob.to_waitroom()
        eventually(lambda: ann.seen["matched"] or ann.seen["frame"], timeout=20)
        eventually(lambda: bob.seen["matched"] or bob.seen["frame"], timeout=20)
        done: list[str] = []
        other = threading.Thread(target=lambda: (bob.play_to_the_end(1), done.append("bob")))
        other.start()
        ann.play_to_the_end(2)
        other.join(60)
        assert done == ["bob"]
    finally:
        ann.close()
        bob.close()


def test_participants_of_two_servers_are_matched_and_play_one_game(tmp_path: Path, postgres_server: Postgres) -> None:
    path = tmp_path / "experiment.py"
    path.write_text(EXPERIMENT.format(tests=str(TESTS), timeout=60))
    database = postgres_server.create_database()
    with Cluster(tmp_path / "cluster") as cluster:
        redis = cluster.redis()
        one, two = cluster.servers(
            f"{path}:experiment", 2, extra_args=["--redis", redis.url, "--database", database], separate_data=False
        )
        play_pair(one.url, two.url)

    results = load_results(database)
    games = results.games
    assert len(games) == 1 and list(games["outcome"]) == ["completed"]
    steps = results.steps
    assert list(steps["step"]) == list(range(1, 91))
    # Both players' actions reached the game, wherever they were connected.
    assert set(steps["action.red"]) >= {2} and set(steps["action.blue"]) >= {1}
    people = results.participants.set_index("participant_id")
    assert list(people.loc[["ann", "bob"], "status"]) == ["completed", "completed"]

    # The same run on one server with SQLite reads back alike.
    with Cluster(tmp_path / "single") as cluster:
        (single,) = cluster.servers(f"{path}:experiment", 1, separate_data=False)
        play_pair(single.url, single.url)
        alone = load_results(single.data_dir / "match")
    for table in ("participants", "games", "episodes", "steps", "events", "forms"):
        ours, theirs = getattr(results, table), getattr(alone, table)
        fixed = [c for c in theirs.columns if not c.startswith("data.")]  # (an event's data: its own columns)
        assert [c for c in ours.columns if not c.startswith("data.")] == fixed, table
        assert list(ours[fixed].dtypes) == list(theirs[fixed].dtypes), table
    for table in ("participants", "games", "episodes", "steps"):
        assert len(getattr(results, table)) == len(getattr(alone, table)), table


def test_a_participant_waiting_through_another_server_is_timed_out_by_their_own(tmp_path: Path) -> None:
    path = tmp_path / "experiment.py"
    path.write_text(EXPERIMENT.format(tests=str(TESTS), timeout=2))
    with Cluster(tmp_path) as cluster:
        redis = cluster.redis()
        one, two = cluster.servers(f"{path}:experiment", 2, extra_args=["--redis", redis.url], separate_data=False)
        first = Player(one.url, "cy")  # the scene's waitroom is now run by `one`
        second = Player(two.url, "dee")
        try:
            first.to_waitroom()
            first.close()  # (cy leaves: dee waits alone, at one, through two)
            reply = second.to_waitroom()
            assert reply["waitroom"]["needed"] == 2
            eventually(lambda: any(s.get("scene_id") == "race.ended" for s in second.seen["scene"]), timeout=20)
            end = next(s for s in second.seen["scene"] if s.get("scene_id") == "race.ended")
            assert end["ended"] == "waitroom_timeout" and len(end["completion_code"]) == 10
        finally:
            second.close()
        events = load_results(one.data_dir / "match").events
        assert "waitroom_timeout" in set(events[events["participant_id"] == "dee"]["kind"])


def test_a_two_server_game_whose_server_is_killed_is_interrupted_and_both_play_again(
    tmp_path: Path, postgres_server: Postgres
) -> None:
    path = tmp_path / "experiment.py"
    path.write_text(EXPERIMENT.format(tests=str(TESTS), timeout=60).replace("length=90", "length=100_000"))
    database = postgres_server.create_database()
    with Cluster(tmp_path) as cluster:
        redis = cluster.redis()
        one, two = cluster.servers(
            f"{path}:experiment", 2, extra_args=["--redis", redis.url, "--database", database], separate_data=False
        )
        ann, bob = Player(one.url, "ann"), Player(two.url, "bob")  # the waitroom's home: one (ann came first)
        try:
            ann.to_waitroom()
            bob.to_waitroom()
            eventually(lambda: len(ann.seen["frame"]) >= 20 and len(bob.seen["frame"]) >= 20, timeout=20)
            one.kill()  # the game's server, mid-game
            ann.close()

            # bob, connected to the survivor all along, is told once the game is closed there.
            told = lambda: [s for s in bob.seen["scene"] if "restarted" in str(s.get("notice"))]  # noqa: E731
            eventually(lambda: told(), timeout=20)
            assert told()[0]["scene_id"] == "race"
            # ann comes back through the survivor and is told at her join.
            secret = ann.secret
            ann = Player(two.url, "ann")
            reply = ann.join(secret)
            assert reply["scene"]["scene_id"] == "race" and "restarted" in reply["scene"]["notice"]

            # Both play the scene's game again, now on the survivor.
            assert ann.client.call("start_game", {"scene_id": "race"})["ok"]
            assert bob.client.call("start_game", {"scene_id": "race"})["ok"]
            eventually(lambda: len(ann.seen["frame"]) >= 10 and len(bob.seen["frame"]) >= 40, timeout=20)
        finally:
            ann.close()
            bob.close()

    results = load_results(database)
    games = results.games
    assert list(games["outcome"].iloc[:1]) == ["interrupted"] and len(games) == 2
    first = results.steps[results.steps["game_id"] == games.iloc[0]["game_id"]]
    assert list(first["step"]) == list(range(1, len(first) + 1)) and len(first) >= 10  # each committed step once
    notices = results.events[results.events["kind"] == "game_interrupted_notice"]
    assert sorted(notices["participant_id"]) == ["ann", "bob"]


def test_participants_arriving_at_once_on_two_servers_all_see_their_games_start(
    tmp_path: Path, postgres_server: Postgres
) -> None:
    """20 participants at once, half on each server: every page is told its game runs and gets frames.

    (A player matched through another server's waitroom is put in the game's room on their own
    server before the game's first messages arrive there: its ``running`` status, first frames.)
    """
    path = tmp_path / "experiment.py"
    path.write_text(EXPERIMENT.format(tests=str(TESTS), timeout=60).replace("length=90", "length=100_000"))
    database = postgres_server.create_database()
    with Cluster(tmp_path / "cluster") as cluster:
        redis = cluster.redis()
        servers = cluster.servers(
            f"{path}:experiment", 2, extra_args=["--redis", redis.url, "--database", database], separate_data=False
        )
        seen = run_async(_arrive_at_once([s.url for s in servers], 20))  # (Playwright may own this thread's loop)

    assert all(s["running"] for s in seen.values()), {p: s for p, s in seen.items() if not s["running"]}
    assert all(s["frames"] > 0 for s in seen.values())
    games = load_results(database).games
    players = games[[c for c in games.columns if c.startswith("players.")]]
    assert len(games) == 10 and sorted(players.to_numpy().ravel()) == sorted(seen)  # each in one game
    # The games spread over both servers (not all on the waitroom's home).
    with psycopg.connect(database) as conn:
        hosts = dict(conn.execute("SELECT host, count(*) FROM games GROUP BY host").fetchall())
    assert len(hosts) == 2 and min(hosts.values()) >= 3, hosts


async def _arrive_at_once(urls: list[str], count: int) -> dict[str, dict]:
    """`count` participants, alternately on each server, go to the waitroom together; what each page saw
    by the time every one was told its game runs (or 20 s passed)."""
    seen: dict[str, dict] = {}
    clients: list[socketio.AsyncClient] = []

    async def arrive(url: str, pid: str) -> None:
        client = socketio.AsyncClient(reconnection=False)
        clients.append(client)
        mine = seen[pid] = {"running": False, "frames": 0}

        async def status(payload: dict) -> None:
            mine["running"] = mine["running"] or payload.get("status") == "running"

        async def frame(_: dict) -> None:
            mine["frames"] += 1

        client.on("game_status", status)
        client.on("frame", frame)
        await client.connect(url, transports=["websocket"], socketio_path="socket.io")
        await client.call("join", {"query": {"participant": pid}})
        assert (await client.call("advance", {"scene_id": "hello"}))["ok"]
        await client.call("start_game", {"scene_id": "race"})

    try:
        await asyncio.gather(*(arrive(urls[i % len(urls)], f"p{i:02d}") for i in range(count)))
        deadline = asyncio.get_running_loop().time() + 20
        while asyncio.get_running_loop().time() < deadline:
            if all(s["running"] and s["frames"] for s in seen.values()):
                break
            await asyncio.sleep(0.05)
        return {pid: dict(s) for pid, s in seen.items()}
    finally:
        for client in clients:
            await client.disconnect()


def test_a_group_placed_on_a_server_that_stops_before_starting_its_game_waits_again(tmp_path: Path) -> None:
    """The home places ann and bob's game on bob's server (it runs fewer games), which is frozen
    before it starts it and then counts as gone: ann, connected to the home, waits again (and, as
    nobody else comes, is timed out as the scene says) instead of waiting for a game that never comes."""
    path = tmp_path / "experiment.py"
    path.write_text(EXPERIMENT.format(tests=str(TESTS), timeout=6).replace("length=90", "length=100_000"))
    with Cluster(tmp_path) as cluster:
        redis = cluster.redis()
        one, two = cluster.servers(f"{path}:experiment", 2, extra_args=["--redis", redis.url], separate_data=False)
        dan, eve = Player(one.url, "dan"), Player(one.url, "eve")  # the waitroom's home: one
        players = [dan, eve]
        try:
            dan.to_waitroom()
            eve.to_waitroom()
            eventually(lambda: dan.seen["frame"] and eve.seen["frame"], timeout=20)  # (one runs a game now)
            bob = Player(two.url, "bob")
            players.append(bob)
            bob.to_waitroom()
            eventually(lambda: bob.seen["waitroom"], timeout=20)  # (the home's status: it queued bob)
            os.kill(two.proc.pid, signal.SIGSTOP)  # two stops answering, its heartbeat still fresh
            ann = Player(one.url, "ann")
            players.append(ann)
            ann.to_waitroom()  # ann and bob: placed on two, which never starts their game
            ended = lambda: [s for s in ann.seen["scene"] if s.get("scene_id") == "race.ended"]  # noqa: E731
            eventually(ended, timeout=30)
            assert ended()[0]["ended"] == "waitroom_timeout"
            assert not ann.seen["matched"] and not ann.seen["frame"]
        finally:
            two.kill()
            for player in players:
                with contextlib.suppress(Exception):
                    player.close()
    events = load_results(one.data_dir / "match").events
    ann_events = list(events[events["participant_id"] == "ann"]["kind"])
    assert "waitroom_requeued" in ann_events and "waitroom_timeout" in ann_events
