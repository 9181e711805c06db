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

``with_onnx_bot``: the same batches with "right" played by an ONNX bot (a recurrent model, 6
observations -> 64-unit tanh RNN -> 3 logits, from tests/policies/policies_models.py) and "left" by
the human, run as the worker runs them (docs/p2p.md, "Bots"): the batch pauses before every step
for the bot, onnxruntime-web (the build's wasm, one thread) runs the model on the observation and
memory the pause gives, and the batch resumes with the sampled action and the new memory. The
bot's side is bundled from mug/client/src (runtime/p2p_bots.ts) with esbuild.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks._stats import summary
from mug._chromium import launch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "runtime"))
sys.path.insert(0, str(ROOT / "tests"))
from runtime_site import SiteServer, build_env_zip, check_build, guard_network  # noqa: E402

BRIDGE = ROOT / "mug" / "client" / "src" / "runtime" / "bridge.py"
CLIENT = ROOT / "mug" / "client"
FRAME_MS = 1000 / 60
GOAL_FRAMES_PER_60HZ_FRAME = 50
BOT_HIDDEN = 64

# The bot's side, bundled from the client's sources: the same P2POnnxBot the worker uses.
BOTS_TS = """
import { loadSession, ortRuntime } from "./src/policies/runtime";
import { parseModelSpec } from "./src/policies/spec";
import { onnxAgentOptions, P2PBotSet, P2POnnxBot } from "./src/runtime/p2p_bots";

export async function makeBots(rawSpec, agent, wasmBase) {
  const spec = parseModelSpec(rawSpec);
  const session = await loadSession(spec.model_url, { wasmBase });
  const bots = new P2PBotSet({ [agent]: new P2POnnxBot(session, spec, agent, ortRuntime) });
  return { bots, options: onnxAgentOptions(spec) };
}
"""

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
    // The same with an ONNX bot playing "right": every step pauses the batch for the bot.
    const { makeBots } = await import(`${base}bots.js`);
    const spec = await (await fetch(`${base}bot_spec.json`)).json();
    const { bots, options } = await makeBots(spec, "right", `${base}static/vendor/ort/`);
    const botGame = bridge.Game(JSON.stringify({
      env_code: "from mug.env.examples import PaddlesEnv\nenv = PaddlesEnv(points_to_win=1000)\n",
      agents: ["left", "right"], humans: ["left"], onnx_agents: { right: options },
      p2p: true, seed: 1, max_steps: 1000000,
    }));
    check(botGame.load());
    check(botGame.p2p_reset(1));
    const botFrames = (from, n) => {
      const out = [];
      for (let f = from; f < from + n; f++) {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        out.push({ kind: "advance", frame: f, inputs: [[(x >>> 8) % 3, 1]], resimulation: true });
        out.push({ kind: "save", frame: f + 1, checksum: (f + 1) % 30 === 0 });
      }
      return out;
    };
    let pauses = 0;
    const runBot = async (requests) => {
      const inferenceBefore = bots.inferenceMs;
      const t0 = performance.now();
      let py = performance.now();
      let r = check(botGame.execute(JSON.stringify({ requests })));
      let pyMs = performance.now() - py;
      while (r.pending) {
        pauses++;
        const answers = JSON.stringify(await bots.answer(r.pending));
        py = performance.now();
        r = check(botGame.resume(answers));
        pyMs += performance.now() - py;
      }
      return [performance.now() - t0, bots.inferenceMs - inferenceBefore, pyMs];
    };
    frame = 0;
    await runBot([{ kind: "save", frame: 0, checksum: false }]);
    const botTick = [];
    for (let i = 0; i < 300; i++) { botTick.push(await runBot(botFrames(frame, 1))); frame++; }
    const botBatches = {};
    for (const n of [8, 60, 240]) {
      botBatches[n] = [];
      for (let i = 0; i < rounds; i++) {
        const from = frame - n;
        botBatches[n].push(await runBot([{ kind: "load", frame: from }, ...botFrames(from, n)]));
      }
    }
    const botRuns = { tick: botTick, batches: botBatches, pauses, queries: bots.queries };
    const isolated = self.crossOriginIsolated;
    report({ ok: true, tick, batches, botRuns, version: pyodide.version, crossOriginIsolated: isolated });
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


def build_bot(root: Path) -> None:
    """The bot's model and client spec, and the bundle of its side (bots.js) in the site folder."""
    from policies.policies_models import build_recurrent_bot

    from mug.policies import ModelConfig

    model = build_recurrent_bot(root / "bot.onnx", n_obs=6, n_actions=3, hidden=BOT_HIDDEN)
    config = ModelConfig(model, obs_input="obs", logit_output="logits", state_inputs=["h_in"], state_outputs=["h_out"])
    (root / "bot_spec.json").write_text(json.dumps(config.client_spec("bot.onnx")))
    subprocess.run(
        [str(CLIENT / "node_modules" / ".bin" / "esbuild"), "--bundle", "--format=esm", "--target=es2022",
         "--loader=ts", f"--outfile={root / 'bots.js'}", "--log-level=warning"],
        input=BOTS_TS, text=True, cwd=CLIENT, check=True, timeout=120,
    )  # fmt: skip


def batch_figures(times: list[float], n: int) -> dict[str, Any]:
    per_frame = [ms / n for ms in times]
    rates = sorted(FRAME_MS / f for f in per_frame)
    return {
        "batch_ms": summary(times),
        "ms_per_frame_p50": round(sorted(per_frame)[len(per_frame) // 2], 4),
        "frames_per_16_7ms_p50": round(rates[len(rates) // 2], 1),
        "frames_per_16_7ms_worst": round(rates[0], 1),
    }


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
        build_bot(root)
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
        batches[f"batch_{n}_frames"] = batch_figures(times, int(n))
    headline = batches["batch_240_frames"]["frames_per_16_7ms_p50"]
    bot_runs = result["botRuns"]
    with_bot: dict[str, Any] = {
        "model": f"6 observations -> {BOT_HIDDEN}-unit tanh RNN -> 3 logits (recurrent state in every snapshot)",
        "pauses": bot_runs["pauses"],
        "model_runs": bot_runs["queries"],
    }
    for n, runs in bot_runs["batches"].items():
        figures = batch_figures([total for total, _, _ in runs], int(n))
        # Where a frame's time goes: the model run (P2PBotSet.answer), the Python calls (execute and
        # resume, JSON included); the rest is the await and the answers' JSON text.
        figures["inference_ms_per_frame_p50"] = round(sorted(ms / int(n) for _, ms, _ in runs)[len(runs) // 2], 4)
        figures["python_ms_per_frame_p50"] = round(sorted(ms / int(n) for _, _, ms in runs)[len(runs) // 2], 4)
        with_bot[f"batch_{n}_frames"] = figures
    with_bot["tick_1_frame_ms"] = summary([total for total, _, _ in bot_runs["tick"][50:]])
    return {
        "env": "PaddlesEnv (mug.env.examples), 2 human players, render diff once per batch",
        "where": "Pyodide in a Web Worker, headless Chromium, one Game.execute call per batch (JSON in/out)",
        "pyodide": result["version"],
        "frames_per_16_7ms": headline,
        "goal_frames_per_16_7ms": GOAL_FRAMES_PER_60HZ_FRAME,
        "meets_goal": headline >= GOAL_FRAMES_PER_60HZ_FRAME,
        "tick_1_frame_ms": summary(result["tick"][100:]),
        **batches,
        "onnx_bot_frames_per_16_7ms": with_bot["batch_240_frames"]["frames_per_16_7ms_p50"],
        "with_onnx_bot": with_bot,
        "rounds": rounds,
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
