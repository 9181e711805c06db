"""Socket.IO round trip browser ↔ server, and tick lateness of one server-authoritative game at 30 fps."""

from __future__ import annotations

import tempfile
from typing import Any

from benchmarks._stats import summary
from mug import Experiment, GymScene, StartScene
from mug._chromium import launch
from mug.env.examples.catch import CatchEnv


def round_trips(page: Any, count: int) -> list[float]:
    """`count` Socket.IO round trips (ms) measured by the participant page, after a short warm-up."""
    return page.evaluate(
        """async (n) => { const out = [];
            for (let i = 0; i < 20; i++) await window.mug.ping();   // warm-up
            for (let i = 0; i < n; i++) out.push(await window.mug.ping());
            return out; }""",
        count,
    )


def bench_game(fps: int) -> GymScene:
    """The game the latency benchmarks play: Catch, one human, long enough never to end."""
    return (
        GymScene()
        .scene("bench")
        .environment(env_creator=CatchEnv, env_config={"max_drops": 10_000}, seed=1)
        .rendering(fps=fps)
        .gameplay(action_mapping={"ArrowLeft": 1, "ArrowRight": 2}, default_action=0, max_steps=1_000_000)
        .policies(policy_mapping={"player": "human"})
    )


def run(pings: int = 1000, ticks: int = 600, fps: int = 30) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    game = bench_game(fps)
    with tempfile.TemporaryDirectory() as data:
        exp = Experiment("bench", [StartScene().scene("start"), game], data_dir=data)
        with exp.serve() as server, sync_playwright() as pw:
            browser = launch(pw)
            try:
                page = browser.new_page()
                page.goto(server.url)
                page.wait_for_function("() => window.mug && window.mug.status === 'ready'")
                page.get_by_test_id("continue").click()
                page.get_by_test_id("start-game").click()
                page.wait_for_function("() => window.mug.status === 'running'")
                # Round trips while the game streams frames, as in a real session.
                rtts = round_trips(page, pings)
                page.wait_for_function("(n) => window.mug.step >= n", arg=ticks, timeout=ticks / fps * 3000)
                lateness = server.stats()["tick_lateness_ms"]
            finally:
                browser.close()
    return {
        "socketio_round_trip_ms": {**summary(rtts), "goal_p50": 2.0},
        "tick_lateness_ms": {**summary(lateness), "fps": fps},
    }
