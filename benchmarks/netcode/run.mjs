#!/usr/bin/env node
// Netcode benchmark: session bookkeeping cost per frame and re-simulation rate, on the simulated
// network and virtual clock of the netcode test harness. Usage (from the repo root, after
// `cd mug/client && npm ci`):  node benchmarks/netcode/run.mjs
// Prints one JSON object on stdout; progress goes to stderr.
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { performance } from "node:perf_hooks";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..");
const require = createRequire(join(repo, "mug", "client", "package.json"));
const { build } = require("esbuild");

const FPS = 30;
const SECONDS = 60;
const REPEATS = 5;
const HOST_TICK_MS = 1000 / 60; // a requestAnimationFrame-paced host loop
const LOSSY_10 = { latencyMs: 40, jitterMs: 10, loss: 0.1, duplicate: 0, reorder: 0, reorderExtraMs: 0 };
// 100 ms RTT with +/- 20 ms of per-packet jitter (like `netem delay 50ms 20ms` on each direction).
const RTT_100_JITTER_20 = { latencyMs: 50, jitterMs: 20, loss: 0, duplicate: 0, reorder: 0, reorderExtraMs: 0 };
// The same with the jitter split between the two directions (RTT varies by at most +/- 20 ms).
const RTT_100_JITTER_10_EACH_WAY = { ...RTT_100_JITTER_20, jitterMs: 10 };
const GOAL_US = 50;

const log = (...args) => console.error("[netcode bench]", ...args);

const outDir = mkdtempSync(join(tmpdir(), "mug-netcode-bench-"));
try {
  const outfile = join(outDir, "bench.mjs");
  await build({
    entryPoints: [join(here, "bench.ts")],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    logLevel: "warning",
  });
  const bench = await import(pathToFileURL(outfile).href);
  const timer = () => performance.now();

  log("warming up");
  bench.bookkeeping(2, LOSSY_10, 10, HOST_TICK_MS, timer);

  const bookkeeping = {};
  for (const players of [2, 4]) {
    const runs = [];
    for (let i = 0; i < REPEATS; i++) runs.push(bench.bookkeeping(players, LOSSY_10, SECONDS, HOST_TICK_MS, timer));
    runs.sort((a, b) => a.usPerFrame - b.usPerFrame);
    const median = runs[Math.floor(runs.length / 2)];
    log(`${players} players: ${median.usPerFrame.toFixed(2)} us/frame (runs: ${runs.map((r) => r.usPerFrame.toFixed(2)).join(", ")})`);
    bookkeeping[`${players}_players`] = {
      us_per_frame: round(median.usPerFrame),
      us_per_frame_runs: runs.map((r) => round(r.usPerFrame)),
      frames_measured: median.framesMeasured,
      rollbacks_per_100_frames: round(median.rollbacksPer100),
      resimulated_frames_per_100_frames: round(median.resimulatedPer100),
    };
  }

  const resim = {};
  const resimNarrow = {};
  for (const players of [2, 4]) {
    const r = bench.resimulation(players, RTT_100_JITTER_20, SECONDS * 2, HOST_TICK_MS, 2);
    log(`${players} players, RTT 100 ms, jitter +/- 20 ms per packet, input delay 2: ${r.resimulatedPer100.toFixed(2)} re-simulated frames per 100`);
    resim[`${players}_players`] = {
      resimulated_frames_per_100_frames: round(r.resimulatedPer100),
      rollbacks_per_100_frames: round(r.rollbacksPer100),
      frames_measured: r.framesMeasured,
    };
    const n = bench.resimulation(players, RTT_100_JITTER_10_EACH_WAY, SECONDS * 2, HOST_TICK_MS, 2);
    resimNarrow[`${players}_players`] = {
      resimulated_frames_per_100_frames: round(n.resimulatedPer100),
      rollbacks_per_100_frames: round(n.rollbacksPer100),
      frames_measured: n.framesMeasured,
    };
  }

  const worst = Math.max(...Object.values(bookkeeping).map((b) => b.us_per_frame));
  const report = {
    benchmark: "netcode",
    bookkeeping_us_per_frame: Object.fromEntries(Object.entries(bookkeeping).map(([k, v]) => [k, v.us_per_frame])),
    goal_us_per_frame: GOAL_US,
    meets_goal: worst < GOAL_US,
    resimulated_frames_per_100_frames: Object.fromEntries(Object.entries(resim).map(([k, v]) => [k, v.resimulated_frames_per_100_frames])),
    details: { bookkeeping, resimulation: resim, resimulation_jitter_10_each_way: resimNarrow },
    settings: {
      fps: FPS,
      virtual_seconds_per_run: SECONDS,
      repeats: REPEATS,
      host_tick_ms: round(HOST_TICK_MS),
      input_change_probability_per_frame: 0.15,
      bookkeeping: {
        max_prediction_frames: 8,
        input_delay_frames: 2,
        network: LOSSY_10,
        measured: "time inside session calls (handleMessage, poll, framesDue, addLocalInput, advanceFrame, drainOutgoing, drainEvents) incl. wire encode/decode; excludes the game step and the simulated network",
        per: "advanced frame per peer (median of repeats)",
      },
      resimulation: {
        input_delay_frames: 2,
        rtt_ms: 100,
        rtt_jitter_ms: 20,
        network: RTT_100_JITTER_20,
        network_jitter_10_each_way: RTT_100_JITTER_10_EACH_WAY,
        virtual_seconds: SECONDS * 2,
        per: "re-simulated frames per 100 advanced frames, averaged over peers",
      },
    },
    environment: { node: process.version, platform: process.platform, arch: process.arch },
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
} finally {
  rmSync(outDir, { recursive: true, force: true });
}

function round(x) {
  return Math.round(x * 100) / 100;
}
