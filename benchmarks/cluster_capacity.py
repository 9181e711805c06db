"""Capacity with 1 and with 2 `mug serve` processes behind a load balancer, in the same run.

Issue 15 runs one experiment on several server processes (`mug serve --redis URL --database URL`
behind nginx; docs/deploy.md). Whether that adds capacity is a question of figures, so this
benchmark measures, level by level and in one run, the same 2-player server-run game at 30 fps
played by the same simulated participants (`client_capacity`'s bare-websocket clients in Node) on:

- ``one_process_direct``: 1 `mug serve` process, the participants connected to it directly;
- ``one_process_nginx``: the same behind nginx (least_conn), to see what the proxy hop costs;
- ``two_processes_nginx``: 2 `mug serve --redis --database` processes behind nginx, a real
  deployment: a game runs on the process whose waitroom matched it, and a player connected to the
  other process plays through it over Redis.

All three keep the experiment's data in PostgreSQL (a fresh database per level), so the comparison
is between process layouts, not stores. Each level starts fresh processes (and a fresh Redis) and
reports:

- server criterion: the tick lateness p99 < 5 ms. A `mug serve` process is another program, so the
  benchmark reads its admin API (``admin/api/state``), which gives per game the largest lateness
  of its last 60 ticks (2 s). Polled every 2 s over the window, that is one maximum per game and
  slice; the median of the maxima of 60 samples lies at the samples' 98.9th percentile, so the
  median of those maxima is the estimate of the p99 judged here (their p99 and max are reported too);
- client criterion (as `client_capacity`): every participant >= 29 frames/s and its p99 frame
  inter-arrival < 50 ms;
- how many games had their two players on different processes (the game appears in both
  processes' admin states: on its home as a game it runs, on the other as a game it relays),
  and how many participants each process held;
- CPU (cores) of every `mug serve` process with its game processes, of Redis, nginx, PostgreSQL
  (all its backends) and the clients; the machine's busy share and load average;
- the error lines of the servers' logs during the level (none is the expectation).

The machine has 2 cores: with 2 server processes, the clients, Redis, nginx and PostgreSQL on
them, 2 processes are not expected to beat 1 here. The README's reading guide says what changes
on several machines.

Run: `python -m benchmarks --only cluster_capacity` (about 5-7 minutes).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks._stats import summary
from benchmarks.client_capacity import _machine_busy, _report, _start_clients, _stop_clients, client_figures
from benchmarks.server_capacity import _cpu_seconds

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the test cluster's starters: real Redis, nginx, `mug serve`
from cluster import load_balancer, mug_servers, redis_server  # noqa: E402
from postgres import Postgres, start_postgres  # noqa: E402

LEVELS = (10, 25, 50, 75, 100)
RATES = {"actions_3_per_s": 10}  # name: SIM_ACTION_EVERY (frames); 30/s doubles the run's time
#: name: (server processes, behind nginx)
LAYOUTS = {
    "one_process_direct": (1, False),
    "one_process_nginx": (1, True),
    "two_processes_nginx": (2, True),
}
GAME_PROCESSES = 2  # per `mug serve` process (forked game processes), the same in every layout
SETTLE_S = 2.0
POLLS = 3  # admin-state reads, one every POLL_S: the window is POLLS * POLL_S seconds
POLL_S = 2.0  # = the 60 ticks (at 30 fps) over which the admin state gives each game's max lateness
MAX_P99_LATENESS_MS = 5.0
ERROR_LINE = re.compile(r"\b(ERROR|CRITICAL|Traceback)\b")

EXPERIMENT = """\
# The cluster capacity benchmark's experiment (benchmarks/cluster_capacity.py), served by `mug serve`.
import sys

sys.path.insert(0, {root!r})
from benchmarks.server_capacity import duel_scene
from mug import Experiment, StartScene

