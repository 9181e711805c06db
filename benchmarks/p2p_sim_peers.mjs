// Simulated P2P participants for the P2P server-cost benchmark (benchmarks/p2p_server_cost.py):
// real socket.io-client connections (the page's own library, websocket transport) in a Node
// process of their own, sending what a P2P page sends the server while its game runs in the
// browser: join, advance to the P2P scene, start_game (matched in pairs by the server's waitroom),
// signaling (an offer or answer and two ICE candidates to the partner), p2p_status every 2 s, a
// ping every 3 s, and the outbox's client_records: one step record per frame at 30 fps (the P2P
// page's payload: actions, rewards, infos, focus of both agents; both peers send identical steps),
// sent every 250 ms with one batch in flight, and an episode record (the server then compares the
// two peers' records) every EPISODE_STEPS steps. With RELAY=1 the pair's netcode traffic goes
// through the server too: a p2p_relay event with one 48-byte packet to the partner per frame.
//
//   node benchmarks/p2p_sim_peers.mjs URL GAMES SCENE_ID ID_PREFIX RELAY EPISODE_STEPS
//
// Prints {"ready": true} once every pair is matched and playing; then, for each line read on
// stdin, a JSON report of what was sent and answered since the previous one (events by kind,
// records acknowledged, refused, server errors, the records' ack round trip, relay packets
// received, own CPU); on end of input it disconnects everyone and exits.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, "..", "mug", "client", "package.json"));
const { io } = require("socket.io-client");

const [url, gamesText, sceneId, prefix, relayText, episodeText] = process.argv.slice(2);
const games = Number(gamesText);
const relay = relayText === "1";
const episodeSteps = Number(episodeText);
if (!url || !Number.isInteger(games) || games < 1 || !sceneId || !prefix || !Number.isInteger(episodeSteps)) {
  process.stderr.write("usage: node p2p_sim_peers.mjs URL GAMES SCENE_ID ID_PREFIX RELAY(0|1) EPISODE_STEPS\n");
  process.exit(2);
}

const FRAME_MS = 1000 / 30;
const FLUSH_MS = 250;
const STATUS_MS = 2000;
const PING_MS = 3000;
const PACKET = Buffer.alloc(48, 7).toString("base64");
const SDP = "v=0\r\n" + "a=x:".padEnd(560, "y") + "\r\n"; // about the size of a real offer

const counters = () => ({ sent: {}, acked: 0, refused: 0, errors: 0, relayReceived: 0, ackMs: [] });
let stats = counters();
const count = (kind) => {
  stats.sent[kind] = (stats.sent[kind] ?? 0) + 1;
};
const errorExamples = new Set();

class Peer {
  constructor(pid) {
    this.pid = pid;
    this.source = `sim${pid.replace(/[^A-Za-z0-9]/g, "")}`.slice(0, 60);
    this.seq = 0;
    this.pending = [];
    this.inFlight = false;
    this.game = null;
    this.socket = io(url, { path: "/socket.io", transports: ["websocket"], reconnection: false, forceNew: true });
    this.matched = new Promise((resolve) => {
      this.onGame = resolve;
    });
    this.socket.on("matched", (info) => {
      if (info.mode === "p2p") this.onGame(info);
    });
    this.socket.on("error", (err) => {
      stats.errors++;
      if (errorExamples.size < 5 && !errorExamples.has(err.message)) {
        errorExamples.add(err.message);
        process.stderr.write(`server error for ${this.pid}: ${err.event}: ${err.message}\n`);
      }
    });
    this.socket.on("p2p_relay", (msg) => {
      stats.relayReceived += Array.isArray(msg.data) ? msg.data.length : 0;
    });
  }

  async start() {
    const reply = await this.socket.emitWithAck("join", { query: { participant: this.pid } });
    if (!reply.ok) throw new Error(`join: ${reply.error}`);
    let scene = reply.scene;
    while (scene.scene_id !== sceneId) {
      scene = (await this.socket.emitWithAck("advance", { scene_id: scene.scene_id })).scene;
    }
    const started = await this.socket.emitWithAck("start_game", { scene_id: sceneId });
    if (!started.ok) throw new Error(`start_game: ${started.error}`);
    if (started.game && started.game.mode === "p2p") this.onGame(started.game);
  }

  /** Matched: signal the partner, then play. */
  begin(game, t0) {
    this.game = game;
    this.other = game.peers.find((p) => p.peer !== game.peer).peer;
    const signal = (kind, data) => {
      count("p2p_signal");
      this.socket.emit("p2p_signal", { game_id: game.game_id, to: this.other, signal: { kind, data } });
    };
    signal(game.peer === 0 ? "offer" : "answer", { type: game.peer === 0 ? "offer" : "answer", sdp: SDP });
    for (let i = 0; i < 2; i++) {
      signal("candidate", {
        candidate: `candidate:${i} 1 udp 50339839 127.0.0.1 ${20000 + i} typ relay raddr 0.0.0.0 rport 0 generation 0`,
        sdpMid: "0",
        sdpMLineIndex: 0,
      });
    }
    this.t0 = t0;
    this.frames = 0;
    this.episode = 1;
    this.step = 0;
    this.episodeStarted = Date.now() / 1000;
    this.returns = 0;
  }

