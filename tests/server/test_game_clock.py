"""A server-authoritative game's clock after a slow step: it realigns, it never fast-forwards.

A 10 fps game once recorded its first three steps 8 ms apart: its first step was slow, and the loop
ran the ticks it had missed back to back, so the participant saw the game jump ahead.
"""

from __future__ import annotations

import time

import socketio
from envs import Walk
from helpers import eventually, join

from mug import EndScene, Experiment, GymScene, StartScene

FPS = 10
SLOW_FIRST_STEP_S = 0.35  # three and a half frame periods


class SlowFirstStep(Walk):
    """A walk whose first step takes a while (as a first step that loads or compiles something does)."""

    def step(self, action: int):  # type: ignore[override]
        if self.t == 0:
            time.sleep(SLOW_FIRST_STEP_S)  # (the env being slow, not the test waiting)
        return super().step(action)


def test_after_a_slow_first_step_the_steps_keep_the_frame_period(tmp_path) -> None:
    game = (
        GymScene()
        .scene("walk")
        .environment(env_creator=SlowFirstStep, env_config={"length": 8}, seed=1)
        .rendering(fps=FPS, game_width=400, game_height=200)
        .gameplay(action_mapping={"ArrowRight": 2}, default_action=0, num_episodes=1)
        .policies(policy_mapping={"walker": "human"})
    )
    exp = Experiment("clock", [StartScene().scene("start"), game, EndScene().scene("end")], data_dir=tmp_path)
    with exp.serve() as server:
        client = socketio.Client(reconnection=False)
        client.connect(server.url, transports=["websocket"], socketio_path="socket.io")
        try:
            scene = join(client, server, "slow")["scene"]
            client.call("advance", {"scene_id": scene["scene_id"]})
            assert client.call("start_game", {"scene_id": "walk"})["ok"]
            eventually(lambda: len(server.results().episodes) == 1, timeout=30)
        finally:
            client.disconnect()
    results = exp.results()
    steps = results.steps.sort_values("step")
    assert steps["step"].tolist() == list(range(1, 9)) and results.episodes["outcome"].tolist() == ["completed"]
    gaps_ms = [round(gap * 1000, 1) for gap in steps["t"].diff().dropna()]
    period_ms = 1000 / FPS
    assert min(gaps_ms) >= period_ms / 2, f"steps {gaps_ms} ms apart at {FPS} fps: a fast-forward"