experiment = Experiment("cluster_capacity", [StartScene().scene("start"), duel_scene("duel")])
"""


def _children() -> dict[int, list[int]]:
    """Every process's children, from /proc (a snapshot)."""
    kids: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def _tree_cpu(roots: dict[str, int]) -> dict[str, dict[int, float]]:
    """CPU seconds so far of each named process and all its descendants, per pid."""
    kids = _children()
    out: dict[str, dict[int, float]] = {}
    for name, root in roots.items():
        seen: dict[int, float] = {}
        todo = [root]
        while todo:
            pid = todo.pop()
            with contextlib.suppress(OSError, IndexError, ValueError):
                seen[pid] = _cpu_seconds(pid)
            todo.extend(kids.get(pid, []))
        out[name] = seen
    return out


def _cores(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]], wall: float) -> dict[str, float]:
    """Cores used by each named tree over `wall` s (a process started meanwhile counts from 0)."""
    return {
        name: round(sum(t - before.get(name, {}).get(pid, 0.0) for pid, t in pids.items()) / wall, 3)
        for name, pids in after.items()
    }


def _admin_state(url: str, token: str) -> dict[str, Any]:
    request = urllib.request.Request(url + "admin/api/state", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=15) as reply:
        return json.loads(reply.read())


def _log_errors(path: Path, start: int) -> list[str]:
    """The error lines written to a server's log after byte `start`."""
    if not path.exists():
        return []
    with open(path, "rb") as log:
        log.seek(start)
        text = log.read().decode(errors="replace")
    return [line for line in text.splitlines() if ERROR_LINE.search(line)]


def _postmaster(pg: Postgres) -> int:
    return int((pg.directory / "db" / "postmaster.pid").read_text().split("\n", 1)[0])


def measure_level(
    workdir: Path, target: str, pg: Postgres, layout: str, games: int, action_every: int
) -> dict[str, Any]:
    """One level on fresh `mug serve` processes (and Redis): both criteria and what every part costs."""
    count, behind_nginx = LAYOUTS[layout]
    database = pg.create_database()
    token = secrets.token_urlsafe(24)
    point: dict[str, Any] = {"games_wanted": games}
    with contextlib.ExitStack() as stack:
        extra = ["--database", database, "--game-processes", str(GAME_PROCESSES)]
        parts: dict[str, int] = {}
        if count > 1:
            redis = stack.enter_context(redis_server(workdir / "redis"))
            extra += ["--redis", redis.url]
            parts["redis"] = redis.proc.pid
        servers = stack.enter_context(
            mug_servers(target, count, workdir / "servers", extra_args=extra, admin_token=token, separate_data=False)
        )
        url = servers[0].url
        if behind_nginx:
            lb = stack.enter_context(load_balancer(workdir / "lb", [s.port for s in servers]))
            url = lb.url
            parts["nginx"] = lb.proc.pid
        parts["postgresql"] = _postmaster(pg)
        for i, server in enumerate(servers):
            parts[f"server_{i}"] = server.proc.pid
        log_start = {s.log: s.log.stat().st_size for s in servers}
        try:
            sims = _start_clients(url, 2 * games, action_every, f"g{games}{layout[:3]}", client="wire")
        except RuntimeError as exc:  # e.g. participants never matched within the sims' 120 s
            errors = [line for s in servers for line in _log_errors(s.log, log_start[s.log])]
            return {**point, "server_ok": False, "client_ok": False, "error": str(exc),
                    "server_log_error_lines": errors[:20]}  # fmt: skip
        try:
            time.sleep(SETTLE_S)  # past the games' first steps (a benchmark's window, not a test)
            _report(sims)  # the clients' window starts here
            cpu0, busy0, wall0 = _tree_cpu(parts), _machine_busy(), time.monotonic()
            states: list[list[dict[str, Any]]] = []
            for _ in range(POLLS):
                time.sleep(POLL_S)
                states.append([_admin_state(s.url, token) for s in servers])
            clients = _report(sims)
            wall = time.monotonic() - wall0
            cpu1, busy1 = _tree_cpu(parts), _machine_busy()
            load = Path("/proc/loadavg").read_text().split()[:3]
        finally:
            _stop_clients(sims)
    # (the servers have stopped: their logs are complete)
    errors = [f"server_{i}: {line}" for i, s in enumerate(servers) for line in _log_errors(s.log, log_start[s.log])]

    maxima: list[float] = []
    for poll in states:
        for state in poll:
            maxima += [g["tick_lateness_ms"] for g in state["games"] if g.get("tick_lateness_ms") is not None]
    last = states[-1]
    on_process = [{g["game_id"] for g in state["games"] if g.get("status") == "running"} for state in last]
    home = [{g["game_id"] for g in state["games"] if g.get("tick_lateness_ms") is not None} for state in last]
    running = set().union(*on_process)
    split = {gid for gid in running if sum(gid in ids for ids in on_process) > 1}
    late = summary(maxima, 2)
    seen = client_figures(clients)
    cores = _cores(cpu0, cpu1, wall)
    cores["clients"] = round(seen.pop("client_cpu_fraction"), 3)
    machine = (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1])
    return {
        **point,
        "games": len(running),
        "server_ok": bool(maxima) and late["p50"] < MAX_P99_LATENESS_MS,
        **{k: seen[k] for k in ("client_ok",)},
        "tick_lateness_2s_max_ms": late,  # per game and 2-s slice; p50 ~ the ticks' p99 (module doc)
        **{k: v for k, v in seen.items() if k != "client_ok"},
        "games_with_players_on_two_processes": len(split),
        "games_run_per_process": [len(ids) for ids in home],
        "participants_per_process": [sum(bool(p.get("connected")) for p in s.get("participants", [])) for s in last],
        "cpu_cores": cores,
        "machine_busy_fraction": round(machine, 3),  # of all cores
        "machine_cores": os.cpu_count(),
        "load_average_1_5_15": load,
        "server_log_errors": len(errors),
        "server_log_error_lines": errors[:20],
        "bytes_per_frame": clients[0]["bytes_per_frame"] if clients else None,
    }


