"""The page's input-to-screen latency probe (`window.mug.inputLatency`, docs/protocol.md): a key press
is matched with the first drawn frame in which the watched object moved. benchmarks/p2p_latency.py
relies on it; here it runs on a server-run PaddlesEnv game in Chromium.
"""

from __future__ import annotations

from helpers import wait_for

from mug import CompletionCodeScene, Experiment, GymScene, StartScene
from mug.env.examples import PaddlesEnv


def paddles() -> GymScene:
    return (
        GymScene()
        .scene("paddles")
        .environment(env_creator=PaddlesEnv, env_config={"points_to_win": 1000}, seed=3)
        .policies(policy_mapping={"left": "human", "right": "random"})
        .rendering(fps=30, game_width=400, game_height=240)
        .gameplay(action_mapping={"ArrowUp": 1, "ArrowDown": 2}, default_action=0, max_steps=100_000)
    )


def test_a_key_press_is_matched_with_the_first_frame_that_moved_the_players_paddle(serve, participant) -> None:
    server = serve(Experiment("probe", [StartScene().scene("hello"), paddles(), CompletionCodeScene().scene("end")]))
    page = participant(f"{server.url}?participant=ann")
    wait_for(page, "m.sceneId === 'hello' && m.status === 'ready'")
    page.get_by_test_id("continue").click()
    wait_for(page, "m.status === 'waiting_start'")
    page.get_by_test_id("start-game").click()
    wait_for(page, "m.status === 'running' && m.agentId === 'left' && m.step > 5")
    assert page.evaluate("window.mug.inputLatency") is None  # off unless a measurer sets it
    page.evaluate("window.mug.inputLatency = { objectId: 'left_paddle', lastChangeAt: null, samples: [] }")
    for key in ("ArrowUp", "ArrowDown"):
        count = page.evaluate("window.mug.inputLatency.samples.length")
        page.keyboard.down(key)
        wait_for(page, "m.inputLatency.samples.length > arg && m.inputLatency.samples[arg].drawnAt !== null", count)
        page.keyboard.up(key)
        sample = page.evaluate(f"window.mug.inputLatency.samples[{count}]")
        assert sample["key"] == key
        assert sample["step"] > sample["stepAtKey"]  # a later frame showed it
        assert sample["keyAt"] <= sample["frameAt"] <= sample["drawnAt"]
        # The paddle stops once the key is up: wait until it is still before the next press.
        wait_for(page, "m.inputLatency.lastChangeAt !== null && performance.now() - m.inputLatency.lastChangeAt > 300")
    assert page.evaluate("window.mug.inputLatency.samples.length") == 2
