"""The client-side runtime (Pyodide in a Web Worker) in headless Chromium, from a local server.

- ``cold_start_to_first_frame_ms``: a new browser profile (empty HTTP cache, no memory snapshot)
  opens the harness page, which starts a CatchEnv game at once; time from navigation start to the
  first frame (page + worker + Pyodide + micropip + mug env runtime + env code + reset + render).
  This load also makes the Pyodide memory snapshot (stored after its first frame). Goal ≤ 2.5 s.
- ``warm_start_to_first_frame_ms``: a second page of the same profile (warm disk cache, the stored
  snapshot), served with the MUG server's caching (its own static routes: Pyodide's and
  onnxruntime's files under ``static/v/<build>/`` are immutable, ``?v=`` URLs cacheable, the rest
  ``no-cache``). Goal ≤ 1 s. ``warm_requests`` lists what that page still asked the server;
  ``snapshot`` how many cold pages stored one and warm pages started from one, and how long reading
  and making it took.
- ``start_phases_p50_ms``: where a start goes (page, worker, pyodide.mjs, loadPyodide, micropip, mug
  env runtime, hand-off, env code, reset + first frame), from the runtime's timing marks.
- ``without_snapshot``: the same starts with ``memorySnapshot: false`` (rounds alternate with the
  above): what making a snapshot costs a first visit and what the HTTP cache alone gives a second.
- ``catch_steps_per_s``: CatchEnv stepped back to back in the worker (``pace: "unpaced"``): the
  whole loop (Python step + render + diff + JSON, records and frames posted to the page), and
  ``env_call_ms``: the one Python call per tick alone.
- ``onnx_inference_ms``: the ONNX bot's ``act`` per step in the worker (onnxruntime-web, wasm, one
  thread) for the test models (a 6→5 linear layer and a 16-unit LSTM).

Reuses the test site (tests/runtime/runtime_site.py); needs the client build (``node scripts/build.mjs``).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks._stats import summary
from mug._chromium import CHROMIUM_ARGS, CHROMIUM_PATH, launch

ROOT = Path(__file__).resolve().parent.parent
for extra in (ROOT / "tests", ROOT / "tests" / "runtime"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from policies.policies_models import build_ff, build_lstm  # noqa: E402
from runtime_site import (  # noqa: E402
    FIVE_ACTIONS_CODE,
    SiteServer,
    autorun_url,
    build_site,
    check_build,
    game_spec,
    guard_network,
    watch_network,
)

from mug.policies import ModelConfig  # noqa: E402

#: Steps of a start, each ending at a mark (ms since navigation start); a phase lasts from the
#: previous step's mark to its own.
PHASES = [
    ("page", "scriptStarted"),  # navigation → the page's script runs
    ("worker_start", "workerStarted"),  # new Worker() → the worker script runs
    ("pyodide_import", "pyodideImported"),  # import pyodide.mjs
    ("load_pyodide", "pyodideStarted"),  # loadPyodide: wasm, stdlib, interpreter start (or snapshot)
    ("micropip", "micropipLoaded"),
    ("mug_env_runtime", "ready"),  # unpack the mug env zip, import the bridge (mug.env)
    ("run_handoff", "runReceived"),  # "ready" to the page, "run" back to the worker
    ("env", "envLoaded"),  # packages, env code, adapter, bots
    ("first_frame", "firstFrame"),  # reset + render + diff, the frame posted to the page
]


def _first_frame(page: Any, url: str) -> tuple[float, dict[str, float]]:
    """Open the autorun page; the time of its first frame and the phases before it (ms)."""
    page.goto(url)
    page.wait_for_function(
        "window.mugRuntimeHarness && window.mugRuntimeHarness.current() "
        "&& (window.mugRuntimeHarness.current().firstFrameAt !== null "
        "|| window.mugRuntimeHarness.current().result !== null)",
        timeout=60_000,
    )
    log = page.evaluate("window.mugRuntimeHarness.current()")
    if log["firstFrameAt"] is None:
        raise RuntimeError(f"the game did not start: {log['errors']}")
    preload = page.evaluate("window.mugRuntimeHarness.preloadMarks()")
    marks = {**preload, **log["loaded"], "firstFrame": log["firstFrameAt"]}
    phases, previous = {}, 0.0
    for name, mark in PHASES:
        phases[name] = marks[mark] - previous
        previous = marks[mark]
    return float(log["firstFrameAt"]), phases


def _starts(pw: Any, server: SiteServer, url: str, rounds: int, snapshot: bool) -> dict[str, Any]:
    """Each round: a new browser profile on disk (an empty HTTP cache, like a first visit) opens the
    page, then a second page of the same profile opens it again (warm cache). A disk profile, not an
    in-memory (incognito) context, because the in-memory cache does not keep Pyodide's 8.6 MB wasm.
    ``snapshot=False``: the runtime neither makes nor uses a memory snapshot."""
    out: dict[str, list[Any]] = {k: [] for k in ("cold", "warm", "cold_phases", "warm_phases", "warm_requests")}
    out.update(cold_snapshots=[], warm_snapshots=[], snapshot_read=[], snapshot_make=[])
    target = autorun_url(url, game_spec(maxSteps=10_000, fps=30), server.version)
    if not snapshot:
        target += "&snapshot=0"
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as profile:
            context = pw.chromium.launch_persistent_context(profile, executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS)
            outside = watch_network(context, url)  # not guard_network: routing turns the HTTP cache off
            try:
                first = context.new_page()
                total, phases = _first_frame(first, target)
                out["cold"].append(total)
                out["cold_phases"].append(phases)
                # The cold page stores its memory snapshot after its first frame; wait for that.
                first.wait_for_function("window.mugRuntimeHarness.loadInfo().snapshot.save !== 'pending'")
                out["cold_snapshots"].append(first.evaluate("window.mugRuntimeHarness.loadInfo().snapshot"))
                marks = first.evaluate("window.mugRuntimeHarness.preloadMarks()")
                if snapshot:
                    out["snapshot_make"].append(marks["pyodideStarted"] - marks["interpreterStarted"])
                first.close()
                seen = len(server.responses)
                second = context.new_page()
                total, phases = _first_frame(second, target)
                out["warm"].append(total)
                out["warm_phases"].append(phases)
                out["warm_requests"].append(server.responses[seen:])
                out["warm_snapshots"].append(second.evaluate("window.mugRuntimeHarness.loadInfo().snapshot"))
                marks = second.evaluate("window.mugRuntimeHarness.preloadMarks()")
                if "snapshotRead" in marks:
                    out["snapshot_read"].append(marks["snapshotRead"] - marks["pyodideImported"])
            finally:
                context.close()
        if outside:
            raise RuntimeError(f"the page reached outside the server: {outside}")
    return out


def _median_phases(rounds: list[dict[str, float]]) -> dict[str, float]:
    """The median of each phase over the rounds (ms)."""
    return {name: round(statistics.median(r[name] for r in rounds), 1) for name, _ in PHASES}


def _game(page: Any, spec: dict[str, Any]) -> dict[str, Any]:
    log = page.evaluate("(s) => window.mugRuntimeHarness.run(s)", spec)
    if log["result"] != "done":
        raise RuntimeError(f"benchmark game failed: {log['errors']}")
    return log


def run(rounds: int = 5, steps: int = 3000) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    check_build()
    with tempfile.TemporaryDirectory() as tmp:
        root = build_site(Path(tmp) / "site")
        (root / "models").mkdir()
        models = {"ff": build_ff(root / "models" / "ff.onnx"), "lstm": build_lstm(root / "models" / "lstm.onnx")}
        server = SiteServer(root)
        url = server.start()
        try:
            with sync_playwright() as pw:
                # Rounds with and without snapshots alternate, so that the machine's load drifting
                # during the benchmark does not favour either.
                starts: dict[str, list[Any]] = {}
                plain: dict[str, list[Any]] = {}
                for _ in range(rounds):
                    for into, snapshot in ((starts, True), (plain, False)):
                        for key, values in _starts(pw, server, url, 1, snapshot).items():
                            into.setdefault(key, []).extend(values)
                browser = launch(pw)
                try:
                    context = browser.new_context()
                    outside = guard_network(context, url)
                    page = context.new_page()
                    page.goto(url)
                    page.wait_for_function("window.mugRuntimeHarness && window.mugRuntimeHarness.ready")
                    page.evaluate("window.mugRuntimeHarness.preload()")
                    catch_code = "from mug.env.examples import CatchEnv\nenv = CatchEnv(max_drops=100000)\n"
                    _game(page, game_spec(envCode=catch_code, maxSteps=200, pace="unpaced"))  # warm-up
                    log = _game(page, game_spec(envCode=catch_code, maxSteps=steps, pace="unpaced"))
                    stats = log["stats"]
                    onnx = {}
                    for name, path in models.items():
                        config = (
                            ModelConfig(path, "obs", "logits", fixed_inputs={"temperature": 1.0})
                            if name == "ff"
                            else ModelConfig(path, "obs", "logits", ["h_in", "c_in"], ["h_out", "c_out"])
                        )
                        spec = game_spec(
                            envCode=FIVE_ACTIONS_CODE, agents=["ai"], maxSteps=1000, pace="unpaced",
                            policies={"ai": {"kind": "onnx", "model": config.client_spec(f"{url}models/{name}.onnx")}},
                        )  # fmt: skip
                        _game(page, {**spec, "maxSteps": 100})  # warm-up (session creation)
                        policy = _game(page, spec)["stats"]["policyMs"]
                        onnx[name] = {k: round(v, 4) for k, v in policy.items()}
                    context.close()
                    if outside:
                        raise RuntimeError(f"the page reached outside the server: {outside}")
                finally:
                    browser.close()
        finally:
            server.stop()
    return {
        "cold_start_to_first_frame_ms": summary(starts["cold"], 1),
        "warm_start_to_first_frame_ms": summary(starts["warm"], 1),
        "goals_ms": {"cold": 2500, "warm": 1000},
        "start_phases_p50_ms": {
            "cold": _median_phases(starts["cold_phases"]),
            "warm": _median_phases(starts["warm_phases"]),
        },
        # What the warm page still asked the server (URI, status), first round: with the MUG
        # server's caching only files outside static/ without ?v= (the harness script) remain.
        "warm_requests": [f"{status} {uri.split('?')[0]}" for uri, status in starts["warm_requests"][0]],
        # Memory snapshots: stored by each cold page (after its first frame), used by each warm page;
        # read_ms: reading and checking it (IndexedDB), from when pyodide.mjs is imported.
        "snapshot": {
            "cold_saved": sum(s["save"] == "saved" for s in starts["cold_snapshots"]),
            "warm_loaded": sum(s["loaded"] for s in starts["warm_snapshots"]),
            "problems": sorted({s["reason"] or s["saveError"] for s in starts["warm_snapshots"] if not s["loaded"]}),
            "read_ms": summary(starts["snapshot_read"], 1),
            # make_ms: the cold load's standard-library imports + makeMemorySnapshot() (before its first frame).
            "make_ms": summary(starts["snapshot_make"], 1),
        },
        # The same without memory snapshots (PyodideRuntime option memorySnapshot: false): what
        # making one costs a first visit, and what the HTTP cache alone gives a second one.
        "without_snapshot": {
            "cold_start_to_first_frame_ms": summary(plain["cold"], 1),
            "warm_start_to_first_frame_ms": summary(plain["warm"], 1),
            "start_phases_p50_ms": {
                "cold": _median_phases(plain["cold_phases"]),
                "warm": _median_phases(plain["warm_phases"]),
            },
        },
        "catch_steps_per_s": round(stats["ticks"] / stats["elapsedS"], 1),
        "env_call_ms": {k: round(v, 4) for k, v in stats["envMs"].items()},
        "env_calls_per_s": round(1000 / stats["envMs"]["mean"], 1),
        "onnx_inference_ms": onnx,
        "rounds": rounds,
        "steps": steps,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
