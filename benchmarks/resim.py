"""Re-simulation speed of a P2P game in the worker: PaddlesEnv frames per 16.7 ms (goal >= 50).

A rollback or a catch-up re-simulates many frames inside one tick of the worker, in ONE call of
bridge.py's ``Game.execute`` (load, then advance + save per frame, one render diff at the end),
so what matters is how many frames that call gets through in one 60 Hz frame's time. Measured in
real Pyodide in a Web Worker in headless Chromium, the way the runtime worker does it: the
requests go in as JSON text from JavaScript and the result comes back as JSON text, parsed.

    python -m benchmarks --only resim

Batches of 8 frames (a rollback at the default prediction window), 60 frames and 240 frames
(a tab hidden for 8 s at 30 fps, caught up in one batch), every 30th save with a checksum as the
netcode asks; ``tick_1_frame``: a normal tick (one frame, first simulation). Needs the client
build (``node scripts/build.mjs``); reuses the runtime test site (tests/runtime/runtime_site.py).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks._stats import summary
from mug._chromium import launch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "runtime"))
from runtime_site import SiteServer, build_env_zip, check_build, guard_network  # noqa: E402

BRIDGE = ROOT / "mug" / "client" / "src" / "runtime" / "bridge.py"
FRAME_MS = 1000 / 60
GOAL_FRAMES_PER_60HZ_FRAME = 50

# The worker: Pyodide from the build's vendor folder, the mug env zip, bridge.py, then timed batches.
WORKER_JS = r"""
const report = (m) => postMessage(m);
onmessage = async (event) => {
  const { base, rounds } = event.data;
  try {
    const { loadPyodide } = await import(`${base}static/vendor/pyodide/pyodide.mjs`);
    const pyodide = await loadPyodide({ indexURL: `${base}static/vendor/pyodide/` });
    const zip = await (await fetch(`${base}mug_env.zip`)).arrayBuffer();
    const site = String(pyodide.runPython("import sysconfig; sysconfig.get_path('purelib')"));
    pyodide.unpackArchive(zip, "zip", { extractDir: site });
    pyodide.FS.writeFile(`${site}/_mug_bridge.py`, await (await fetch(`${base}bridge.py`)).text());
    pyodide.runPython("import importlib; importlib.invalidate_caches()");
    const bridge = pyodide.pyimport("_mug_bridge");
    const game = bridge.Game(JSON.stringify({
      env_code: "from mug.env.examples import PaddlesEnv\nenv = PaddlesEnv(points_to_win=1000)\n",
      agents: ["left", "right"], humans: ["left", "right"], p2p: true, seed: 1, max_steps: 1000000,
    }));
    const check = (text) => { const r = JSON.parse(text); if (!r.ok) throw new Error(r.error); return r; };
    check(game.load());
    check(game.p2p_reset(1));
    let frame = 0;
    let x = 1;
    const input = () => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return [[(x >>> 8) % 3, 1], [(x >>> 12) % 3, 1]];
    };
    const frames = (from, n) => {
      const out = [];
      for (let f = from; f < from + n; f++) {
        out.push({ kind: "advance", frame: f, inputs: input(), resimulation: true });
        out.push({ kind: "save", frame: f + 1, checksum: (f + 1) % 30 === 0 });
      }
      return out;
    };
    const run = (requests) => {
      const t0 = performance.now();
      const r = check(game.execute(JSON.stringify({ requests })));
      const ms = performance.now() - t0;
      if (r.steps.length === 0) throw new Error("no frame simulated");
      return ms;
    };
    check(game.execute(JSON.stringify({ requests: [{ kind: "save", frame: 0, checksum: false }] })));
    const tick = [];
    for (let i = 0; i < 600; i++) { tick.push(run(frames(frame, 1))); frame++; }  // also warms up
    const batches = {};
    for (const n of [8, 60, 240]) {
      batches[n] = [];
      for (let i = 0; i < rounds; i++) {
        const from = frame - n;
        batches[n].push(run([{ kind: "load", frame: from }, ...frames(from, n)]));
      }
    }
    report({ ok: true, tick, batches, version: pyodide.version, crossOriginIsolated: self.crossOriginIsolated });
  } catch (err) {
    report({ ok: false, error: String(err && err.stack || err) });
  }
};
"""

PAGE = """<!doctype html><meta charset="utf-8"><title>mug resim benchmark</title>
<script>
window.resim = (rounds) => new Promise((resolve) => {
  const worker = new Worker("resim_worker.js", { type: "module" });
  worker.onmessage = (event) => { resolve(event.data); worker.terminate(); };
  worker.onerror = (event) => resolve({ ok: false, error: event.message });
  worker.postMessage({ base: new URL("/", location.href).href, rounds });
});
</script>
"""


def run(rounds: int = 40) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    check_build()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "site"
        root.mkdir()
        (root / "index.html").write_text(PAGE)
        (root / "resim_worker.js").write_text(WORKER_JS)
        (root / "bridge.py").write_text(BRIDGE.read_text())
        build_env_zip(root / "mug_env.zip")
        server = SiteServer(root)
        url = server.start()
        try:
            with sync_playwright() as pw:
                browser = launch(pw)
                try:
                    context = browser.new_context()
                    outside = guard_network(context, url)
                    page = context.new_page()
                    page.goto(url)
                    result = page.evaluate("(n) => window.resim(n)", rounds)
                    context.close()
                finally:
                    browser.close()
        finally:
            server.stop()
    if not result.get("ok"):
        raise RuntimeError(f"the resim benchmark failed in the worker: {result.get('error')}")
    if outside:
        raise RuntimeError(f"the page reached outside the server: {outside}")
    batches: dict[str, Any] = {}
    for n, times in result["batches"].items():
        per_frame = [ms / int(n) for ms in times]
        rates = sorted(FRAME_MS / f for f in per_frame)
        batches[f"batch_{n}_frames"] = {
            "batch_ms": summary(times),
            "ms_per_frame_p50": round(sorted(per_frame)[len(per_frame) // 2], 4),
            "frames_per_16_7ms_p50": round(rates[len(rates) // 2], 1),
            "frames_per_16_7ms_worst": round(rates[0], 1),
        }
    headline = batches["batch_240_frames"]["frames_per_16_7ms_p50"]
    return {
        "env": "PaddlesEnv (mug.env.examples), 2 human players, render diff once per batch",
        "where": "Pyodide in a Web Worker, headless Chromium, one Game.execute call per batch (JSON in/out)",
        "pyodide": result["version"],
        "frames_per_16_7ms": headline,
        "goal_frames_per_16_7ms": GOAL_FRAMES_PER_60HZ_FRAME,
        "meets_goal": headline >= GOAL_FRAMES_PER_60HZ_FRAME,
        "tick_1_frame_ms": summary(result["tick"][100:]),
        **batches,
        "rounds": rounds,
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
