"""Robustness: what hostile traffic costs running games, and what crash-safe step recording costs.

Why: a study's server is on the open internet and its data must survive a crash. Two questions
follow, and this benchmark answers both with figures:

(a) Do games keep their tick schedule while the server is abused? Ten 2-player server-authoritative
    games at 30 fps (simulated participants: socket.io-client in Node, `sim_participants.mjs`) have
    their tick lateness measured at rest, while 10,000 malformed events arrive from a few raw
    Socket.IO clients that joined first (wrong payload types for join/advance/action/
    client_records, unknown events, oversize payloads; sent without waiting for replies), and while
    500 new participants connect, join with a fresh id and disconnect, a few at a time. The
    attackers run in a Python process of their own (python-socketio), so the server's process does
    only the server's work. Each phase's samples are only the ticks run during that phase.

(b) What does crash safety cost? Steps are recorded as shipped: `StepRecorder` batches every game's
    rows and commits them together every 200 ms, on a database thread. The alternative is to commit
    each tick's row before its frame is sent. Both drive the same recording path for 20 in-process
    games at 30 fps on a real store (rows from a real Catch env step), next to a baseline that
    builds rows without recording them; the report gives process CPU per tick (µs, database thread
    included), the recording's share over the baseline, how long a tick is held before its frame
    could go out, how long a step waits until it is committed, and the ticks' lateness. Then the
    shipped server's CPU per game tick, end to end, at 20 games of simulated participants.

Run: `python -m benchmarks --only robustness`. The attacking clients are this module run as a
program (`python -m benchmarks.robustness malformed|joins URL ...`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks._stats import summary

ROOT = Path(__file__).resolve().parent.parent
FPS = 30
SETTLE_S = 2.0  # past the games' first steps, which are timed on worker threads (mug.server.games.placement)
WINDOW_S = 5.0  # the at-rest window, and each recording variant's
HOSTILE_GAMES = 10
MALFORMED_EVENTS = 10_000
ATTACKERS = 4
JOINS = 500
JOINS_IN_PARALLEL = 8
RECORDING_GAMES = 20
E2E_GAMES = 20
RECORDING_INTERVAL_S = 0.2  # StepRecorder's default: one commit per 200 ms for every game


# -- (a) tick lateness under hostile traffic ---------------------------------------------------


def _malformed_events() -> list[tuple[str, Any]]:
    """One round of malformed events, each refused by the server with an error reply."""
    big = "x" * 20_000
    return [
        ("join", {"participant_id": 5}),  # wrong type
        ("join", "let me in"),  # not an object
        ("join", {"participant_id": "ok", "query": {"a": 1}, "extra": True}),
        ("advance", {"scene_id": 7}),
        ("advance", ["start"]),
        ("advance", {"scene_id": "duel", "answers": {"q": {"deep": [1, 2]}}}),
        ("action", {"scene_id": "duel", "action": big}),  # oversize (the limit is 2 KB)
        ("action", {"scene_id": 3, "action": 1}),
        ("action", 12),
        ("client_records", {"records": 5}),
        ("client_records", "records"),
        ("client_records", {"records": [big] * 3, "junk": 1}),
        ("start_game", {"scene_id": "y" * 2_000}),  # oversize (the limit is 1 KB)
        ("ping", "now"),
        ("cheat", {"score": 1e9}),  # unknown events
        ("give_me_everything", {}),
        ("__proto__", {"polluted": True}),
    ]


# One in this many events is a client_records batch just over its 1 MB limit (refused with an error
# reply), and under the transport's 1.1 MB cap (a bigger message closes the connection instead).
HUGE_EVERY = 500


async def _attack_malformed(url: str, count: int, clients: int) -> dict[str, Any]:
    """`clients` raw Socket.IO clients join, then send `count` malformed events as fast as they can."""
    import socketio

    mix = _malformed_events()
    huge = ("client_records", {"records": ["z" * 1_020_000]})
    go = asyncio.Event()
    state = {"errors": 0, "rate_limited": 0, "disconnected_by_server": 0, "unanswered_final_ping": 0}
    per_client = [count // clients + (1 if i < count % clients else 0) for i in range(clients)]

    async def attacker(index: int, total: int) -> None:
        sio = socketio.AsyncClient(reconnection=False)
        ours = False

        async def on_error(data: Any) -> None:
            state["errors"] += 1
            if "too many events" in str(data.get("message") if isinstance(data, dict) else data):
                state["rate_limited"] += 1

        async def on_disconnect(*_args: Any) -> None:
            if not ours:
                state["disconnected_by_server"] += 1

        sio.on("error", on_error)
        sio.on("disconnect", on_disconnect)
        await sio.connect(url, transports=["websocket"], socketio_path="socket.io")
        reply = await sio.call("join", {"query": {"participant": f"hostile-{index}-{os.getpid()}"}}, timeout=30)
        if not reply.get("ok"):
            raise RuntimeError(f"an attacker could not join: {reply}")
        joined.append(index)
        if len(joined) == clients:
            ready.set()
        await go.wait()
        for k in range(total):
            event, payload = huge if (k + 1) % HUGE_EVERY == 0 else mix[(k + index) % len(mix)]
            await sio.emit(event, payload)
        try:
            # A connection's events are handled in order: the reply to this ping means the server
            # has handled every event sent before it.
            await sio.call("ping", {"t": 1.0}, timeout=120)
        except (socketio.exceptions.SocketIOError, asyncio.TimeoutError) as exc:
            state["unanswered_final_ping"] += 1
            print(f"attacker {index}: no reply to the final ping ({type(exc).__name__})", file=sys.stderr)
        finally:
            ours = True
            await sio.disconnect()

    joined: list[int] = []
    ready = asyncio.Event()
    tasks = [asyncio.create_task(attacker(i, n)) for i, n in enumerate(per_client)]
    await asyncio.wait_for(ready.wait(), timeout=60)
    print(json.dumps({"ready": True}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # the benchmark says go
    start, cpu0 = time.monotonic(), time.process_time()
    go.set()
    await asyncio.gather(*tasks)
    return {
        "events_sent": count,
        "error_replies": state["errors"],
        "of_which_too_many_events": state["rate_limited"],
        "disconnected_by_server": state["disconnected_by_server"],
        "unanswered_final_ping": state["unanswered_final_ping"],
        "seconds": round(time.monotonic() - start, 3),
        "attacker_cpu_s": round(time.process_time() - cpu0, 3),
    }


async def _attack_joins(url: str, count: int, parallel: int) -> dict[str, Any]:
    """`count` fresh participants connect, join and disconnect, `parallel` at a time."""
    import socketio

    queue = list(range(count))
    join_ms: list[float] = []
    failures: list[str] = []

    async def newcomer(number: int) -> None:
        sio = socketio.AsyncClient(reconnection=False)
        started = time.perf_counter()
        try:
            await sio.connect(url, transports=["websocket"], socketio_path="socket.io")
            reply = await sio.call("join", {"query": {"participant": f"newcomer-{number}-{os.getpid()}"}}, timeout=30)
            if reply.get("ok"):
                join_ms.append((time.perf_counter() - started) * 1000.0)
            else:
                failures.append(str(reply.get("error"))[:200])
        finally:
            await sio.disconnect()

    async def worker() -> None:
        while queue:
            await newcomer(queue.pop())

    print(json.dumps({"ready": True}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    start, cpu0 = time.monotonic(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(parallel)))
    return {
        "joined": len(join_ms),
        "failed": len(failures),
        "first_failures": failures[:3],
        "seconds": round(time.monotonic() - start, 3),
        "connect_and_join_ms": summary(join_ms),
        "attacker_cpu_s": round(time.process_time() - cpu0, 3),
    }


@contextlib.contextmanager
def _attackers(kind: str, url: str, count: int, width: int) -> Iterator[Callable[[], dict[str, Any]]]:
    """Start the attacking clients (this module as a program) and wait until they are ready.

    Yields `unleash`: tells them to go and returns their report once they are done. The process is
    killed on the way out if it is still running (a failed run leaves nothing behind).
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.robustness", kind, url, str(count), str(width)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout

    def unleash() -> dict[str, Any]:
        stdin.write("go\n")
        stdin.flush()
        line = stdout.readline()
        proc.wait(timeout=60)
        if not line:
            raise RuntimeError(f"the {kind} attackers failed")
        return json.loads(line)

    try:
        if not stdout.readline():
            raise RuntimeError(f"the {kind} attackers failed to start")
        yield unleash
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        stdin.close()
        stdout.close()


