"""Continuous monitoring's callback over a real server: it excludes when it says so, and one that
raises is recorded and excludes nobody."""

from __future__ import annotations

import socketio
from envs import race_scene
from helpers import eventually, join

from mug import EndScene, Experiment


def play(server, pid: str) -> tuple[socketio.Client, dict]:
    seen: dict = {}
    client = socketio.Client(reconnection=False)
    client.on("*", lambda event, data=None: seen.setdefault(event, []).append(data))
    client.connect(server.url, transports=["websocket"], socketio_path="socket.io")
    assert join(client, server, pid)["ok"]
    assert client.call("start_game", {"scene_id": "solo"})["game"]
    return client, seen


def test_the_callback_excludes_when_it_says_so_and_one_that_raises_excludes_nobody(tmp_path) -> None:
    contexts: list[dict] = []

    def enough(context: dict) -> dict:
        contexts.append(context)
        return {"exclude": (context["step"] or 0) >= 20, "message": "That is enough playing."}

    game = race_scene("solo", agents=("red",), length=100_000).monitoring(callback=enough, callback_interval_s=0.2)
    exp = Experiment("cb", [game, EndScene().scene("end")], data_dir=tmp_path)
    with exp.serve() as server:
        client, seen = play(server, "p1")
        ended = eventually(lambda: [s for s in seen.get("scene", []) if s.get("scene_type") == "completion_code"])
        assert "That is enough playing." in ended[0]["body"]
        client.disconnect()
    assert contexts and contexts[-1]["step"] >= 20 and contexts[0]["participant_id"] == "p1"
    assert {"ping_ms", "is_tab_hidden", "away_s", "episode"} <= set(contexts[0])
    people = exp.results().participants.set_index("participant_id")
    assert people.loc["p1", "status"] == "excluded"

    def broken(context: dict) -> dict:
        raise ValueError("no rule for this")

    game2 = race_scene("solo", agents=("red",), length=40).monitoring(callback=broken, callback_interval_s=0.2)
    exp2 = Experiment("cb2", [game2, EndScene().scene("end")], data_dir=tmp_path)
    with exp2.serve() as server:
        client, seen = play(server, "p2")
        eventually(lambda: any(s.get("scene_id") == "end" for s in seen.get("scene", [])))  # played to the end
        client.disconnect()
    ev = exp2.results().events
    errors = ev[ev["kind"] == "monitor_callback_error"]
    assert len(errors) >= 1 and "ValueError: no rule for this" in errors["data.error"].iloc[0]
    assert exp2.results().participants.set_index("participant_id").loc["p2", "status"] == "completed"
