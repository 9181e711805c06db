"""A participant whose connection moves to another server mid-game plays on through it.

Two `mug serve --redis` processes share Redis and one SQLite data folder. A participant starts a
server-run game on one; their connection drops and comes back on the other (as a load balancer
may send it). The game goes on where it was — its frames reach them through the second server, and
their actions reach the game — and ends with every step recorded once, by the server running it;
the second server moves them on to the end scene.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import socketio
from cluster import Cluster
from helpers import eventually

from mug import load_results

TESTS = Path(__file__).resolve().parent.parent

EXPERIMENT = """
import sys
sys.path.insert(0, {tests!r})
from envs import walk_scene
from mug import CompletionCodeScene, Experiment, StartScene

experiment = Experiment(
    "relay", [StartScene().scene("hello"), walk_scene(length=150), CompletionCodeScene().scene("end")]
)
"""


def connect(url: str) -> tuple[socketio.Client, dict[str, list]]:
    client = socketio.Client(reconnection=False)
    seen: dict[str, list] = {"frame": [], "scene": [], "game_status": []}
    for event, got in seen.items():
        client.on(event, got.append)
    client.connect(url, transports=["websocket"], socketio_path="socket.io")
    return client, seen


@pytest.mark.parametrize("hops", [["two"], ["two", "one"]], ids=["to_the_other", "and_back"])
def test_a_game_goes_on_through_the_server_the_player_reconnects_to(tmp_path: Path, hops: list[str]) -> None:
    path = tmp_path / "experiment.py"
    path.write_text(EXPERIMENT.format(tests=str(TESTS)))
    with Cluster(tmp_path) as cluster:
        redis = cluster.redis()
        one, two = cluster.servers(f"{path}:experiment", 2, extra_args=["--redis", redis.url], separate_data=False)
        data = one.data_dir / "relay"
        servers = {"one": one, "two": two}

        client, seen = connect(one.url)
        try:
            joined = client.call("join", {"query": {"participant": "erin"}})
            secret = joined["secret"]
            assert client.call("advance", {"scene_id": "hello"})["ok"]
            assert client.call("start_game", {"scene_id": "walk"})["ok"]
            eventually(lambda: len(seen["frame"]) >= 20)
        finally:
            client.disconnect()
        moved_at = seen["frame"][-1]["step"]

        for n, hop in enumerate(hops):
            client, seen = connect(servers[hop].url)
            try:
                reply = client.call("join", {"query": {"participant": "erin"}, "secret": secret})
                game = reply["scene"]["game"]
                assert reply["scene"]["scene_id"] == "walk" and game is not None and game["agent_id"] == "walker"
                # The same game, where it was (it waited for the player: paused, not restarted).
                eventually(lambda seen=seen: len(seen["frame"]) >= 10)
                assert seen["frame"][0]["step"] >= moved_at
                for _ in range(30):  # the player's actions reach the game, wherever it runs
                    client.emit("action", {"scene_id": "walk", "action": 2})
                    client.sleep(1 / 30)
                if n + 1 < len(hops):
                    moved_at = seen["frame"][-1]["step"]
                    continue
                eventually(lambda seen=seen: any(s.get("scene_id") == "end" for s in seen["scene"]), timeout=30)
                end = next(s for s in seen["scene"] if s.get("scene_id") == "end")
                assert end["scene_type"] == "completion_code" and len(end["completion_code"]) == 10
            finally:
                client.disconnect()

    results = load_results(data)
    assert list(results.games["outcome"]) == ["completed"]
    steps = results.steps
    assert list(steps["step"]) == list(range(1, 151))  # every step once, though the player moved
    assert len(steps[(steps["step"] > moved_at) & (steps["action"] == 2)]) >= 15  # (the last hop's actions)
    participant = results.participants.set_index("participant_id").loc["erin"]
    assert participant["status"] == "completed"
    ends = results.events[results.events["kind"] == "game_interrupted_notice"]
    assert ends.empty  # nothing was interrupted
