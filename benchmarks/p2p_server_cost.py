"""The server's CPU cost of P2P games: signaling, status, records, and the relay when WebRTC fails.

In a P2P game the env runs in the browsers; the server matches the players, forwards their
signaling, keeps their status for the monitor, stores every peer's records (each peer sends every
step; the server keeps both and compares them per episode) and, when DataChannels cannot connect,
relays the netcode's packets. This measures what that costs the server's process.

Simulated participants (benchmarks/p2p_sim_peers.mjs: socket.io-client in a Node process of its
own) replay a P2P page's traffic for N games at once (2 participants each): join, advance,
start_game and the waitroom's matching, an offer/answer and two ICE candidates each, p2p_status
every 2 s, a ping every 3 s, client_records batches every 250 ms (one step record per frame at
30 fps, the P2P page's payload, an episode record every 300 steps so the server compares the two
peers' records), and in the ``relayed`` variant a p2p_relay event with one packet per frame per
peer (30 a second each way). The other variant, ``datachannel``, is a game whose DataChannel is
up: the server sees only records, status and pings.

Per level and variant, on a fresh server (``Experiment.serve()``, the games in its own process):
the server process's CPU (every thread: event loop, database writer) over a window, per
game-minute and as a fraction of one core, with the process's idle CPU subtracted; the records'
acknowledgement round trip seen by the clients (the server keeping up); and what the clients
sent. ``participants_at_half_a_core``: how many P2P participants one server process holds at
50 % of one core, from the largest level's cost per participant.

    python -m benchmarks --only p2p_server_cost
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.p2p_common import KEYS, load_average
from mug import Experiment, GymScene, StartScene

ROOT = Path(__file__).resolve().parent.parent
SIM = ROOT / "benchmarks" / "p2p_sim_peers.mjs"
LEVELS = (4, 8, 12, 16)
WINDOW_S = 10.0
SETTLE_S = 3.0
EPISODE_STEPS = 300
SCENE = "duel"


def p2p_scene() -> GymScene:
    """The P2P scene the simulated pages play (PaddlesEnv; the server never runs it)."""
    return (
        GymScene()
        .scene(SCENE)
        .runtime(env_code="from mug.env.examples import PaddlesEnv\nenv = PaddlesEnv(points_to_win=1000)\n")
        .multiplayer(mode="p2p", input_delay=2)
        .policies(policy_mapping={"left": "human", "right": "human"})
        .rendering(fps=30, game_width=400, game_height=240)
        .gameplay(action_mapping=KEYS, default_action=0, num_episodes=10_000, max_steps=EPISODE_STEPS)
        .environment(seed=3)
    )


def _cpu_s() -> float:
    """CPU seconds of this process (all threads): the server's, since the benchmark itself only sleeps."""
    t = os.times()
    return t.user + t.system