@contextlib.contextmanager
def _machine_probe() -> Iterator[Callable[[], dict[str, Any]]]:
    """Start the machine probe; yields `read`: its tick lateness (ms) since the previous read."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.robustness", "probe"],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout

    def read() -> dict[str, Any]:
        stdin.write("read\n")
        stdin.flush()
        return json.loads(stdout.readline())

    try:
        yield read
    finally:
        stdin.close()  # the probe exits at the end of its input
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        stdout.close()


def _phase(server: Any, probe: Callable[[], dict[str, Any]], during: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Tick lateness of the running games over `during()` (only the ticks it spans), and server CPU."""
    from benchmarks.server_capacity import _server_cpu

    sessions = server.sessions

    def clear() -> None:
        for game in sessions.games.values():
            game.lateness_ms.clear()

    def collect() -> tuple[list[float], int]:
        return [x for g in sessions.games.values() for x in g.lateness_ms], len(sessions.games)

    def refusals() -> int | None:
        counter = getattr(sessions, "refusals", None)  # (refused events, counted by the server)
        return getattr(counter, "total", None)

    server.call(clear)
    probe()
    refused0 = server.call(refusals)
    wall0, cpu0 = time.monotonic(), _server_cpu(server)
    extra = during()
    wall, cpu = time.monotonic() - wall0, _server_cpu(server) - cpu0
    lateness, games = server.call(collect)
    machine = probe()
    refused1 = server.call(refusals)
    refused = refused1 - refused0 if refused0 is not None and refused1 is not None else None
    return {
        "games": games,
        "seconds": round(wall, 3),
        "tick_lateness_ms": summary(lateness),
        "server_cpu_fraction": round(cpu / wall, 3),
        "server_refusals": refused,
        # Other work on the machine shows here: a busy machine delays ticks whatever the server does.
        "machine_probe_lateness_ms": machine,
        "machine_load_1min_after": round(os.getloadavg()[0], 2),
        **extra,
    }