def curve(workdir: Path, target: str, pg: Postgres, layout: str, action_every: int) -> dict[str, Any]:
    """The levels upward until two in a row fail both criteria; the largest passing level of each."""
    points: list[dict[str, Any]] = []
    for games in LEVELS:
        print(f"  {layout}, action every {action_every} frames: {games} games…", file=sys.stderr, flush=True)
        where = workdir / f"{layout}-{action_every}-{games}"
        points.append(measure_level(where, target, pg, layout, games, action_every))
        if len(points) >= 2 and not any(p["server_ok"] or p["client_ok"] for p in points[-2:]):
            break
    return {
        "largest_by_server_criterion": max((p["games"] for p in points if p["server_ok"]), default=0),
        "largest_by_client_criterion": max((p["games"] for p in points if p["client_ok"]), default=0),
        "curve": points,
    }


def run() -> dict[str, Any]:
    report: dict[str, Any] = {
        "fps": 30,
        "game_processes_per_server": GAME_PROCESSES,
        "window_s": POLLS * POLL_S,
        "store": "PostgreSQL (a fresh database per level, in every layout)",
        "criteria": {
            "server": f"median of each game's 2-s max tick lateness (~ the ticks' p99) < {MAX_P99_LATENESS_MS} ms",
            "client": "every client >= 29 frames/s and p99 frame inter-arrival < 50 ms",
        },
        "load_average_before": Path("/proc/loadavg").read_text().split()[0],
    }
    pg = start_postgres()
    try:
        with tempfile.TemporaryDirectory(prefix="mug-cluster-capacity-") as tmp:
            work = Path(tmp)
            (work / "experiment.py").write_text(EXPERIMENT.format(root=str(ROOT)))
            target = f"{work / 'experiment.py'}:experiment"
            for rate, every in RATES.items():
                report[rate] = {layout: curve(work, target, pg, layout, every) for layout in LAYOUTS}
    finally:
        pg.stop()
    report["load_average_after"] = Path("/proc/loadavg").read_text().split()[0]
    return report