def _level(games: int, relayed: bool, idle_fraction: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        exp = Experiment("p2p_cost", [StartScene().scene("hello"), p2p_scene()], data_dir=Path(tmp) / "data")
        with exp.serve() as server:
            sim = subprocess.Popen(
                ["node", str(SIM), server.url, str(games), SCENE, f"g{games}{'r' if relayed else 'd'}",
                 "1" if relayed else "0", str(EPISODE_STEPS)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
            )  # fmt: skip
            assert sim.stdin is not None and sim.stdout is not None
            try:
                ready = sim.stdout.readline()
                if not ready.strip():
                    raise RuntimeError(f"the simulated participants did not start (exit {sim.wait()})")
                time.sleep(SETTLE_S)
                sim.stdin.write("\n")
                sim.stdin.flush()
                sim.stdout.readline()  # (the settle period's report)
                cpu0, t0 = _cpu_s(), time.monotonic()
                time.sleep(WINDOW_S)
                sim.stdin.write("\n")
                sim.stdin.flush()
                cpu1, t1 = _cpu_s(), time.monotonic()
                clients = json.loads(sim.stdout.readline())
                live = server.snapshot()
            finally:
                if sim.stdin and not sim.stdin.closed:
                    sim.stdin.close()
                try:
                    sim.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    sim.kill()
                    sim.wait()
                time.sleep(1.0)  # the server handles the disconnects before it stops
    wall = t1 - t0
    fraction = (cpu1 - cpu0) / wall
    above_idle = max(0.0, fraction - idle_fraction)
    participants = 2 * games
    p2p_games = [g for g in live.get("games", []) if g.get("mode") == "p2p"]
    acked = clients["records_acked"] / clients["seconds"]
    relay_sent = clients["sent"].get("p2p_relay", 0)
    # Kept up: (nearly) every frame's records acknowledged and every relayed packet delivered in the window.
    kept_up = acked >= 0.9 * 30 * participants and clients["relay_packets_received"] >= 0.9 * relay_sent
    return {
        "games": games,
        "participants": participants,
        "p2p_games_running": len(p2p_games),
        "server_cpu_fraction": round(fraction, 3),
        "server_cpu_fraction_above_idle": round(above_idle, 3),
        "server_cpu_s_per_game_minute": round(above_idle * 60 / games, 3),
        "server_cpu_ms_per_participant_second": round(above_idle * 1000 / participants, 3),
        "records_ack_ms": clients["records_ack_ms"],
        "records_acked_per_s": round(clients["records_acked"] / clients["seconds"], 1),
        "records_refused": clients["records_refused"],
        "server_errors": clients["server_errors"],
        "events_sent_per_s": {k: round(v / clients["seconds"], 1) for k, v in sorted(clients["sent"].items())},
        "relay_packets_received_per_s": round(clients["relay_packets_received"] / clients["seconds"], 1),
        "client_cpu_fraction": clients["client_cpu_fraction"],
        "kept_up": kept_up,
        "machine_load_1min": load_average(),
    }


def _idle_fraction() -> float:
    """The server process's CPU with no one connected (its timers), as a fraction of a core."""
    with tempfile.TemporaryDirectory() as tmp:
        exp = Experiment("p2p_cost_idle", [StartScene().scene("hello"), p2p_scene()], data_dir=Path(tmp) / "data")
        with exp.serve():
            time.sleep(1.0)
            cpu0, t0 = _cpu_s(), time.monotonic()
            time.sleep(WINDOW_S / 2)
            return (_cpu_s() - cpu0) / (time.monotonic() - t0)


def run(levels: tuple[int, ...] = LEVELS) -> dict[str, Any]:
    """Each level of concurrent games, with DataChannels up and with every packet relayed."""
    started = time.monotonic()
    idle = _idle_fraction()
    variants: dict[str, list[dict[str, Any]]] = {"datachannel": [], "relayed": []}
    for games in levels:  # (the variants alternate, so the machine's load drifting favours neither)
        for name in variants:
            variants[name].append(_level(games, name == "relayed", idle))
    out: dict[str, Any] = {
        "what": "server process CPU for N concurrent 2-player P2P games of simulated pages (records at 30 fps)",
        "window_s": WINDOW_S,
        "episode_steps": EPISODE_STEPS,
        "server_idle_cpu_fraction": round(idle, 4),
    }
    for name, rows in variants.items():
        # The figures per game and per participant come from the largest level the server kept up
        # with: past that its CPU is capped (one process, one core's worth of Python) and work waits.
        top = next((row for row in reversed(rows) if row["kept_up"]), rows[0])
        per_participant = top["server_cpu_fraction_above_idle"] / top["participants"]
        out[name] = {
            "levels": rows,
            "figures_from_level": top["games"],
            "largest_level_kept_up": max((row["games"] for row in rows if row["kept_up"]), default=None),
            "server_cpu_s_per_game_minute": top["server_cpu_s_per_game_minute"],
            "participants_at_half_a_core": int(0.5 / per_participant) if per_participant > 0 else None,
        }
    # What one record and one relayed packet cost, at the level the relayed figures come from: the
    # records path is nearly all the DataChannel variant does; the relay is the difference.
    at = out["relayed"]["figures_from_level"]
    relayed = next(row for row in variants["relayed"] if row["games"] == at)
    dc = next(row for row in variants["datachannel"] if row["games"] == at)
    if dc["records_acked_per_s"] > 0:
        out["server_cpu_us_per_record"] = round(dc["server_cpu_fraction_above_idle"] / dc["records_acked_per_s"] * 1e6)
    relay_rate = relayed["events_sent_per_s"].get("p2p_relay", 0)
    if relay_rate > 0:
        extra = relayed["server_cpu_fraction_above_idle"] - dc["server_cpu_fraction_above_idle"]
        out["server_cpu_us_per_relayed_packet"] = round(extra / relay_rate * 1e6)
    out["machine_load_1min"] = load_average()
    out["seconds"] = round(time.monotonic() - started, 1)
    return out


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
