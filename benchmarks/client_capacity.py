"""Capacity as participants see it: how many 2-player games at 30 fps every client receives whole.

`server_capacity` judges a level by the server's own clock (how late ticks start). A participant
judges it by what arrives: a tick that starts on time can still reach the page late, or not at
all within the window, when the process that writes the sockets is behind. So at each level this
benchmark reports both criteria, side by side, from one run:

- server: p99 tick lateness < 5 ms (as `server_capacity`);
- clients: every simulated participant receives >= 29 frames/s and the p99 of its frame
  inter-arrival times is < 50 ms.

at two action rates: each player sending an action every frame (30 actions/s) and every tenth
frame (3 actions/s). The simulated participants run in Node (`sim_participants.mjs`), spread
over one Node process per `CLIENTS_PER_NODE` participants so no single client event loop is the
bottleneck; their CPU, and the whole machine's, are reported per level, because on a 2-core
machine the clients share the cores with the server (read the README's guide before comparing
figures). They speak Socket.IO over a bare websocket and never decode a frame (`CLIENT`): with
socket.io-client they took 0.25-0.27 core at 25 games and 30 actions/s, this way 0.15-0.16
(benchmarks/README.md, run D), and every core they take is one the server does not get.

Two of the project's hand-written parts are measured against the library's way in the same run:

- `stock_socketio_path`: the same levels served through python-socketio's own paths
  (`DirectSocketServer.direct = False`: Engine.IO's per-connection queue and writer task,
  Tornado's `write_message`; Engine.IO's receive queue and read loop) instead of the transport's
  direct websocket writes and reads (each level's `ping_rtt_ms` is the latency figure of either).
- `game_process_pipe` (`benchmarks.process_pipe`): `MessagePipe` vs the standard library's
  `multiprocessing.connection.Connection` and asyncio streams, for the games' real message mix.

Run: `python -m benchmarks --only client_capacity` (about 3-5 minutes).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._stats import summary
from benchmarks.server_capacity import _cpu_seconds, _server_cpu, duel_scene
from mug import Experiment, StartScene
from mug.server.web.transport import DirectSocketServer

ROOT = Path(__file__).resolve().parent.parent
LEVELS = (25, 50, 100, 150, 200, 250)
RATES = {"actions_30_per_s": 1, "actions_3_per_s": 10}  # name: SIM_ACTION_EVERY (frames)
WINDOW_S = 5.0
SETTLE_S = 2.0
GAME_PROCESSES = 3  # as server_capacity's headline
CLIENTS_PER_NODE = 100
MIN_FPS = 29.0
MAX_P99_GAP_MS = 50.0
MAX_P99_LATENESS_MS = 5.0
#: The simulated participants (`sim_participants.mjs`, SIM_CLIENT): "wire" speaks the Socket.IO
#: protocol over a bare websocket and never decodes a frame; "library" is socket.io-client. Both
#: send and receive the same messages; wire costs the shared cores less (README, "Reading
#: client_capacity"), so it is the default instrument here.
CLIENT = "wire"


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all cores so far, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def _start_clients(
    url: str, count: int, action_every: int, prefix: str, client: str = "library"
) -> list[subprocess.Popen[str]]:
    """Start `count` simulated participants over enough Node processes; return when all are playing.

    `client`: "library" (socket.io-client) or "wire" (see CLIENT; what both capacity benchmarks use).
    """
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("the client capacity benchmark needs Node.js for its simulated participants")
    if client not in ("wire", "library"):
        raise ValueError(f"client must be 'wire' or 'library', not {client!r}")
    env = {**os.environ, "SIM_ACTION_EVERY": str(action_every), "SIM_PER_CLIENT": "1", "SIM_CLIENT": client}
    processes = math.ceil(count / CLIENTS_PER_NODE)
    shares = [count // processes + (i < count % processes) for i in range(processes)]
    script = str(ROOT / "benchmarks" / "sim_participants.mjs")
    sims = [
        subprocess.Popen(
            [node, script, url, str(share), "duel", f"{prefix}{i}"],
            cwd=ROOT,
            env=env,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        for i, share in enumerate(shares)
    ]
    try:
        for sim in sims:  # (a participant may be matched with one of another process: all start at once)
            assert sim.stdout is not None
            if not sim.stdout.readline():
                raise RuntimeError("the simulated participants failed to start (see their stderr)")
    except BaseException:
        _stop_clients(sims)
        raise
    return sims


def _report(sims: list[subprocess.Popen[str]]) -> list[dict[str, Any]]:
    for sim in sims:
        assert sim.stdin is not None
        sim.stdin.write("report\n")
        sim.stdin.flush()
    return [json.loads(sim.stdout.readline()) for sim in sims if sim.stdout is not None]


def _stop_clients(sims: list[subprocess.Popen[str]]) -> None:
    for sim in sims:
        if sim.stdin is not None and not sim.stdin.closed:
            sim.stdin.close()  # the participants disconnect and the process exits
    for sim in sims:
        try:
            sim.wait(timeout=30)
        except subprocess.TimeoutExpired:
            sim.kill()
            sim.wait()


def client_figures(clients: list[dict[str, Any]]) -> dict[str, Any]:
    """The client criterion and its figures from the simulated participants' window reports.

    Shared with `cluster_capacity`, so both benchmarks judge what participants see the same way.
    """
    per_client = [c for report in clients for c in report["per_client"]]
    fps = [c[0] for c in per_client]
    gaps = [c[1] if c[1] is not None else math.inf for c in per_client]
    pings = [r for report in clients for r in report["ping_rtt_ms"]]
    return {
        "client_ok": bool(per_client) and min(fps) >= MIN_FPS and max(gaps) < MAX_P99_GAP_MS,
        "client_fps": {"min": min(fps, default=0.0), "p50": summary(fps, 1)["p50"]},
        "client_p99_interarrival_ms": {"max": max(gaps, default=math.inf), "p50": summary(gaps, 1)["p50"]},
        "clients_failing": sum(f < MIN_FPS or g >= MAX_P99_GAP_MS for f, g in zip(fps, gaps, strict=True)),
        "ping_rtt_ms": summary(pings, 2),
        "client_cpu_fraction": sum(r["client_cpu_fraction"] for r in clients),  # (unrounded)
    }


def measure_level(
    data_dir: Path, games: int, action_every: int, *, direct: bool = True, client: str = CLIENT
) -> dict[str, Any]:
    """One level on a fresh server (3 game processes): both criteria and what they cost."""
    previous, DirectSocketServer.direct = DirectSocketServer.direct, direct
    try:
        exp = Experiment("capacity", [StartScene().scene("start"), duel_scene("duel")], data_dir=data_dir)
        with exp.serve(game_processes=GAME_PROCESSES) as server:
            try:
                sims = _start_clients(server.url, 2 * games, action_every, "c", client)
            except RuntimeError as exc:  # e.g. connections dropped for missed Engine.IO pings
                return {"games": games, "server_ok": False, "client_ok": False, "error": str(exc)}
            try:
                sessions = server.sessions

                def clear() -> None:
                    for game in sessions.games.values():
                        game.lateness_ms.clear()

                time.sleep(SETTLE_S)  # past the games' first steps (a benchmark's window, not a test)
                server.call(clear)
                _report(sims)  # the clients' window starts with the server's
                cpu0, main0, busy0, wall0 = _server_cpu(server), _cpu_seconds(), _machine_busy(), time.monotonic()
                time.sleep(WINDOW_S)
                clients = _report(sims)
                wall = time.monotonic() - wall0
                cpu = (_server_cpu(server) - cpu0) / wall
                main = (_cpu_seconds() - main0) / wall
                busy1 = _machine_busy()
                lateness, running = server.call(
                    lambda: ([x for g in sessions.games.values() for x in g.lateness_ms], len(sessions.games))
                )
            finally:
                _stop_clients(sims)
    finally:
        DirectSocketServer.direct = previous
    seen = client_figures(clients)
    late = summary(lateness)
    client_cpu = seen["client_cpu_fraction"]
    machine = (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1])
    return {
        "games": running,
        "server_ok": late["p99"] < MAX_P99_LATENESS_MS,
        "client_ok": seen["client_ok"],
        "tick_lateness_ms": late,
        "client_fps": seen["client_fps"],
        "client_p99_interarrival_ms": seen["client_p99_interarrival_ms"],
        "clients_failing": seen["clients_failing"],
        "ping_rtt_ms": seen["ping_rtt_ms"],
        "server_cpu_fraction": round(cpu, 3),  # cores: the server process and its game processes
        "server_main_process_cpu_fraction": round(main, 3),  # the sockets' process alone
        "client_cpu_fraction": round(client_cpu, 3),
        "client_processes": len(clients),
        # Cores per running game: where the 2 cores go, and what a level would need elsewhere.
        "cpu_per_game": {
            "server": round(cpu / max(1, running), 4),
            "sockets_process": round(main / max(1, running), 4),
            "clients": round(client_cpu / max(1, running), 4),
        },
        "machine_busy_fraction": round(machine, 3),  # of all cores
        # Cores busy with neither the server nor the clients (other programs on the machine).
        "other_programs_cpu_cores": round(max(0.0, machine * (os.cpu_count() or 1) - cpu - client_cpu), 3),
        "bytes_per_frame": clients[0]["bytes_per_frame"] if clients else None,
        "load_average": Path("/proc/loadavg").read_text().split()[0],
    }


def curve(
    data: Path, action_every: int, *, direct: bool = True, levels: tuple[int, ...] = LEVELS, client: str = CLIENT
) -> dict[str, Any]:
    """Levels upward until both criteria fail at one; the largest passing level of each."""
    points: list[dict[str, Any]] = []
    for games in levels:
        label = f"{'direct' if direct else 'stock'} path, action every {action_every} frames: {games} games"
        print(f"  {label}…", file=sys.stderr, flush=True)
        point = measure_level(
            data / f"{int(direct)}-{action_every}-{games}", games, action_every, direct=direct, client=client
        )
        points.append(point)
        # Two levels in a row failing both criteria end the curve (one alone may be a noisy window).
        if len(points) >= 2 and not any(p["server_ok"] or p["client_ok"] for p in points[-2:]):
            break
    return {
        "largest_by_server_criterion": max((p["games"] for p in points if p["server_ok"]), default=0),
        "largest_by_client_criterion": max((p["games"] for p in points if p["client_ok"]), default=0),
        "curve": points,
    }


def run(
    rates: dict[str, int] | None = None,
    levels: tuple[int, ...] = LEVELS,
    *,
    stock: bool = True,
    pipe: bool = True,
    client: str = CLIENT,
) -> dict[str, Any]:
    """The whole report: both criteria at each rate, the stock write path, the game-process pipe.

    `rates` (name -> SIM_ACTION_EVERY) and `levels` narrow a run (the command line's options); the
    defaults are what `python -m benchmarks --only client_capacity` measures.
    """
    from benchmarks import process_pipe

    # Participants leaving at the end of each level make the server log every action in flight
    # (refused: the game is gone); only errors are worth printing here.
    logging.getLogger("mug").setLevel(logging.ERROR)
    load_before = Path("/proc/loadavg").read_text().split()[0]
    report: dict[str, Any] = {
        "fps": 30,
        "game_processes": GAME_PROCESSES,
        "window_s": WINDOW_S,
        "criteria": {
            "server": f"p99 tick lateness < {MAX_P99_LATENESS_MS} ms",
            "client": f"every client >= {MIN_FPS} frames/s and p99 frame inter-arrival < {MAX_P99_GAP_MS} ms",
        },
        "load_average_before": load_before,
        "simulated_client": client,
    }
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        for name, every in (rates or RATES).items():
            report[name] = curve(data, every, levels=levels, client=client)
        if stock:
            report["stock_socketio_path"] = {
                "actions_3_per_s": curve(data, RATES["actions_3_per_s"], direct=False, levels=levels, client=client)
            }
    if pipe:
        report["game_process_pipe"] = process_pipe.run()
    report["load_average_after"] = Path("/proc/loadavg").read_text().split()[0]
    return report


def main(argv: list[str] | None = None) -> int:
    """`python -m benchmarks.client_capacity [--rate 3|30] [--levels 25,50] [--no-stock] [--no-pipe]`."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.client_capacity",
        description="Capacity as participants see it (both criteria per level); prints a JSON report.",
    )
    parser.add_argument(
        "--rate", type=int, choices=(3, 30), action="append", help="actions/s per player (repeatable; default both)"
    )
    parser.add_argument("--levels", default=",".join(map(str, LEVELS)), help="games per level, comma-separated")
    parser.add_argument(
        "--client", choices=("wire", "library"), default=CLIENT, help=f"simulated participants (default {CLIENT})"
    )
    parser.add_argument("--no-stock", action="store_true", help="skip python-socketio's stock write path")
    parser.add_argument("--no-pipe", action="store_true", help="skip the game-process pipe comparison")
    parser.add_argument("--out", help="also write the report to this file")
    args = parser.parse_args(argv)
    try:
        levels = tuple(int(x) for x in args.levels.split(","))
    except ValueError:
        parser.error(f"--levels takes whole numbers of games separated by commas, not {args.levels!r}")
    if not levels or min(levels) < 1:
        parser.error(f"--levels needs at least one level of 1 game or more, not {args.levels!r}")
    by_rate = {3: "actions_3_per_s", 30: "actions_30_per_s"}
    rates = {by_rate[r]: RATES[by_rate[r]] for r in args.rate} if args.rate else None
    report = run(rates, levels, stock=not args.no_stock, pipe=not args.no_pipe, client=args.client)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
