// Simulated participants for the server capacity benchmarks, in a Node process of their own, so
// the load they put on the 2-core machine is close to what the server's own work is measured
// against, not dominated by a Python client stack.
//
//   node benchmarks/sim_participants.mjs URL COUNT SCENE_ID ID_PREFIX
//
// Prints one JSON line ({"ready": true}) when every participant is in a running game; then, for each
// line read on stdin, a JSON report (frames and bytes received since the previous report, own CPU)
// and, on end of input, disconnects everyone and exits.
//
// Two kinds of participant, the same protocol on the same websocket transport:
//   - "library" (default): socket.io-client, the library the participant page uses;
//   - "wire" (SIM_CLIENT=wire): the Engine.IO/Socket.IO text protocol spoken directly over a `ws`
//     websocket (the socket library socket.io-client itself uses in Node). A frame is counted from
//     the first bytes of its websocket message, never decoded; only the rare other events are
//     parsed. It is the measuring instrument of client_capacity: on the 2-core machine the
//     library clients took 0.2-0.45 core of what the server could have had. Measured with
//     `python -m benchmarks.client_capacity`: see benchmarks/README.md, "Reading client_capacity".
//
// Optional environment (used by the capacity benchmarks; the defaults are the old behavior):
//   SIM_CLIENT=wire|library  which participant (default library)
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
const WebSocket = require("ws");

const [url, countText, sceneId, prefix] = process.argv.slice(2);
const count = Number(countText);
const actionEvery = Number(process.env.SIM_ACTION_EVERY ?? "10");
const perClient = process.env.SIM_PER_CLIENT === "1";
const clientKind = process.env.SIM_CLIENT ?? "library";
if (clientKind !== "library" && clientKind !== "wire") {
  process.stderr.write(`SIM_CLIENT must be "wire" or "library", not ${JSON.stringify(clientKind)}\n`);
  process.exit(2);
}
if (!Number.isInteger(actionEvery) || actionEvery < 1) {
  process.stderr.write(`SIM_ACTION_EVERY must be a whole number of frames >= 1, not ${process.env.SIM_ACTION_EVERY}\n`);
  process.exit(2);
}
if (!url || !Number.isInteger(count) || count < 1 || !sceneId || !prefix) {
  process.stderr.write("usage: node sim_participants.mjs URL COUNT SCENE_ID ID_PREFIX\n");
  process.exit(2);
}

/**
 * A frame reached participant `p` (either kind): counted, its gap timed; the action to send now,
 * or null. By default a key change every third of a second, as a player steering would.
 */
function frameArrived(p) {
  p.frames += 1;
  if (perClient) {
    const now = performance.now();
    if (p.lastArrival !== null) p.gaps.push(now - p.lastArrival);
    p.lastArrival = now;
    p.windowFrames += 1;
  }
  return p.frames % actionEvery === 0 ? Math.floor(p.frames / actionEvery) % 3 : null;
}

class LibraryParticipant {
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
      const action = frameArrived(this);
      if (action !== null) this.socket.emit("action", { scene_id: sceneId, action });
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

  ping() {
    return this.socket.emitWithAck("ping", { t: Date.now() });
  }

  close() {
    this.socket.disconnect();
  }
}

// The first bytes of a websocket message carrying a `frame` event: Engine.IO message (4),
// Socket.IO event (2), then the event's name.
const FRAME_PREFIX = Buffer.from('42["frame"');

class WireParticipant {
  constructor(pid) {
    this.pid = pid;
    this.frames = 0;
    this.bytes = 0;
    this.windowFrames = 0;
    this.gaps = [];
    this.lastArrival = null;
    this.rtts = [];
    this.nextAck = 0;
    this.acks = new Map(); // ack id -> resolve
    const address = new URL("socket.io/?EIO=4&transport=websocket", url.endsWith("/") ? url : url + "/");
    address.protocol = address.protocol === "https:" ? "wss:" : "ws:";
    this.ws = new WebSocket(address, { perMessageDeflate: false, skipUTF8Validation: true });
    this.ws.on("error", (err) => {
      process.stderr.write(`${pid}: websocket error: ${err.message}\n`);
      process.exit(1);
    });
    this.connected = new Promise((resolve) => (this.onConnected = resolve));
    this.running = new Promise((resolve) => (this.onRunning = resolve));
    this.ws.on("message", (data) => this.receive(data));
  }

  receive(data) {
    if (data.length >= FRAME_PREFIX.length && data.compare(FRAME_PREFIX, 0, FRAME_PREFIX.length, 0, FRAME_PREFIX.length) === 0) {
      this.bytes += data.length;
      const action = frameArrived(this);
      if (action !== null) this.emit("action", { scene_id: sceneId, action });
      return;
    }
    const text = data.toString();
    if (text === "2") {
      this.ws.send("3"); // Engine.IO ping -> pong
    } else if (text[0] === "0") {
      this.ws.send("40"); // Engine.IO open -> Socket.IO CONNECT to "/"
    } else if (text.startsWith("40")) {
      this.onConnected();
    } else if (text.startsWith("43")) {
      const open = text.indexOf("[");
      const resolve = this.acks.get(Number(text.slice(2, open)));
      if (resolve) {
        this.acks.delete(Number(text.slice(2, open)));
        resolve(JSON.parse(text.slice(open))[0]);
      }
    } else if (text.startsWith('42["game_status"')) {
      if (JSON.parse(text.slice(2))[1].status === "running") this.onRunning();
    } else if (text.startsWith("41") || text[0] === "1") {
      process.stderr.write(`${this.pid}: the server closed the connection: ${text.slice(0, 200)}\n`);
    }
  }

  emit(event, payload) {
    this.ws.send("42" + JSON.stringify([event, payload]));
  }

  emitWithAck(event, payload) {
    const id = this.nextAck++;
    return new Promise((resolve) => {
      this.acks.set(id, resolve);
      this.ws.send("42" + id + JSON.stringify([event, payload]));
    });
  }

  async start() {
    await this.connected;
    const reply = await this.emitWithAck("join", { query: { participant: this.pid } });
    let scene = reply.scene;
    while (scene.scene_id !== sceneId) {
      scene = (await this.emitWithAck("advance", { scene_id: scene.scene_id })).scene;
    }
    await this.emitWithAck("start_game", { scene_id: sceneId });
  }

  ping() {
    return this.emitWithAck("ping", { t: Date.now() });
  }

  close() {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send("41");
    this.ws.close();
  }
}

const Participant = clientKind === "wire" ? WireParticipant : LibraryParticipant;

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
        p.ping()
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
  for (const p of people) p.close();
  process.exit(0);
});
