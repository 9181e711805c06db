"""Helpers shared by the end-to-end tests."""

from __future__ import annotations

import time


def wait_for(page, condition: str, arg: object = None, timeout: float = 20_000) -> object:
    """Wait until a JS predicate over `window.mug` (bound as `m`) is true; returns its value."""
    return page.wait_for_function(
        f"(arg) => {{ const m = window.mug; return m && ({condition}); }}", arg=arg, timeout=timeout
    ).json_value()


def start_walking(page) -> None:
    """From the start scene into a running walk game (tests/envs.py `walk_scene`), ArrowRight held."""
    wait_for(page, "m.connected && m.sceneId === 'hello' && m.status === 'ready'")
    page.get_by_test_id("continue").click()
    wait_for(page, "m.sceneId === 'walk' && m.status === 'waiting_start'")
    page.get_by_test_id("start-game").click()
    page.keyboard.down("ArrowRight")


def hold_key_for_steps(page, key: str, steps: int) -> tuple[int, int]:
    """Hold `key` until the game has advanced `steps` steps; returns (step before, step at release)."""
    start = wait_for(page, "m.status === 'running' && m.step")
    page.keyboard.down(key)
    end = wait_for(page, "m.step >= arg && m.step", start + steps)
    page.keyboard.up(key)
    return int(start), int(end)


def eventually(condition, timeout: float = 20.0):
    """Poll `condition()` (an explicit state) until it is truthy, and return it; fail at the deadline."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.02)


def run_async(coro):
    """``asyncio.run`` on a thread of its own (Playwright's sync API may own this thread's loop)."""
    import asyncio
    import threading

    result = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coro)
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


_SECRETS: dict[tuple[str, str], str] = {}  # (server URL, participant) -> session secret


def join(client, server, participant: str, **payload) -> dict:
    """Send `join` as `participant` from a python-socketio client, keeping the session secret the way
    a browser keeps it, so the same participant can join again later; returns the reply."""
    key = (server.url, participant)
    message = {"query": {"participant": participant}, **payload}
    if key in _SECRETS and "secret" not in payload:
        message["secret"] = _SECRETS[key]
    reply = client.call("join", message)
    if isinstance(reply, dict) and "secret" in reply:
        _SECRETS[key] = reply["secret"]
    return reply


def p2p_episode_records(game: dict, steps: int, agents: tuple[str, ...] = ("p0", "p1")) -> list[dict]:
    """What a P2P page's outbox sends for one episode of ``game`` (its ``matched`` payload): ``steps``
    steps (every agent's action 0, reward 0), then the episode's record. Sequence numbers from 1."""

    gid = game["game_id"]
    batch = [
        {"seq": n, "kind": "step", "payload": {
            "game_id": gid, "episode": 1, "step": n, "scene_id": "duel", "t": 1.0 + n,
            "actions": {a: 0 for a in agents}, "rewards": {a: 0.0 for a in agents},
            "terminated": n == steps, "truncated": False, "infos": {}, "observations": None,
            "focus": {"p0": True, "p1": True},
        }} for n in range(1, steps + 1)
    ]  # fmt: skip
    now = time.time()
    batch.append({"seq": steps + 1, "kind": "episode", "payload": {
        "game_id": gid, "episode": 1, "scene_id": "duel", "participant_ids": [], "seed": game["seed"],
        "started_at": now - 1, "ended_at": now, "num_steps": steps, "returns": {"p0": 0.0},
        "terminated": True, "truncated": False, "outcome": "completed",
    }})  # fmt: skip
    return batch
