// Simulated participants for the server capacity benchmark: real socket.io-client connections
// (the library the participant page uses, over the same websocket transport) in a Node process of
// their own, so the load they put on the 2-core machine is close to what the server's own work is
// measured against, not dominated by a Python client stack.
//
//   node benchmarks/sim_participants.mjs URL COUNT SCENE_ID ID_PREFIX
//
// Prints one JSON line ({"ready": true}) when every participant is in a running game; then, for each
// line read on stdin, a JSON report (frames and bytes received since the previous report, own CPU)
// and, on end of input, disconnects everyone and exits.
//
// Optional environment (used by the client_capacity benchmark; the defaults are the old behavior):
//   SIM_ACTION_EVERY=N   send an action every N frames received (default 10: 3 actions/s at 30 fps;
//                        1: an action every frame)
//   SIM_PER_CLIENT=1     add what each participant received to every report: its frames/s and
//                        the p99 of its frame inter-arrival times (ms), and the round trips of a
//                        `ping` every tenth participant sends once a second (ms)
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, "..", "mug", "client", "package.json"));
const { io } = require("socket.io-client");

const [url, countText, sceneId, prefix] = process.argv.slice(2);
const count = Number(countText);
const actionEvery = Number(process.env.SIM_ACTION_EVERY ?? "10");
const perClient = process.env.SIM_PER_CLIENT === "1";
if (!Number.isInteger(actionEvery) || actionEvery < 1) {
  process.stderr.write(`SIM_ACTION_EVERY must be a whole number of frames >= 1, not ${process.env.SIM_ACTION_EVERY}\n`);
  process.exit(2);
}
if (!url || !Number.isInteger(count) || count < 1 || !sceneId || !prefix) {
  process.stderr.write("usage: node sim_participants.mjs URL COUNT SCENE_ID ID_PREFIX\n");
  process.exit(2);
}

class Participant {
  constructor(pid) {
    this.pid = pid;
    this.frames = 0;
    this.bytes = 0;
    this.windowFrames = 0; // since the last report (per-client figures)
    this.gaps = [];
    this.lastArrival = null;
    this.rtts = [];
    this.socket = io(url, { path: "/socket.io", transports: ["websocket"], reconnection: false, forceNew: true, perMessageDeflate: process.env.SIM_DEFLATE === "0" ? false : { threshold: 1024 } });
    this.running = new Promise((resolve) => {
      this.socket.on("game_status", (status) => {
        if (status.status === "running") resolve();
      });
    });
    // Bytes as they arrive on the wire (the Engine.IO message, before Socket.IO decodes it).
    this.socket.io.on("open", () => {
      this.socket.io.engine.on("packet", ({ type, data }) => {
        if (type === "message" && typeof data === "string" && data.startsWith(`2["frame"`)) this.bytes += data.length + 1;
      });
    });
    this.socket.on("frame", () => {
      this.frames += 1;
      if (perClient) {
        const now = performance.now();
        if (this.lastArrival !== null) this.gaps.push(now - this.lastArrival);
        this.lastArrival = now;
        this.windowFrames += 1;
      }
      if (this.frames % actionEvery === 0) {
        // by default a key change every third of a second, as a player steering would
        this.socket.emit("action", { scene_id: sceneId, action: Math.floor(this.frames / actionEvery) % 3 });
      }
    });
  }

  async start() {
    const reply = await this.socket.emitWithAck("join", { query: { participant: this.pid } });
    let scene = reply.scene;
    while (scene.scene_id !== sceneId) {
      scene = (await this.socket.emitWithAck("advance", { scene_id: scene.scene_id })).scene;
    }
    await this.socket.emitWithAck("start_game", { scene_id: sceneId });
  }
}

const people = Array.from({ length: count }, (_, i) => new Participant(`${prefix}-${i}`));
for (let i = 0; i < count; i += 20) {
  // arrive in small batches, as participants would
  await Promise.all(people.slice(i, i + 20).map((p) => p.start()));
}
const timeout = setTimeout(() => {
  process.stderr.write("participants did not all reach a running game within 120 s\n");
  process.exit(1);
}, 120_000);
await Promise.all(people.map((p) => p.running));
clearTimeout(timeout);
if (perClient) {
  // One ping a second from every tenth participant (spread over the second; few enough not to
  // add load of their own), its ack's round trip recorded.
  people.forEach((p, i) => {
    if (i % 10 !== 0) return;
    setTimeout(() => {
      setInterval(() => {
        const start = performance.now();
        p.socket
          .emitWithAck("ping", { t: Date.now() })
          .then(() => p.rtts.push(performance.now() - start))
          .catch(() => {}); // (disconnected: the frames it misses count against it)
      }, 1000);
    }, (i * 1000) / count);
  });
}
process.stdout.write(JSON.stringify({ ready: true }) + "\n");

let last = { frames: 0, bytes: 0, cpu: process.cpuUsage(), at: performance.now() };
const totals = () => ({
  frames: people.reduce((n, p) => n + p.frames, 0),
  bytes: people.reduce((n, p) => n + p.bytes, 0),
});
const lines = createInterface({ input: process.stdin });
lines.on("line", () => {
  const now = totals();
  const cpu = process.cpuUsage(last.cpu);
  const wall = (performance.now() - last.at) / 1000;
  const frames = now.frames - last.frames;
  const report = {
    frames_received: frames,
    bytes_per_frame: frames ? Math.round(((now.bytes - last.bytes) / frames) * 10) / 10 : null,
    frames_per_s: Math.round((frames / wall) * 10) / 10,
    client_cpu_fraction: Math.round(((cpu.user + cpu.system) / 1e6 / wall) * 1000) / 1000,
  };
  if (perClient) {
    const p99 = (values) => {
      if (!values.length) return null;
      const sorted = [...values].sort((a, b) => a - b);
      return Math.round(sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)] * 10) / 10;
    };
    report.per_client = people.map((p) => [Math.round((p.windowFrames / wall) * 10) / 10, p99(p.gaps)]);
    report.ping_rtt_ms = people.flatMap((p) => p.rtts.map((r) => Math.round(r * 100) / 100));
    for (const p of people) {
      p.windowFrames = 0;
      p.gaps = [];
      p.rtts = [];
    }
  }
  process.stdout.write(JSON.stringify(report) + "\n");
  last = { ...now, cpu: process.cpuUsage(), at: performance.now() };
});
lines.on("close", () => {
  for (const p of people) p.socket.disconnect();
  process.exit(0);
});
