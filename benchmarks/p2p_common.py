"""What the P2P browser benchmarks share: the PaddlesEnv scenes (P2P and its server-run twin), the
TURN relay, test hooks on for the server's games, and participants walked into a game.

The P2P games run as tests/e2e/test_p2p.py runs them: real Chromium pages, real Pyodide workers,
real WebRTC through a coturn relay on 127.0.0.1 with relay-only ICE (tests/turn.py), and the
server with ``MUG_P2P_TEST_HOOKS=1`` so pages honour ``window.mugTest.p2p`` (injected latency,
jitter, loss on the peer-to-peer packets).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mug import GymScene
from mug.env.examples import PaddlesEnv

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))

from turn import Turn, running_turn  # noqa: E402

__all__ = ["Turn", "enter_game", "new_page", "p2p_game", "running_turn", "server_game", "test_hooks", "wait_for"]

FPS = 30
KEYS = {"ArrowUp": 1, "ArrowDown": 2}


@contextmanager
def test_hooks() -> Iterator[None]:
    """``MUG_P2P_TEST_HOOKS=1`` while the block runs (the server reads it as each P2P game is made)."""
    before = os.environ.get("MUG_P2P_TEST_HOOKS")
    os.environ["MUG_P2P_TEST_HOOKS"] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("MUG_P2P_TEST_HOOKS", None)
        else:
            os.environ["MUG_P2P_TEST_HOOKS"] = before


def p2p_game(scene_id: str, turn: Turn, *, max_steps: int, points_to_win: int = 1000, seed: int = 3) -> GymScene:
    """PaddlesEnv played peer-to-peer by two humans (input delay 2 frames), over the TURN relay."""
    env_code = f"from mug.env.examples import PaddlesEnv\nenv = PaddlesEnv(points_to_win={points_to_win})\n"
    return (
        GymScene()
        .scene(scene_id)
        .runtime(env_code=env_code)
        .multiplayer(mode="p2p", input_delay=2)
        .webrtc(turn_url=turn.url, turn_username=turn.username, turn_credential=turn.credential, force_relay=True)
        .policies(policy_mapping={"left": "human", "right": "human"})
        .rendering(fps=FPS, game_width=400, game_height=240)
        .gameplay(action_mapping=KEYS, default_action=0, num_episodes=1, max_steps=max_steps)
        .environment(seed=seed)
    )


def server_game(scene_id: str, *, max_steps: int, points_to_win: int = 1000, seed: int = 3) -> GymScene:
    """The same env and players, run on the server (server-authoritative)."""
    return (
        GymScene()
        .scene(scene_id)
        .environment(env_creator=PaddlesEnv, env_config={"points_to_win": points_to_win}, seed=seed)
        .multiplayer()
        .policies(policy_mapping={"left": "human", "right": "human"})
        .rendering(fps=FPS, game_width=400, game_height=240)
        .gameplay(action_mapping=KEYS, default_action=0, num_episodes=1, max_steps=max_steps)
    )


def wait_for(page: Any, condition: str, arg: object = None, timeout: float = 30_000) -> Any:
    """Wait until a JS predicate over ``window.mug`` (bound as ``m``) is true; returns its value."""
    return page.wait_for_function(
        f"(arg) => {{ const m = window.mug; return m && ({condition}); }}", arg=arg, timeout=timeout
    ).json_value()


def new_page(browser: Any, url: str) -> Any:
    """A participant: a browser context of its own (own storage, own session) and its page."""
    context = browser.new_context(viewport={"width": 900, "height": 700})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(url)
    return page


def enter_game(pages: list[Any], scene_id: str, conditions: dict[str, Any] | None = None) -> None:
    """Every page from the scene before into ``scene_id``'s running game (conditions: window.mugTest.p2p)."""
    for page in pages:
        if conditions is not None:
            page.evaluate("(p2p) => { window.mugTest = { ...(window.mugTest || {}), p2p }; }", conditions)
        wait_for(page, "m.sceneId === arg && m.status === 'waiting_start'", scene_id, timeout=90_000)
    for page in pages:
        page.get_by_test_id("start-game").click()
    for page in pages:  # (Pyodide loads in each page's worker: the first game can take a while)
        wait_for(page, "m.sceneId === arg && m.status === 'running'", scene_id, timeout=120_000)


def leave_start_scene(pages: list[Any]) -> None:
    """Click through the start scene on every page."""
    for page in pages:
        wait_for(page, "m.sceneType === 'start' && m.status === 'ready'", timeout=60_000)
        page.get_by_test_id("continue").click()


def load_average() -> float:
    """The machine's 1-minute load average (the benchmarks share a 2-core machine)."""
    return round(os.getloadavg()[0], 2)