  /** The frames due by `now`: a step record each (and a relayed packet each). */
  tick(now) {
    const due = Math.floor((now - this.t0) / FRAME_MS);
    while (this.frames < due) {
      this.frames++;
      this.step++;
      const action = Math.floor(this.step / 10) % 3;
      const infos = { left_points: 0, right_points: 0, hits: this.step % 7 };
      this.record("step", {
        game_id: this.game.game_id,
        episode: this.episode,
        step: this.step,
        scene_id: sceneId,
        t: Date.now() / 1000,
        actions: { left: action, right: (action + 1) % 3 },
        rewards: { left: 0, right: 0 },
        terminated: false,
        truncated: this.step === episodeSteps,
        infos: { left: infos, right: infos },
        observations: null,
        focus: { left: true, right: true },
      });
      if (relay) {
        count("p2p_relay");
        this.socket.emit("p2p_relay", { game_id: this.game.game_id, packets: [{ to: this.other, data: PACKET }] });
      }
      if (this.step === episodeSteps) {
        this.record("episode", {
          game_id: this.game.game_id,
          episode: this.episode,
          scene_id: sceneId,
          participant_ids: [this.pid],
          seed: 3,
          started_at: this.episodeStarted,
          ended_at: Date.now() / 1000,
          num_steps: episodeSteps,
          returns: { left: 0, right: 0 },
          terminated: false,
          truncated: true,
          outcome: "completed",
        });
        this.episode++;
        this.step = 0;
        this.episodeStarted = Date.now() / 1000;
      }
    }
  }

  record(kind, payload) {
    this.pending.push({ seq: this.seq++, kind, payload });
  }

  /** The outbox: everything pending in one client_records batch, one batch in flight. */
  async flush() {
    if (this.inFlight || this.pending.length === 0) return;
    const records = this.pending.splice(0, 1000);
    this.inFlight = true;
    count("client_records");
    const at = performance.now();
    try {
      const reply = await this.socket.timeout(30_000).emitWithAck("client_records", { source: this.source, records });
      stats.ackMs.push(performance.now() - at);
      if (reply.ok) {
        stats.acked += reply.committed.length;
        stats.refused += reply.refused.length;
      } else {
        stats.refused += records.length;
        if (errorExamples.size < 5) process.stderr.write(`client_records refused: ${reply.error}\n`);
      }
    } catch (err) {
      stats.refused += records.length;
    } finally {
      this.inFlight = false;
    }
  }

  status() {
    count("p2p_status");
    this.socket.emit("p2p_status", {
      game_id: this.game.game_id,
      frame: this.frames,
      peers: [{ peer: this.other, transport: relay ? "server" : "turn", rtt_ms: 20 }],
      rollbacks: 0,
      max_rollback: 0,
      predicted_frames: 0,
      frames: this.frames,
      desyncs: 0,
    });
  }

  ping() {
    count("ping");
    this.socket.emitWithAck("ping", { t: performance.now() }).catch(() => undefined); // (at the end: disconnected)
  }
}

const people = [];
for (let g = 0; g < games; g++) for (const side of ["a", "b"]) people.push(new Peer(`${prefix}-${g}${side}`));
// Pairs arrive together (the waitroom matches the first two), a few pairs at a time.
for (let i = 0; i < people.length; i += 20) {
  await Promise.all(people.slice(i, i + 20).map((p) => p.start()));
}
const timeout = setTimeout(() => {
  process.stderr.write("the pairs were not all matched within 120 s\n");
  process.exit(1);
}, 120_000);
const matched = await Promise.all(people.map((p) => p.matched));
clearTimeout(timeout);
const t0 = performance.now();
people.forEach((p, i) => p.begin(matched[i], t0 + (i % 33)));  // spread the frame clocks a little
const timers = [];
timers.push(
  setInterval(() => {
    const now = performance.now();
    for (const p of people) p.tick(now);
  }, FRAME_MS / 2),
  setInterval(() => {
    for (const p of people) void p.flush();
  }, FLUSH_MS),
);
people.forEach((p, i) => {
  timers.push(
    setTimeout(() => {
      p.status();
      timers.push(setInterval(() => p.status(), STATUS_MS));
    }, (i * 37) % STATUS_MS),
    setTimeout(() => timers.push(setInterval(() => p.ping(), PING_MS)), (i * 53) % PING_MS),
  );
});
process.stdout.write(JSON.stringify({ ready: true, peers: people.length }) + "\n");

let last = { cpu: process.cpuUsage(), at: performance.now() };
const lines = createInterface({ input: process.stdin });
lines.on("line", () => {
  const cpu = process.cpuUsage(last.cpu);
  const wall = (performance.now() - last.at) / 1000;
  const ack = [...stats.ackMs].sort((a, b) => a - b);
  const pick = (q) => (ack.length ? Math.round(ack[Math.min(ack.length - 1, Math.floor(q * ack.length))] * 10) / 10 : null);
  const report = {
    seconds: Math.round(wall * 100) / 100,
    sent: stats.sent,
    records_acked: stats.acked,
    records_refused: stats.refused,
    server_errors: stats.errors,
    relay_packets_received: stats.relayReceived,
    records_ack_ms: { p50: pick(0.5), p99: pick(0.99), max: pick(1) },
    client_cpu_fraction: Math.round(((cpu.user + cpu.system) / 1e6 / wall) * 1000) / 1000,
  };
  stats = counters();
  process.stdout.write(JSON.stringify(report) + "\n");
  last = { cpu: process.cpuUsage(), at: performance.now() };
});
lines.on("close", () => {
  for (const t of timers) clearTimeout(t); // (clears intervals too)
  for (const p of people) p.socket.disconnect();
  setTimeout(() => process.exit(0), 500); // the disconnects reach the server first
});