def _hostile(data_dir: Path) -> dict[str, Any]:
    from benchmarks.server_capacity import _participants, _stop, duel_scene
    from mug import Experiment, StartScene

    exp = Experiment("robust", [StartScene().scene("start"), duel_scene("duel")], data_dir=data_dir)
    with exp.serve() as server, _machine_probe() as probe:
        sim = _participants(server, 2 * HOSTILE_GAMES, "duel", "player")
        try:
            time.sleep(SETTLE_S)  # (a benchmark, not a test: waits are its measurement windows)
            print("  at rest…", file=sys.stderr, flush=True)
            rest = _phase(server, probe, lambda: (time.sleep(WINDOW_S), {})[1])
            print(f"  {MALFORMED_EVENTS} malformed events…", file=sys.stderr, flush=True)
            with _attackers("malformed", server.url, MALFORMED_EVENTS, ATTACKERS) as unleash:
                malformed = _phase(server, probe, lambda: {"attackers": unleash()})
            print(f"  {JOINS} joins…", file=sys.stderr, flush=True)
            with _attackers("joins", server.url, JOINS, JOINS_IN_PARALLEL) as unleash:
                joins = _phase(server, probe, lambda: {"newcomers": unleash()})
            after = _phase(server, probe, lambda: (time.sleep(2.0), {})[1])
        finally:
            _stop(sim)

    def extra_cpu_ms(phase: dict[str, Any], count: int) -> float:
        """Server CPU the traffic added, per event or join: the phase's CPU over the at-rest rate."""
        added = (phase["server_cpu_fraction"] - rest["server_cpu_fraction"]) * phase["seconds"]
        return round(added / count * 1000.0, 3)

    malformed["server_cpu_ms_per_malformed_event"] = extra_cpu_ms(malformed, MALFORMED_EVENTS)
    joins["server_cpu_ms_per_join"] = extra_cpu_ms(joins, JOINS)
    return {
        "games": HOSTILE_GAMES,
        "fps": FPS,
        "at_rest": rest,
        f"during_{MALFORMED_EVENTS}_malformed_events": malformed,
        f"during_{JOINS}_joins": joins,
        "two_seconds_after": after,
    }


# -- (b) the cost of crash safety ---------------------------------------------------------------


def _catch_rows(count: int) -> list[dict[str, Any]]:
    """Step rows as a server game records them, from a real Catch env played by a random hand."""
    from mug.env import EnvAdapter, to_jsonable
    from mug.env.examples.catch import CatchEnv

    adapter = EnvAdapter(CatchEnv(), ["player"])
    adapter.reset(1)
    rng = random.Random(1)
    rows = []
    for _ in range(count):
        actions = {"player": rng.choice((0, 1, 2))}
        result = adapter.step(actions)
        if result.episode_over:
            adapter.reset(rng.randrange(1 << 30))
        rows.append(
            {
                "participant_id": "p",
                "scene_id": "catch",
                "actions": to_jsonable(actions),
                "rewards": to_jsonable(result.rewards),
                "terminated": any(bool(v) for v in result.terminated.values()),
                "truncated": any(bool(v) for v in result.truncated.values()),
                "infos": to_jsonable(result.infos),
                "observations": None,  # GymScene's default: observations are not recorded
            }
        )
    return rows


