"""Session edge cases over the real protocol (a Socket.IO client against a real server)."""

from __future__ import annotations

import socketio
from envs import walk_scene
from helpers import eventually, join

from mug import Experiment, GymScene, StartScene, StaticScene


def connect(server, participant: str) -> socketio.Client:
    client = socketio.Client(reconnection=False)
    client.connect(server.url, transports=["websocket"], socketio_path="socket.io")
    reply = join(client, server, participant)
    assert reply["ok"], reply
    client.scene = reply["scene"]  # type: ignore[attr-defined]
    return client


def test_an_experiment_without_an_end_scene_finishes_its_participants(tmp_path) -> None:
    exp = Experiment("open", [StartScene().scene("a"), StaticScene().scene("b")], data_dir=tmp_path)
    with exp.serve() as server:
        client = connect(server, "p1")
        try:
            assert client.call("advance", {"scene_id": "a"})["scene"]["scene_id"] == "b"
            last = client.call("advance", {"scene_id": "b"})["scene"]
            assert last["scene_type"] == "end" and last["scene_id"] == "finished"
            assert client.call("advance", {"scene_id": "b"})["ok"] is False  # nothing past the end
        finally:
            client.disconnect()
    assert exp.results().participants.iloc[0]["status"] == "completed"


def test_records_for_games_the_page_did_not_run_are_refused_without_blocking_the_rest(tmp_path) -> None:
    game = (
        GymScene()
        .scene("g")
        .runtime(env_code="from mug.env.examples.catch import CatchEnv\nenv = CatchEnv()\n")
        .gameplay(action_mapping={"ArrowLeft": 1}, default_action=0)
        .policies(policy_mapping={"player": "human"})
    )
    exp = Experiment("records", [game], data_dir=tmp_path)

    def step(game_id: str, number: int) -> dict:
        return {
            "game_id": game_id, "episode": 1, "step": number, "scene_id": "g", "t": 1.0 + number,
            "actions": {"player": 0}, "rewards": {"player": 0.0}, "terminated": False, "truncated": False,
            "infos": {}, "observations": None,
        }  # fmt: skip

    with exp.serve() as server:
        client = connect(server, "honest")
        try:
            mine = client.call("start_game", {"scene_id": "g"})["game"]["game_id"]
            reply = client.call(
                "client_records",
                {
                    "source": "test-outbox",
                    "records": [
                        {"seq": 0, "kind": "step", "payload": step(mine, 1)},
                        {"seq": 1, "kind": "step", "payload": step("someone-elses-game", 1)},
                        {"seq": 2, "kind": "step", "payload": {**step(mine, 2), "rewards": "lots"}},
                        {"seq": 3, "kind": "event", "payload": {"scene_id": "g", "kind": "note", "data": {}, "t": 2.0}},
                    ]
                },
            )
        finally:
            client.disconnect()
    # A page may send its own game's steps; another game's, a malformed one and an event of a kind
    # pages do not make are refused (and counted, not written as a row each).
    assert sorted(reply["committed"]) == [0] and sorted(reply["refused"]) == [1, 2, 3]
    results = exp.results()
    assert list(results.steps["game_id"]) == [mine]
    refused = results.events[results.events["kind"] == "refused"]
    assert refused["data.count"].sum() == 3


def test_a_single_player_away_too_long_gets_a_completion_code(tmp_path) -> None:
    exp = Experiment("away", [StartScene().scene("s"), walk_scene(length=100_000)], data_dir=tmp_path)
    with exp.serve(reconnect_grace_s=0.3) as server:
        client = connect(server, "wanderer")
        client.call("advance", {"scene_id": "s"})
        assert client.call("start_game", {"scene_id": "walk"})["ok"]
        client.disconnect()
        eventually(lambda: "abandoned" in set(exp.results().games["outcome"].dropna()))
        back = connect(server, "wanderer")
        try:
            assert back.scene["scene_type"] == "completion_code" and back.scene["ended"] == "abandoned"
            assert len(back.scene["completion_code"]) == 10
        finally:
            back.disconnect()


def test_a_session_binds_to_the_secret_the_page_made_and_a_researcher_can_release_it(tmp_path) -> None:
    exp = Experiment("bound", [StartScene().scene("a"), StaticScene().scene("b")], data_dir=tmp_path)
    page_secret = "p" * 43  # what a page makes and keeps before its first join
    with exp.serve() as server:
        first = socketio.Client(reconnection=False)
        first.connect(server.url, transports=["websocket"], socketio_path="socket.io")
        other = socketio.Client(reconnection=False)
        other.connect(server.url, transports=["websocket"], socketio_path="socket.io")
        try:
            reply = first.call("join", {"query": {"participant": "kim"}, "secret": page_secret})
            assert reply["ok"] and "secret" not in reply  # bound to the page's own secret: nothing to lose
            # The first join's reply may be lost: the same page joins again with what it kept.
            again = first.call("join", {"query": {"participant": "kim"}, "secret": page_secret})
            assert again["ok"], again
            refused = other.call("join", {"query": {"participant": "kim"}, "secret": "q" * 43})
            assert refused["ok"] is False and refused["refused"] == "open_elsewhere"
            assert server.unbind("kim") is True
            taken = other.call("join", {"query": {"participant": "kim"}, "secret": "q" * 43})
            assert taken["ok"], taken  # the next browser takes the released session
            assert server.unbind("nobody") is False
        finally:
            first.disconnect()
            other.disconnect()
    events = exp.results(include_idle=True).events
    assert list(events[events["kind"] == "session_unbound"]["participant_id"]) == ["kim"]


def test_a_game_cut_by_a_clean_stop_is_announced_when_its_player_returns(tmp_path) -> None:
    exp = Experiment("restart", [StartScene().scene("s"), walk_scene(length=100_000)], data_dir=tmp_path)
    with exp.serve() as server:
        client = connect(server, "sam")
        client.call("advance", {"scene_id": "s"})
        frames: list[dict] = []
        client.on("frame", frames.append)
        assert client.call("start_game", {"scene_id": "walk"})["ok"]
        eventually(lambda: len(frames) >= 10)
        url = server.url
    client.disconnect()
    assert list(exp.results().games["outcome"]) == ["aborted"]
    with exp.serve(port=int(url.rsplit(":", 1)[1].strip("/"))) as server:
        back = connect(server, "sam")
        try:
            assert back.scene["scene_id"] == "walk" and "server restarted" in back.scene["notice"]
            assert back.scene["game"] is None  # on_interrupt="restart": the game starts over
        finally:
            back.disconnect()
    events = exp.results().events
    notice = events[events["kind"] == "game_interrupted_notice"]
    assert len(notice) == 1 and notice.iloc[0]["data.on_interrupt"] == "restart"
    assert "steps_lost" not in set(events["kind"])  # a clean stop commits every step
