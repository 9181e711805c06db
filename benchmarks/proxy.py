"""Socket.IO round trip browser ↔ MUG server through jupyter-server-proxy, with and without MUG's fix.

One MUG server streams a 30 fps game; Chromium opens the participant page three ways and times
``window.mug.ping()`` (a Socket.IO acknowledgement) while the game runs:

* ``direct``: ``http://127.0.0.1:<port>/`` (reference);
* ``proxied``: ``http://127.0.0.1:<jupyter>/proxy/<port>/`` through a Jupyter server with
  jupyter-server-proxy and MUG's server extension (``mug.jupyter_ext``: TCP_NODELAY on both legs);
* ``proxied_without_fix``: the same with ``mug.jupyter_ext`` disabled (jupyter-server-proxy as is).

Frames: ``frame_delivery_ms`` is how long each frame took from the server to the page: the page's
arrival time (wall clock) minus the time the server recorded that step (``steps.t``, wall clock of
the same machine), so it measures the path, not the server's tick schedule. ``frame_lateness_ms`` is
each arrival against the game's fixed tick schedule (the earliest frame sets zero): it also counts
the server's own stalls, and since the game's clock realigns after a stall instead of catching up
(docs/server.md), every frame after a realignment counts as late by the ticks skipped.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

from benchmarks._stats import summary
from benchmarks.server_loop import bench_game, round_trips
from mug import Experiment
from mug._chromium import launch


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def jupyter_server(nodelay_fix: bool, workdir: str, timeout: float = 60.0) -> Iterator[str]:
    """A Jupyter server (jupyter-server-proxy loaded, MUG's extension on or off); yields its URL."""
    port = _free_port()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": os.path.join(workdir, f"runtime-{port}")}
    cmd = [
        sys.executable, "-m", "jupyter_server", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.allow_root=True",
        "--ServerApp.disable_check_xsrf=True", f"--ServerApp.root_dir={workdir}",
        "--ServerApp.jpserver_extensions=jupyter_server_proxy=True",
        f"--ServerApp.jpserver_extensions=mug.jupyter_ext={nodelay_fix}",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"jupyter server exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(f"{url}api/status", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"jupyter server not up within {timeout} s") from None
                time.sleep(0.1)  # polling an explicit state (the server answering), not a fixed wait
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _measure(browser: Any, server: Any, url: str, pings: int, frames: int, fps: int) -> dict[str, Any]:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(url)
        page.wait_for_function("() => window.mug && window.mug.status === 'waiting_start'")
        page.get_by_test_id("start-game").click()
        page.wait_for_function("() => window.mug.status === 'running'")
        rtts = round_trips(page, pings)
        arrivals = page.evaluate(FRAME_ARRIVALS, frames)
        participant = page.evaluate("() => window.mug.participantId")
    finally:
        context.close()
    return {
        "socketio_round_trip_ms": summary(rtts),
        "frame_delivery_ms": summary(_delivery(server, participant, arrivals)),
        "frame_lateness_ms": summary(_lateness(arrivals, 1000.0 / fps)),
    }


# Polls window.mug.step from a MessageChannel loop (no timer clamping, yields to socket events) and
# records when each new step arrived, in wall-clock ms: [[step, ms], ...].
FRAME_ARRIVALS = """(n) => new Promise((resolve) => {
    const out = []; let last = window.mug.step; const ch = new MessageChannel();
    ch.port1.onmessage = () => {
        const step = window.mug.step;
        if (step !== last) { out.push([step, performance.timeOrigin + performance.now()]); last = step; }
        if (out.length >= n) resolve(out); else ch.port2.postMessage(0);
    };
    ch.port2.postMessage(0);
})"""


def _delivery(server: Any, participant: str, arrivals: list[list[float]], timeout: float = 10.0) -> list[float]:
    """Per frame, ms from the server recording its step to the page having it (one machine, one clock)."""
    deadline = time.monotonic() + timeout
    while True:  # the steps' rows are committed in batches: wait for the explicit state (all of them)
        steps = server.results().steps
        mine = steps[steps["participant_id"] == participant]
        recorded = dict(zip(mine["step"], mine["t"], strict=True))
        if all(step in recorded for step, _ in arrivals) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    return [at - recorded[step] * 1000.0 for step, at in arrivals if step in recorded]


def _lateness(arrivals: list[list[float]], period_ms: float) -> list[float]:
    """How late each frame arrived against the game's fixed tick schedule (the earliest sets zero)."""
    offsets = [t - step * period_ms for step, t in arrivals]
    base = min(offsets)
    return [o - base for o in offsets]


def run(pings: int = 500, frames: int = 300, fps: int = 30) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    game = bench_game(fps)
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as work:
        exp = Experiment("bench-proxy", [game], data_dir=os.path.join(work, "data"))
        with exp.serve() as server, sync_playwright() as pw:
            browser = launch(pw)
            try:
                urls = {"direct": f"http://127.0.0.1:{server.port}/"}
                for name, fix in (("proxied", True), ("proxied_without_fix", False)):
                    with jupyter_server(fix, work) as jupyter:
                        urls[name] = f"{jupyter}proxy/{server.port}/"
                        report[name] = _measure(browser, server, urls[name], pings, frames, fps)
                report["direct"] = _measure(browser, server, urls["direct"], pings, frames, fps)
            finally:
                browser.close()
    report["proxied"]["socketio_round_trip_ms"]["goal_p50"] = 2.0
    report["fps"] = fps
    return report
