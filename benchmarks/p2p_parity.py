"""Record parity of P2P games under a bad network: 15 % loss, 200 ms RTT, ±50 ms jitter.

Two Chromium pages play 20 short P2P games of ``mug.env.examples.PaddlesEnv`` one after the other
(20 P2P scenes in one study, so each page's Pyodide worker loads once; every scene is a new match,
a new netcode session and new WebRTC links through the coturn relay on 127.0.0.1 with relay-only
ICE, as tests/e2e/test_p2p.py runs them). Each page sets ``window.mugTest.p2p = {latencyMs: 100,
jitterMs: 25, loss: 0.15, seed}`` on its outgoing peer packets (so each way 100 ± 25 ms, a round
trip of 200 ± 50 ms, and 15 % of the packets lost each way) and presses the game's keys in a
seeded pattern of its own (a key, or none, held for 100–400 ms, dispatched in the page), so both
players' inputs keep changing and predictions keep missing.

Figures, from the server's data (``results(peer_rows=True)``): the share of episodes whose
``parity`` is ``"match"`` (both peers recorded identical steps; goal 100 %), and from each peer's
final ``p2p_stats``: rollbacks, the deepest rollback (frames), the share of frames first
simulated on a predicted input, desyncs (checksum mismatches) per game, and the transports used.

    python -m benchmarks --only p2p_parity
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._stats import percentile
from benchmarks.p2p_common import (
    FPS,
    enter_game,
    leave_start_scene,
    load_average,
    new_page,
    p2p_game,
    running_turn,
    test_hooks,
    wait_for,
)
from mug import CompletionCodeScene, Experiment, StartScene
from mug._chromium import launch

CONDITIONS = {"latencyMs": 100, "jitterMs": 25, "loss": 0.15}

# Holds ArrowUp, ArrowDown or nothing for 100-400 ms at a time, from a seeded xorshift32: the
# stage listens for keys on window, so the game sees these as a player's presses.
KEY_PATTERN_JS = """(seed) => {
  if (window.benchKeyTimer) return;
  let x = (seed >>> 0) || 1;
  const rnd = () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 4294967296; };
  let held = null;
  const step = () => {
    if (held) window.dispatchEvent(new KeyboardEvent("keyup", { key: held }));
    const r = rnd();
    held = r < 0.35 ? "ArrowUp" : r < 0.7 ? "ArrowDown" : null;
    if (held) window.dispatchEvent(new KeyboardEvent("keydown", { key: held }));
    window.benchKeyTimer = setTimeout(step, 100 + rnd() * 300);
  };
  step();
}"""


def _settled(server: Any, games: int, timeout_s: float = 120.0) -> Any:
    """The results once every game's episode has a parity from both peers (their records are in)."""
    deadline = time.monotonic() + timeout_s
    while True:
        results = server.results(peer_rows=True)
        episodes = results.episodes
        done = len(episodes) >= games and episodes["parity"].isin(["match", "mismatch"]).all()
        if (done and len(results.p2p) >= 2 * games) or time.monotonic() > deadline:
            return results
        time.sleep(0.5)


def run(games: int = 20, steps: int = 200, seed: int = 5) -> dict[str, Any]:
    """``games`` P2P games of ``steps`` frames each between the same two pages."""
    from playwright.sync_api import sync_playwright

    started = time.monotonic()
    scene_ids = [f"g{n:02d}" for n in range(1, games + 1)]
    per_game_s: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, test_hooks(), running_turn(Path(tmp) / "turn") as turn:
        scenes = [p2p_game(sid, turn, max_steps=steps, seed=seed + n) for n, sid in enumerate(scene_ids)]
        exp = Experiment(
            "p2p_parity",
            [StartScene().scene("hello"), *scenes, CompletionCodeScene().scene("end")],
            data_dir=Path(tmp) / "data",
        )
        with exp.serve() as server, sync_playwright() as pw:
            browser = launch(pw)
            try:
                pages = [new_page(browser, f"{server.url}?participant={name}") for name in ("ann", "ben")]
                leave_start_scene(pages)
                for n, scene_id in enumerate(scene_ids):
                    t0 = time.monotonic()
                    for peer, page in enumerate(pages):
                        page.evaluate(
                            "(p2p) => { window.mugTest = { ...(window.mugTest || {}), p2p }; }",
                            {**CONDITIONS, "seed": seed * 1000 + 10 * n + peer},
                        )
                    enter_game(pages, scene_id)
                    if n == 0:
                        for peer, page in enumerate(pages):
                            page.evaluate(KEY_PATTERN_JS, seed * 7919 + peer)
                    for page in pages:  # the game ends on both and the page moves on
                        wait_for(page, "m.sceneId !== arg", scene_id, timeout=steps / FPS * 1000 * 6 + 60_000)
                    per_game_s.append(time.monotonic() - t0)
                for page in pages:
                    wait_for(page, "m.sceneType === 'completion_code' && m.status === 'ended'", timeout=60_000)
                    page.evaluate("clearTimeout(window.benchKeyTimer)")
                results = _settled(server, games)
            finally:
                browser.close()
    episodes = results.episodes
    parity = episodes["parity"].value_counts().to_dict()
    p2p = results.p2p
    per_game = p2p.groupby("game_id").agg(
        rollbacks=("rollbacks", "sum"),
        max_rollback_depth=("max_rollback_depth", "max"),
        desyncs=("desyncs", "max"),
        predicted_share=("predicted_share", "mean"),
    )
    transports = sorted({t for row in p2p["transport"] for t in (row or {}).values()})
    rtts = [r for row in p2p["rtt_ms"] for r in (row or {}).values() if r is not None]
    return {
        "env": "PaddlesEnv (mug.env.examples), 2 pages pressing keys in seeded patterns, 30 fps",
        "conditions_each_way": {**CONDITIONS, "rtt_ms": 2 * CONDITIONS["latencyMs"]},
        "games": games,
        "frames_per_game": steps,
        "episodes": len(episodes),
        "parity": parity,
        "match_share": round(parity.get("match", 0) / max(1, len(episodes)), 4),
        "goal_match_share": 1.0,
        "rollbacks_per_game": {
            "mean": round(float(per_game["rollbacks"].mean()), 1),
            "max": int(per_game["rollbacks"].max()),
        },
        "rollbacks_per_peer_per_100_frames": round(float(p2p["rollbacks"].sum()) / len(p2p) / steps * 100, 1),
        "max_rollback_depth_frames": int(per_game["max_rollback_depth"].max()),
        "max_rollback_depth_p50_over_games": percentile(list(per_game["max_rollback_depth"]), 50),
        "predicted_share": {
            "mean": round(float(p2p["predicted_share"].mean()), 3),
            "max": round(float(p2p["predicted_share"].max()), 3),
        },
        "desyncs_per_game": {
            "mean": round(float(per_game["desyncs"].mean()), 2),
            "max": int(per_game["desyncs"].max()),
        },
        "peer_rtt_ms_at_end": {"p50": round(percentile(rtts, 50), 1), "max": round(max(rtts), 1)} if rtts else None,
        "transports": transports,
        "p2p_stats_rows": len(p2p),
        "seconds_per_game": {"p50": round(percentile(per_game_s, 50), 1), "max": round(max(per_game_s), 1)},
        "machine_load_1min": load_average(),
        "seconds": round(time.monotonic() - started, 1),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