def _timed_store_class() -> type:
    from mug.data import Store

    class TimedStore(Store):
        """The real store, noting when each step row's commit returned (row field 5 is its `t`)."""

        commit_delays_ms: list[float]

        def add_encoded_steps(self, params: list[tuple[Any, ...]]) -> int:
            added = super().add_encoded_steps(params)
            now = time.time()
            self.commit_delays_ms.extend((now - row[5]) * 1000.0 for row in params)
            return added

    return TimedStore


def _shipped_recorder(store: Any) -> tuple[Any, Any]:
    """`StepRecorder` as the server makes it, on a database thread of its own (`StoreWriter`)."""
    from mug.server.games.recorder import StepRecorder
    from mug.server.writer import StoreWriter

    writer = StoreWriter(store)
    return StepRecorder(writer, interval_s=RECORDING_INTERVAL_S), writer


async def _drive(variant: str, store: Any, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """`RECORDING_GAMES` games ticking at FPS for WINDOW_S, each tick recording one row by `variant`."""
    from mug.data import Store
    from mug.server.writer import StoreWriter

    loop = asyncio.get_running_loop()
    interval = 1.0 / FPS
    held_us: list[float] = []
    lateness_ms: list[float] = []
    ticks = 0
    recorder, writer = _shipped_recorder(store) if variant == "batched" else (None, StoreWriter(store))
    if recorder is not None:
        recorder.start()
    end = loop.time() + WINDOW_S

    async def game(number: int) -> None:
        nonlocal ticks
        due = loop.time() + interval * (number / RECORDING_GAMES)  # spread over the tick, like tick slots
        step = 0
        while True:
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if due >= end:
                return
            lateness_ms.append((loop.time() - due) * 1000.0)
            step += 1
            row = {**rows[(number * 97 + step) % len(rows)], "game_id": f"game-{variant}-{number}"}
            row.update(episode=1, step=step, t=time.time())
            started = time.perf_counter()
            if variant == "batched":
                recorder.add(row)  # the frame goes out next; the row is committed within 200 ms
            elif variant == "commit_per_tick":
                # the frame waits until the row is committed, on the server's database thread
                await writer.call(store.add_encoded_steps, [Store.encode_step(row, jsonable=True)])
            held_us.append((time.perf_counter() - started) * 1e6)
            ticks += 1
            due += interval

    cpu0, wall0 = time.process_time(), time.monotonic()
    try:
        await asyncio.gather(*(game(i) for i in range(RECORDING_GAMES)))
        if recorder is not None:
            await recorder.close()  # the last rows' commit counts too
    finally:
        writer.close()
    cpu = time.process_time() - cpu0
    wall = time.monotonic() - wall0
    return {
        "ticks": ticks,
        "cpu_us_per_tick": round(cpu / ticks * 1e6, 1),
        "cpu_fraction": round(cpu / wall, 3),
        "tick_held_us": summary(held_us, 1),
        "tick_lateness_ms": summary(lateness_ms),
        "step_to_commit_ms": summary(store.commit_delays_ms) if variant != "baseline" else None,
    }


def _recording_cost(data_dir: Path) -> dict[str, Any]:
    rows = _catch_rows(600)
    store_class = _timed_store_class()
    results: dict[str, Any] = {}
    for variant in ("baseline", "batched", "commit_per_tick"):
        print(f"  recording path: {variant}…", file=sys.stderr, flush=True)
        store = store_class(data_dir / variant)
        store.commit_delays_ms = []
        try:
            results[variant] = asyncio.run(_drive(variant, store, rows))
            if variant != "baseline":
                stored = store.counts()["steps"]
                if stored != results[variant]["ticks"]:
                    raise RuntimeError(f"{variant}: {stored} steps stored for {results[variant]['ticks']} ticks")
        finally:
            store.close()
    base = results["baseline"]["cpu_us_per_tick"]
    for variant in ("batched", "commit_per_tick"):
        results[variant]["recording_cpu_us_per_tick"] = round(results[variant]["cpu_us_per_tick"] - base, 1)
    batched, per_tick = (results[v]["recording_cpu_us_per_tick"] for v in ("batched", "commit_per_tick"))
    results["commit_per_tick_over_batched_cpu_ratio"] = round(per_tick / batched, 1) if batched > 0 else None
    return {"games": RECORDING_GAMES, "fps": FPS, "window_s": WINDOW_S, **results}


def _server_cpu_per_tick(data_dir: Path) -> dict[str, Any]:
    """The shipped server (games in its own process), E2E_GAMES 2-player games: CPU per game tick."""
    from benchmarks.server_capacity import _participants, _report, _server_cpu, _stop, duel_scene
    from mug import Experiment, StartScene

    exp = Experiment("cost", [StartScene().scene("start"), duel_scene("duel")], data_dir=data_dir)
    with exp.serve() as server:
        print(f"  server CPU per tick at {E2E_GAMES} games…", file=sys.stderr, flush=True)
        sim = _participants(server, 2 * E2E_GAMES, "duel", "sim")
        try:
            sessions = server.sessions
            time.sleep(SETTLE_S)
            server.call(lambda: [g.lateness_ms.clear() for g in sessions.games.values()])
            _report(sim)
            cpu0, wall0 = _server_cpu(server), time.monotonic()
            time.sleep(WINDOW_S)
            cpu, wall = _server_cpu(server) - cpu0, time.monotonic() - wall0
            lateness = server.call(lambda: [x for g in sessions.games.values() for x in g.lateness_ms])
            client = _report(sim)
        finally:
            _stop(sim)
    ticks = len(lateness)  # every tick a game runs notes its lateness once
    return {
        "games": E2E_GAMES,
        "ticks": ticks,
        "server_cpu_us_per_game_tick": round(cpu / ticks * 1e6, 1) if ticks else None,
        "server_cpu_fraction": round(cpu / wall, 3),
        "tick_lateness_ms": summary(lateness),
        "frames_per_s": client["frames_per_s"],
    }


# -- the report ---------------------------------------------------------------------------------


def _environment() -> dict[str, Any]:
    versions: dict[str, Any] = {}
    for dist in ("tornado", "python-socketio", "python-engineio", "aiohttp"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    node = shutil.which("node")
    node_version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip() if node else None
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "node": node_version,
        **versions,
    }


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as data:
        print(" (a) tick lateness under hostile traffic", file=sys.stderr, flush=True)
        hostile = _hostile(Path(data) / "hostile")
        print(" (b) the cost of crash safety", file=sys.stderr, flush=True)
        recording = _recording_cost(Path(data) / "recording")
        end_to_end = _server_cpu_per_tick(Path(data) / "e2e")
    return {
        "environment": _environment(),
        "tick_lateness_under_hostile_traffic": hostile,
        "recording_path_cost": recording,
        "shipped_server_cpu_per_tick": end_to_end,
    }


def _probe() -> None:
    """The machine probe: ticks at FPS and, for each line read, prints its lateness since the last line.

    It does nothing but keep a schedule, in a process of its own: when its ticks are late too, the
    machine (other programs, the hypervisor) delayed the server's ticks, not the server's own work.
    """
    import threading

    samples: list[float] = []
    lock = threading.Lock()

    def tick() -> None:
        due = time.monotonic()
        while True:
            due += 1.0 / FPS
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            with lock:
                samples.append((time.monotonic() - due) * 1000.0)

    threading.Thread(target=tick, daemon=True).start()
    for _line in sys.stdin:
        with lock:
            taken = samples[:]
            samples.clear()
        print(json.dumps(summary(taken)), flush=True)


def main(argv: list[str] | None = None) -> int:
    """The attacking clients and the machine probe, run by the benchmark in processes of their own."""
    if (argv if argv is not None else sys.argv[1:])[:1] == ["probe"]:
        _probe()
        return 0
    parser = argparse.ArgumentParser(description="attacking clients for benchmarks/robustness.py")
    parser.add_argument("kind", choices=("malformed", "joins"))
    parser.add_argument("url")
    parser.add_argument("count", type=int)
    parser.add_argument("width", type=int, help="clients sending at once")
    args = parser.parse_args(argv)
    attack: Callable[[str, int, int], Coroutine[Any, Any, dict[str, Any]]]
    attack = _attack_malformed if args.kind == "malformed" else _attack_joins
    print(json.dumps(asyncio.run(attack(args.url, args.count, args.width))), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
