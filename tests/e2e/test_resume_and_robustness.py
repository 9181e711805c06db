"""Reloads resume without losing steps; garbage events get errors while others keep playing."""

from __future__ import annotations

import json

import pytest
import socketio
from envs import PixelWalk, walk_scene
from helpers import hold_key_for_steps, wait_for

from mug import CompletionCodeScene, Experiment, StartScene


def experiment(game) -> Experiment:
    return Experiment(
        "robust", [StartScene().scene("hello").display(scene_header="Hello"), game, CompletionCodeScene().scene("end")]
    )


def start_game(page) -> None:
    wait_for(page, "m.sceneId === 'hello' && m.status === 'ready'")
    page.get_by_test_id("continue").click()
    wait_for(page, "m.status === 'waiting_start'")
    page.get_by_test_id("start-game").click()
    wait_for(page, "m.status === 'running' && m.render.framesApplied > 0")


def test_reload_mid_game_resumes_the_scene_and_loses_no_step(serve, participant) -> None:
    exp = experiment(walk_scene(length=150))
    server = serve(exp)
    page = participant(server.url)  # no id in the URL: the page gets one and keeps it across the reload
    start_game(page)
    hold_key_for_steps(page, "ArrowRight", 10)
    before = wait_for(page, "m.step >= 20 && m.step")
    pid = page.evaluate("window.mug.participantId")
    assert f"participant={pid}" in page.url

    page.reload()
    # Same participant, same scene, the game resumes from where it was (no Start button, no restart).
    wait_for(page, "m.sceneId === 'walk' && m.status === 'running' && m.step > arg", before)
    assert page.evaluate("window.mug.participantId") == pid
    assert page.evaluate("window.mug.episode") == 1
    hold_key_for_steps(page, "ArrowLeft", 5)
    wait_for(page, "m.sceneId === 'end'", timeout=30_000)

    results = exp.results()
    steps = results.steps
    assert list(steps["step"]) == list(range(1, 151))  # every step once: no gap, no duplicate
    assert results.episodes.loc[0, "num_steps"] == 150
    visits = results.scene_visits.set_index("scene_id")
    assert visits.loc["walk", "reloads"] >= 1
    kinds = list(results.events["kind"])
    assert "disconnect" in kinds and "rejoin" in kinds


def test_garbage_events_get_errors_while_another_participant_plays(serve, participant) -> None:
    exp = experiment(walk_scene(length=100_000))
    server = serve(exp)
    page = participant(server.url + "?participant=steady")
    start_game(page)

    client = socketio.Client(reconnection=False)
    errors: list[dict] = []
    client.on("error", errors.append)
    client.connect(server.url, transports=["websocket"], socketio_path="socket.io")
    try:
        assert client.call("advance", {"scene_id": "hello"})["error"] == "send 'join' first"
        assert "wrong type int" in client.call("join", {"participant_id": 5})["error"]
        assert "exactly one payload" in client.call("join", ({}, {}))["error"]
        assert client.call("join", {"query": {"participant": "mallory"}})["ok"] is True
        assert "limit is 2048" in client.call("action", {"scene_id": "hello", "action": "x" * 1_000_000})["error"]
        assert "not one of this scene's actions" not in str(errors)
        assert "unknown event 'cheat'" in client.call("cheat", {"score": 1e9})["error"]
        assert "payload must be an object" in client.call("ping", "now")["error"]
        # Mallory cannot act in someone else's game, nor jump ahead in the experiment.
        assert "no running game" in client.call("action", {"scene_id": "walk", "action": 2})["error"]
        assert "participant is in 'hello'" in client.call("advance", {"scene_id": "walk"})["error"]
        client.emit("client_event", {"kind": "focus", "data": {"x": float("inf")}})
    finally:
        client.disconnect()
    assert len(errors) >= 7  # each rejection also arrives as an 'error' event

    # The other participant kept playing throughout and still plays.
    before = page.evaluate("window.mug.step")
    _start, end = hold_key_for_steps(page, "ArrowRight", 10)
    assert end >= before + 10
    assert page.evaluate("window.mug.errors.length") == 0
    server.stop()  # refusals are counted and written as summaries (the last ones when the server stops)
    events = exp.results(include_idle=True).events  # (mallory never did anything a participant does)
    rejected = events[events["kind"] == "refused"]
    assert rejected["data.count"].sum() >= 7
    assert set(rejected["participant_id"].dropna()) <= {"mallory"}
    assert "mallory" not in set(exp.results().participants["participant_id"])


def test_an_rgb_array_env_is_playable(serve, participant) -> None:
    exp = experiment(walk_scene(env=PixelWalk, length=60).gameplay(record_observations=True))
    server = serve(exp)
    page = participant(server.url)
    start_game(page)
    start, end = hold_key_for_steps(page, "ArrowRight", 10)
    # Each moving frame arrives as a new image; unchanged frames are not sent again.
    wait_for(page, "m.render.images >= 5")
    wait_for(page, "m.sceneId === 'end'", timeout=30_000)
    steps = exp.results().steps.set_index("step")
    assert set(steps.loc[start + 2 : end, "action"]) == {2}
    assert steps["info.x"].iloc[-1] > 0.5
    last_obs = json.loads(steps["obs"].iloc[-1])  # observations were asked for
    assert last_obs["walker"][0] == pytest.approx(steps["info.x"].iloc[-1], abs=1e-3)


def test_opening_the_study_in_a_second_tab_moves_the_session_there(serve, participant) -> None:
    exp = experiment(walk_scene(length=100_000))
    server = serve(exp)
    first = participant(server.url + "?participant=twice")
    start_game(first)
    second = first.context.new_page()  # a second tab of the same browser
    second.goto(server.url + "?participant=twice")
    wait_for(first, "m.status === 'replaced'")
    assert "another tab" in first.get_by_test_id("replaced").inner_text()
    # The newer page carries on in the same scene, with the running game.
    wait_for(second, "m.sceneId === 'walk' && m.status === 'running'")
    before = second.evaluate("window.mug.step")
    wait_for(second, "m.step > arg", before)
