"""Two servers of one experiment behind nginx, sharing Redis and PostgreSQL: one is killed mid-game.

The participant's page reconnects through the load balancer to the other server, is told that the
game was interrupted, and goes on as the scene's ``on_interrupt`` says; the killed server's game is
closed as ``interrupted`` by the survivor; every committed step is there once, and what the page
had shown past the last commit is recorded as lost. The same participant opening the study in a
second tab that lands on the other server replaces the first tab, as on one server.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import socketio
from cluster import Cluster
from helpers import start_walking, wait_for
from postgres import Postgres

from mug import load_results

TESTS = Path(__file__).resolve().parent.parent

EXPERIMENT = """
import sys
sys.path.insert(0, {tests!r})
from envs import walk_scene
from mug import CompletionCodeScene, Experiment, StartScene

game = walk_scene(length=100_000).gameplay(on_interrupt="restart")
experiment = Experiment("failover", [StartScene().scene("hello"), game, CompletionCodeScene().scene("end")])
"""



def hosts(database: str) -> list[str]:
    """The server each game ran on, in the order the games started (the store's ``games.host``)."""
    with psycopg.connect(database) as conn:
        return [row[0] for row in conn.execute("SELECT host FROM games ORDER BY started_at")]


def test_a_killed_servers_player_resumes_on_the_other_server_told_and_nothing_committed_is_lost(
    tmp_path: Path, postgres_server: Postgres, participant
) -> None:
    database = postgres_server.create_database()
    path = tmp_path / "experiment.py"
    path.write_text(EXPERIMENT.format(tests=str(TESTS)))
    with Cluster(tmp_path) as cluster:
        redis = cluster.redis()
        args = ["--redis", redis.url, "--database", database]
        servers = cluster.servers(f"{path}:experiment", 2, extra_args=args, separate_data=False)
        by_id = {s.server_id(): s for s in servers}
        lb = cluster.load_balancer([s.port for s in servers])

        page = participant(lb.url + "?participant=carol")
        start_walking(page)
        wait_for(page, "m.status === 'running' && m.step >= 40")

        (host,) = hosts(database)
        assert host in by_id, (host, list(by_id))
        (survivor_id,) = set(by_id) - {host}
        by_id[host].kill()  # SIGKILL: nothing of its shutdown runs
        page.keyboard.up("ArrowRight")

        # The page reconnects by itself through nginx to the survivor, which closes the killed
        # server's game before it answers the join, so the join already tells the participant.
        wait_for(page, "m.connected && m.sceneId === 'walk' && m.status === 'waiting_start'", timeout=30_000)
        assert "server restarted" in page.get_by_test_id("notice").inner_text()
        results = load_results(database)
        assert list(results.games["outcome"]) == ["interrupted"]
        game_id = results.games.iloc[0]["game_id"]
        committed = results.steps[results.steps["game_id"] == game_id]
        assert list(committed["step"]) == list(range(1, len(committed) + 1))  # each once, none missing
        assert len(committed) >= 30  # (commits every 0.2 s: at most 6 frames of 40+ were not yet in)
        episode = results.episodes.iloc[0]
        assert episode["outcome"] == "interrupted" and episode["num_steps"] == len(committed)
        events = results.events
        notice = events[events["kind"] == "game_interrupted_notice"].iloc[0]
        seen = notice["data.seen"][1]
        assert notice["data.committed"] == [1, len(committed)] and seen >= 40
        lost = events[events["kind"] == "steps_lost"]
        assert (len(lost) == 1 and lost.iloc[0]["data.seen"] == [1, seen]) if seen > len(committed) else lost.empty

        # The scene starts its game again, on the survivor.
        page.get_by_test_id("start-game").click()
        wait_for(page, "m.status === 'running' && m.step >= 5")
        games = load_results(database).games
        assert len(games) == 2 and games["outcome"].isna().iloc[-1]
        assert hosts(database) == [host, survivor_id]


def test_a_second_tab_that_lands_on_the_other_server_replaces_the_first(
    tmp_path: Path, postgres_server: Postgres, participant
) -> None:
    path = tmp_path / "experiment.py"
    path.write_text(EXPERIMENT.format(tests=str(TESTS)))
    with Cluster(tmp_path) as cluster:
        redis = cluster.redis()
        args = ["--redis", redis.url, "--database", postgres_server.create_database()]
        one, two = cluster.servers(f"{path}:experiment", 2, extra_args=args, separate_data=False)
        first = participant(one.url + "?participant=dana")
        wait_for(first, "m.sceneId === 'hello' && m.status === 'ready'")
        # The same browser's second tab (it holds the session's secret; behind the load balancer
        # both tabs have one origin), its connection landing on the other server.
        secret = first.evaluate("localStorage.getItem('mug:secret:/')")
        second = socketio.Client(reconnection=False)
        second.connect(two.url, transports=["websocket"], socketio_path="socket.io")
        try:
            reply = second.call("join", {"query": {"participant": "dana"}, "secret": secret})
            assert reply["participant_id"] == "dana" and reply["scene"]["scene_id"] == "hello"
            wait_for(first, "m.status === 'replaced'")
            assert "another tab or window" in first.get_by_test_id("replaced").inner_text()
            assert second.call("advance", {"scene_id": "hello"})["ok"]  # the newer page goes on
        finally:
            second.disconnect()
