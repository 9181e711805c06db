"""Where a server-authoritative game's env steps: on the event loop when quick, else a worker thread."""

from __future__ import annotations

import time

import socketio
from envs import Walk, walk_scene
from helpers import eventually

from mug import Experiment
from mug.server.games.placement import PROBE_STEPS


class CpuHeavyWalk(Walk):
    """Each step computes for 4 ms (more than the 2 ms budget for a step on the loop)."""

    def step(self, action: int):  # type: ignore[no-untyped-def]
        end = time.thread_time() + 0.004
        while time.thread_time() < end:
            pass
        return super().step(action)


class TurnsSlowWalk(Walk):
    """Quick until step 60, then each step waits 20 ms (like a simulator that gets busy)."""

    def step(self, action: int):  # type: ignore[no-untyped-def]
        if self.t >= 60:
            time.sleep(0.02)
        return super().step(action)


def _play(tmp_path, env: type, until) -> list[str]:
    """Start a one-player game of `env` and poll it until `until(placement, step)` holds; the placements seen."""
    exp = Experiment("placement", [walk_scene(env=env, length=100_000)], data_dir=tmp_path)
    seen: list[str] = []
    with exp.serve() as server:
        client = socketio.Client(reconnection=False)
        client.connect(server.url, transports=["websocket"], socketio_path="socket.io")
        try:
            assert client.call("join", {"query": {"participant": "p"}})["ok"]
            assert client.call("start_game", {"scene_id": "walk"})["ok"]
            game = server.call(lambda: next(iter(server.sessions.games.values())))

            def reached() -> bool:
                placement, step = server.call(lambda: (game.env_placement, game.step))
                if not seen or seen[-1] != placement:
                    seen.append(placement)
                return until(placement, step)

            eventually(reached, timeout=30)
        finally:
            client.disconnect()
    return seen


def test_a_quick_env_steps_on_the_loop_after_its_probe(tmp_path) -> None:
    seen = _play(tmp_path, Walk, lambda placement, step: placement == "loop" and step > PROBE_STEPS + 5)
    assert seen[0] == "probing" and seen[-1] == "loop"


def test_a_cpu_heavy_env_stays_on_its_worker_thread(tmp_path) -> None:
    seen = _play(tmp_path, CpuHeavyWalk, lambda placement, step: step > PROBE_STEPS + 15)
    assert "loop" not in seen and seen[-1] == "thread"


def test_an_env_that_turns_slow_goes_back_to_its_thread_for_good(tmp_path) -> None:
    seen = _play(tmp_path, TurnsSlowWalk, lambda placement, step: step > 75)
    assert seen[0] == "probing" and "loop" in seen and seen[-1] == "thread"
    assert seen.index("loop") < seen.index("thread")
