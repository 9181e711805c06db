"""A participant's session belongs to the browser that started it; a second browser's records are never lost.

Two defects of a hostile-client review, reproduced as they were found: opening ``/?participant=<A's id>``
in another browser took over A's live session, and a participant who continued in another browser
lost the first steps of its client-side game (its outbox numbered from 0 again and the server took
those records for resends of the first browser's).
"""

from __future__ import annotations

import socketio
from envs import walk_scene
from helpers import hold_key_for_steps, wait_for
from test_client_side import duel_scene
from test_resume_and_robustness import start_game

from mug import CompletionCodeScene, Experiment, StartScene


def _experiment(game, **options) -> Experiment:
    return Experiment("bound", [StartScene().scene("hello"), game, CompletionCodeScene().scene("end")], **options)


def test_another_browser_with_the_same_id_is_told_the_study_is_open_elsewhere(serve, participant) -> None:
    exp = _experiment(walk_scene(length=100_000))
    server = serve(exp)
    owner = participant(server.url + "?participant=alice")
    start_game(owner)
    wait_for(owner, "m.status === 'running' && m.step > 5")

    intruder = participant(server.url + "?participant=alice")  # another browser (a context of its own)
    wait_for(intruder, "m.status === 'elsewhere'")
    assert "open in another browser" in intruder.get_by_test_id("elsewhere").inner_text()
    assert intruder.evaluate("window.mug.sceneId") is None  # it was shown nothing of alice's study

    # The owner was not replaced and still plays their own agent.
    _before, after = hold_key_for_steps(owner, "ArrowRight", 10)
    assert owner.evaluate("window.mug.status") == "running"
    # A script that knows the id gets the same refusal over the socket.
    client = socketio.Client(reconnection=False)
    client.connect(server.url, transports=["websocket"], socketio_path="socket.io")
    try:
        reply = client.call("join", {"query": {"participant": "alice"}})
        assert reply["ok"] is False and reply["refused"] == "open_elsewhere"
        assert client.call("action", {"scene_id": "walk", "action": 2})["error"] == "send 'join' first"
    finally:
        client.disconnect()

    # A reload of the owner's own browser keeps working, in the same game.
    owner.reload()
    wait_for(owner, "m.sceneId === 'walk' && m.status === 'running' && m.step > arg", after)
    server.stop()
    events = exp.results().events
    refused = events[(events["kind"] == "refused") & (events["participant_id"] == "alice")]
    assert refused["data.count"].sum() >= 2  # the second browser and the script, recorded
    assert "open elsewhere" in str(list(refused["data.examples"]))
    assert "device_switched" not in set(events["kind"])


def test_a_participant_who_continues_in_another_browser_keeps_every_step(serve, participant) -> None:
    # The researcher allows a deliberate device switch; the first browser's records are acknowledged
    # under its own numbering, and the second browser numbers from 0 again.
    exp = _experiment(duel_scene("random", length=300), allow_device_switch=True)
    server = serve(exp)
    first = participant(server.url + "?participant=bob")
    start_game(first)
    wait_for(first, "m.status === 'running' && m.outbox.acked >= 40", timeout=60_000)

    second = participant(server.url + "?participant=bob")
    wait_for(first, "m.status === 'replaced'")
    assert "another device" in first.get_by_test_id("replaced").inner_text()
    # The second browser starts the scene's game over (the first browser's game ends interrupted).
    wait_for(second, "m.sceneId === 'duel' && m.status === 'running'", timeout=60_000)
    wait_for(second, "m.sceneId === 'end'", timeout=60_000)
    wait_for(second, "m.outbox.pending === 0")

    results = exp.results()
    games = results.games.set_index("game_id")
    second_game = games[games["outcome"] == "completed"]
    assert len(second_game) == 1
    game_id = second_game.index[0]
    steps = results.steps[results.steps["game_id"] == game_id]
    assert list(steps["step"]) == list(range(1, 301))  # every step of the second browser's game
    episode = results.episodes[results.episodes["game_id"] == game_id].iloc[0]
    assert episode["num_steps"] == 300
    assert "interrupted" in set(games["outcome"])  # the first browser's game, with its own steps
    assert "device_switched" in set(results.events["kind"])
