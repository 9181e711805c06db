// The P2P game loop (src/runtime/p2p_loop.ts): two or three loops, each with its own netcode
// session and a JS stand-in for Pyodide (p2p_fake_game.ts, bridge.py's batch protocol), talking over
// an in-memory network on a virtual clock. What a participant notices: the game runs to the end,
// every peer records the same confirmed frames (focus included), a frozen peer catches up in one
// batch, a provoked desync is detected, recorded and resynced, failures stop the game with a message.
// With an ONNX bot (the real P2POnnxBot over a fake onnxruntime session): batches pause for it, and
// rollbacks, catch-ups and every peer give it the same inputs, so its actions agree everywhere.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { SessionLike, TensorLike } from "../../src/policies/onnx_policy";
import { parseModelSpec } from "../../src/policies/spec";
import type { TypedData } from "../../src/policies/tensors";
import type { Json } from "../../src/protocol";
import { P2PBotSet, P2POnnxBot } from "../../src/runtime/p2p_bots";
import { catchUpThreshold, checkP2PSpec, LINGER_MS, P2PLoop, type P2PClock, type P2PLoopSpec } from "../../src/runtime/p2p_loop";
import type { P2PEvent, P2PStats, RuntimeFrame, RuntimeP2PSpec, RuntimeRecord, RuntimeStatus } from "../../src/runtime/types";
import { FakeP2PGame, type FakeBot } from "./p2p_fake_game";

const FPS = 30;
const TICK_MS = 1000 / FPS / 2;

interface PeerLog {
  records: RuntimeRecord[];
  frames: RuntimeFrame[];
  statuses: RuntimeStatus[];
  events: P2PEvent[];
  errors: string[];
  stats: P2PStats | null;
}

interface Packet {
  at: number;
  from: number;
  to: number;
  bytes: Uint8Array;
}

class FakeTensor implements TensorLike {
  constructor(
    readonly type: string,
    readonly data: TypedData,
    readonly dims: readonly number[],
  ) {}
}

/** A recurrent model: h = 0.5 h + (obs0 / 10, obs2 / 50); logits = (h0, h1, obs1 / 10), in float32.
 * Its run() resolves a macrotask later, as onnxruntime-web's does; `failAt`: the run that throws. */
class FakeBotSession implements SessionLike {
  readonly inputNames = ["obs", "h_in"];
  readonly outputNames = ["logits", "h_out"];
  runs = 0;
  failAt: number | null = null;

  async run(feeds: Record<string, TensorLike>): Promise<Record<string, TensorLike>> {
    await new Promise((resolve) => setImmediate(resolve));
    if (++this.runs === this.failAt) throw new Error("wasm memory access out of bounds");
    const obs = feeds.obs!.data as Float32Array;
    const h = feeds.h_in!.data as Float32Array;
    const hOut = Float32Array.from([0.5 * h[0]! + obs[0]! / 10, 0.5 * h[1]! + obs[2]! / 50]);
    const logits = Float32Array.from([hOut[0]!, hOut[1]!, obs[1]! / 10]);
    return { logits: new FakeTensor("float32", logits, [1, 3]), h_out: new FakeTensor("float32", hOut, [1, 2]) };
  }
}

const BOT_SPEC = parseModelSpec({
  kind: "onnx",
  version: 1,
  model_url: "models/duel/bot.onnx",
  obs_input: "obs",
  obs_shape: [1, 3],
  logit_output: "logits",
  n_actions: 3,
  state: [{ input: "h_in", output: "h_out", shape: [1, 2] }],
  fixed_inputs: [],
  custom_inference_fn: null,
  frame_skip: 1,
});

/** Peers on a virtual clock; packets take `oneWayMs` (+ jitter from a seeded generator). */
class Cluster {
  t = 10_000;
  readonly loops: P2PLoop[] = [];
  readonly games: FakeP2PGame[] = [];
  /** With a bot: each peer's bot set and model session. */
  readonly botSets: P2PBotSet[] = [];
  readonly sessions: FakeBotSession[] = [];
  readonly logs: PeerLog[] = [];
  readonly frozen = new Set<number>();
  private queue: Packet[] = [];
  private rng = 12345;
  /** The local action each peer holds, by peer, as a function of the virtual time. */
  actionAt: (peer: number, t: number) => number = (peer, t) => Math.floor(t / (200 + 70 * peer)) % 3;

  constructor(
    n: number,
    readonly oneWayMs: number,
    readonly jitterMs = 0,
    spec: Partial<P2PLoopSpec> = {},
    stepsPerEpisode = 90,
    bot: FakeBot | null = null,
  ) {
    const humans = Array.from({ length: n }, (_, i) => `p${i}`);
    for (let peer = 0; peer < n; peer++) {
      const log: PeerLog = { records: [], frames: [], statuses: [], events: [], errors: [], stats: null };
      const game = new FakeP2PGame(humans, 5, stepsPerEpisode, Math.round((spec.resetFreezeS ?? 0) * FPS), bot);
      let bots: P2PBotSet | null = null;
      if (bot) {
        const session = new FakeBotSession();
        const fakeOrt = { Tensor: FakeTensor };
        bots = new P2PBotSet({ [bot.agent]: new P2POnnxBot(session, { ...BOT_SPEC, frame_skip: bot.frameSkip }, bot.agent, fakeOrt) });
        this.sessions.push(session);
        this.botSets.push(bots);
      }
      const clock: P2PClock = { now: () => this.t, wall: () => this.t / 1000, sleep: () => Promise.resolve() };
      const loop = new P2PLoop(
        {
          gameId: "g1",
          sceneId: "duel",
          participantId: `part${peer}`,
          agents: bot ? [...humans, bot.agent] : humans,
          seed: 5,
          fps: FPS,
          numEpisodes: 2,
          resetFreezeS: 0,
          defaultAction: 0,
          inputMode: "pressed_keys",
          actionPopulationMethod: "default_action",
          hud: null,
          peer,
          peers: humans.map((agent, i) => ({ peer: i, agent })),
          inputDelay: 2,
          maxPrediction: 8,
          sessionTag: 77,
          testHooks: true,
          ...spec,
        },
        game,
        Object.fromEntries(humans.map((a) => [a, { n: 3, start: 0 }])),
        clock,
        {
          frame: (f) => log.frames.push(f),
          status: (s) => log.statuses.push(s),
          record: (r) => log.records.push(r),
          error: (m) => log.errors.push(m),
          netOut: (packets) => {
            for (const p of packets) this.queue.push({ at: this.t + this.delay(), from: peer, to: p.to, bytes: p.bytes });
          },
          event: (e) => log.events.push(e),
          stats: (s) => (log.stats = s),
        },
        bots,
      );
      this.loops.push(loop);
      this.games.push(game);
      this.logs.push(log);
    }
    for (const loop of this.loops) loop.start();
  }

  private delay(): number {
    this.rng = (Math.imul(this.rng, 1103515245) + 12345) >>> 0;
    return this.oneWayMs + (this.jitterMs ? ((this.rng >>> 8) % (2 * this.jitterMs + 1)) - this.jitterMs : 0);
  }

  /** One tick of virtual time: deliver due packets (frozen peers get theirs later), then tick. */
  step(): void {
    this.deliver();
    this.loops.forEach((loop, peer) => {
      if (this.frozen.has(peer)) return;
      loop.setAction(this.actionAt(peer, this.t));
      void loop.tick();
    });
  }

  private deliver(): void {
    this.t += TICK_MS;
    const due = this.queue.filter((p) => p.at <= this.t && !this.frozen.has(p.to)).sort((a, b) => a.at - b.at);
    this.queue = this.queue.filter((p) => !due.includes(p));
    for (const p of due) this.loops[p.to]!.netIn(p.from, p.bytes);
  }

  /** step() for games with bots: each peer's tick is awaited (its batches pause for the bot). */
  async stepAsync(): Promise<void> {
    this.deliver();
    for (const [peer, loop] of this.loops.entries()) {
      if (this.frozen.has(peer)) continue;
      loop.setAction(this.actionAt(peer, this.t));
      await loop.tick();
    }
  }

  async runForAsync(ms: number): Promise<void> {
    const end = this.t + ms;
    while (this.t < end) await this.stepAsync();
  }

  async runUntilDoneAsync(limitMs = 60_000): Promise<void> {
    const end = this.t + limitMs;
    while (this.loops.some((l) => l.result === null) && this.t < end) await this.stepAsync();
    assert.ok(this.loops.every((l) => l.result !== null), `the game did not end within ${limitMs} ms`);
  }

  runFor(ms: number): void {
    const end = this.t + ms;
    while (this.t < end) this.step();
  }

  runUntilDone(limitMs = 60_000): void {
    const end = this.t + limitMs;
    while (this.loops.some((l) => l.result === null) && this.t < end) this.step();
    assert.ok(this.loops.every((l) => l.result !== null), `the game did not end within ${limitMs} ms`);
  }
}

/** A record without its wall time (t), which differs between peers. */
function strip(r: RuntimeRecord): Json {
  const payload = { ...(r.payload as unknown as Record<string, Json>) };
  delete payload.t;
  delete payload.started_at;
  delete payload.ended_at;
  delete payload.participant_ids;
  return { kind: r.kind, payload } as Json;
}

function gameRecords(log: PeerLog): Json[] {
  return log.records.filter((r) => r.kind !== "event").map(strip);
}

test("two peers play two episodes to the end and record identical confirmed frames", () => {
  const c = new Cluster(2, 20);
  c.runUntilDone();
  for (const [peer, log] of c.logs.entries()) {
    assert.equal(c.loops[peer]!.result, "done");
    assert.deepEqual(log.errors, []);
    assert.deepEqual(log.statuses, ["running", "running", "done"]);
    const steps = log.records.filter((r) => r.kind === "step");
    const episodes = log.records.filter((r) => r.kind === "episode");
    assert.equal(steps.length, 180);
    assert.deepEqual(
      steps.map((r) => [r.payload.episode, r.payload.step]),
      [...Array.from({ length: 90 }, (_, i) => [1, i + 1]), ...Array.from({ length: 90 }, (_, i) => [2, i + 1])],
    );
    assert.deepEqual(
      episodes.map((r) => r.kind === "episode" && [r.payload.episode, r.payload.num_steps, r.payload.terminated, r.payload.truncated, r.payload.seed]),
      [
        [1, 90, true, false, 5],
        [2, 90, true, false, 6],
      ],
    );
    const first = steps[0]!.payload as unknown as { focus: Record<string, boolean>; actions: Record<string, number> };
    assert.deepEqual(first.focus, { p0: true, p1: true });
    assert.ok(c.games[peer]!.closed === false); // tick() users close the game themselves (run() does)
    assert.ok(log.frames.length > 0 && log.frames[0]!.full && !log.frames[1]!.full);
  }
  assert.deepEqual(gameRecords(c.logs[1]!), gameRecords(c.logs[0]!));
  // The actions recorded are the ones each peer's participant chose (input delay: 2 frames later).
  const steps = c.logs[0]!.records.filter((r) => r.kind === "step").map((r) => r.payload as unknown as { actions: Record<string, number> });
  assert.ok(new Set(steps.map((s) => s.actions.p1)).size === 3);
});

test("with latency and jitter rollbacks happen, are counted, and the records stay identical", () => {
  const c = new Cluster(2, 60, 20); // 120 ms RTT ± 40: more than the 2-frame input delay hides
  c.actionAt = (peer, t) => Math.floor(t / (90 + 50 * peer)) % 3;
  c.runUntilDone();
  const stats = c.logs.map((l) => l.stats!);
  for (const s of stats) {
    assert.ok(s.rollbacks > 0, `rollbacks: ${s.rollbacks}`);
    assert.ok(s.maxRollback >= 2 && s.resimulatedFrames >= s.rollbacks);
    assert.ok(s.predictedFrames > 0 && s.replayedFrames === s.resimulatedFrames);
    assert.equal(s.rttMs[s.peer === 0 ? 1 : 0] !== null, true);
  }
  assert.deepEqual(gameRecords(c.logs[1]!), gameRecords(c.logs[0]!));
  assert.equal(c.logs[0]!.records.filter((r) => r.kind === "step").length, 180);
});

test("a peer frozen for 8 s catches up in one batch; the other re-simulates; records stay identical", () => {
  const c = new Cluster(2, 15, 0, { numEpisodes: 1 }, 600);
  c.runFor(3000);
  c.frozen.add(1);
  c.runFor(8000); // peer 1's page and worker are frozen: no ticks, its packets wait
  c.frozen.delete(1);
  c.runUntilDone();
  const [s0, s1] = c.logs.map((l) => l.stats!);
  const catchUp = c.logs[1]!.events.filter((e) => e.type === "catchUp");
  assert.ok(catchUp.length >= 1, "the frozen peer caught up");
  assert.ok(s1!.catchUpFrames >= 200, `caught up ${s1!.catchUpFrames} frames`);
  const biggest = Math.max(...catchUp.map((e) => (e.type === "catchUp" ? e.frames : 0)));
  assert.ok(biggest >= 230, `largest catch-up batch ${biggest}`); // 8 s at 30 fps, in one batch
  assert.ok(s0!.resimulatedFrames >= 200, `the other peer re-simulated ${s0!.resimulatedFrames}`);
  assert.ok(s0!.maxRollback >= 200 && s0!.maxBatchFrames >= 200);
  assert.ok(s1!.replayedFrames >= 240 || s0!.replayedFrames >= 240);
  assert.ok(c.logs[0]!.events.some((e) => e.type === "interrupted" && e.peer === 1));
  assert.ok(c.logs[0]!.events.some((e) => e.type === "resumed" && e.peer === 1));
  assert.equal(catchUpThreshold(8), 8);
  assert.deepEqual(gameRecords(c.logs[1]!), gameRecords(c.logs[0]!));
  assert.equal(c.logs[0]!.records.filter((r) => r.kind === "step").length, 600);
});

test("focus travels with every input: both peers record the other's hidden tab", () => {
  const c = new Cluster(2, 20, 0, { numEpisodes: 1 });
  c.runFor(1000);
  c.loops[1]!.setFocus(false);
  c.runFor(1000);
  c.loops[1]!.setFocus(true);
  c.runUntilDone();
  for (const log of c.logs) {
    const focus = log.records.filter((r) => r.kind === "step").map((r) => (r.payload as unknown as { focus: Record<string, boolean> }).focus);
    assert.ok(focus.every((f) => f.p0));
    const hidden = focus.filter((f) => !f.p1).length;
    assert.ok(hidden >= 25 && hidden <= 35, `hidden frames ${hidden}`);
  }
  assert.deepEqual(gameRecords(c.logs[1]!), gameRecords(c.logs[0]!));
});

test("a desync provoked by the test hook is detected on both sides, recorded and resynced", () => {
  const c = new Cluster(2, 20, 0, { numEpisodes: 1 }, 400);
  c.runFor(2000);
  c.loops[1]!.testDesync();
  c.runUntilDone();
  const [a, b] = c.logs;
  assert.ok(b!.events.some((e) => e.type === "testDesync" && e.changed === "pos"));
  for (const log of [a!, b!]) {
    assert.ok(log.stats!.desyncs >= 1);
    const desync = log.records.find((r) => r.kind === "event" && r.payload.kind === "p2p_desync");
    assert.ok(desync && desync.kind === "event");
    assert.deepEqual(desync.payload.data.peers, [0, 1]);
    assert.equal(desync.payload.data.resynced_from, 0);
    assert.equal(desync.payload.data.game_id, "g1");
  }
  assert.ok(b!.events.some((e) => e.type === "resynced" && e.source === 0));
  assert.equal(b!.stats!.resyncs, 1);
  assert.ok(a!.events.some((e) => e.type === "resyncSent"));
  // After the resync peer 1 plays the source's game again: the last frames agree.
  const tail = (log: PeerLog) => gameRecords(log).slice(-50);
  assert.deepEqual(tail(b!), tail(a!));
  assert.equal(c.loops[1]!.result, "done");
});

test("the desync hook does nothing unless the game has test hooks", () => {
  const c = new Cluster(2, 20, 0, { numEpisodes: 1, testHooks: false }, 200);
  c.runFor(1000);
  c.loops[1]!.testDesync();
  c.runUntilDone();
  assert.ok(c.logs.every((l) => l.stats!.desyncs === 0));
  assert.deepEqual(gameRecords(c.logs[1]!), gameRecords(c.logs[0]!));
});

test("three peers agree too, and the game lingers for its peers after the last episode", () => {
  const c = new Cluster(3, 30, 10, { numEpisodes: 1 }, 120);
  c.runUntilDone();
  assert.deepEqual(gameRecords(c.logs[1]!), gameRecords(c.logs[0]!));
  assert.deepEqual(gameRecords(c.logs[2]!), gameRecords(c.logs[0]!));
  for (const log of c.logs) {
    const lastStep = log.records.filter((r) => r.kind === "step").at(-1)!;
    assert.equal((lastStep.payload as unknown as { step: number }).step, 120);
    assert.deepEqual(Object.keys((lastStep.payload as unknown as { focus: object }).focus), ["p0", "p1", "p2"]);
  }
  assert.ok(LINGER_MS >= 1000);
});

test("an env failure stops the game on that peer with the env's message", () => {
  const c = new Cluster(2, 20, 0, { numEpisodes: 1 });
  c.games[0]!.failAt = { episode: 1, step: 30 };
  c.runFor(3000);
  assert.equal(c.loops[0]!.result, "error");
  const log = c.logs[0]!;
  assert.match(log.errors[0]!, /^the env failed in step\(\) at episode 1, step 30: ZeroDivisionError/);
  assert.equal(log.statuses.at(-1), "error");
  const event = log.records.find((r) => r.kind === "event" && r.payload.kind === "env_error");
  assert.ok(event && event.kind === "event" && String(event.payload.data.traceback).includes("<env_code>"));
});

test("actions outside the human's space are ignored; single keystrokes are used once", () => {
  const c = new Cluster(2, 0, 0, { numEpisodes: 1, inputMode: "single_keystroke" }, 60);
  c.actionAt = () => 0;
  c.runFor(300);
  c.loops[0]!.setAction(7);
  c.loops[0]!.setAction("up" as unknown as number);
  c.loops[0]!.setAction(2);
  c.runUntilDone();
  const actions = c.logs[0]!.records.filter((r) => r.kind === "step").map((r) => (r.payload as unknown as { actions: Record<string, number> }).actions.p0);
  // Every tick sets 0 again (the cluster's actionAt), so the keystroke is the only 2 … or none if
  // a later setAction(0) replaced it before the next frame: either way never the invalid 7.
  assert.ok(actions.every((a) => a === 0 || a === 2));
});

test("P2P specs are checked: peers, human agents, ONNX bots with a custom_inference_fn refused with the reason", () => {
  const base = {
    gameId: "g",
    sceneId: "s",
    participantId: "p",
    envCode: "",
    packages: [],
    agents: ["left", "right", "bot"],
    policies: { left: { kind: "human" }, right: { kind: "human" }, bot: { kind: "random" } },
    seed: 1,
    fps: 30,
    numEpisodes: 1,
    maxSteps: 100,
    resetFreezeS: 0,
    defaultAction: 0,
    inputMode: "pressed_keys",
    actionPopulationMethod: "default_action",
    recordObservations: false,
    hud: null,
    peer: 1,
    peers: [
      { peer: 0, agent: "left" },
      { peer: 1, agent: "right" },
    ],
    inputDelay: 2,
    maxPrediction: 8,
    sessionTag: 5,
    testHooks: false,
  } as RuntimeP2PSpec;
  assert.equal(checkP2PSpec(base), null);
  assert.match(checkP2PSpec({ ...base, peers: [base.peers[0]!] })!, /2\.\.4 participants/);
  assert.match(checkP2PSpec({ ...base, peers: [base.peers[1]!, base.peers[0]!] })!, /peer order/);
  assert.match(checkP2PSpec({ ...base, peers: [base.peers[0]!, { peer: 1, agent: "bot" }] })!, /not a human agent/);
  assert.match(checkP2PSpec({ ...base, peer: 2 })!, /peer must be one of 0\.\.1/);
  assert.equal(checkP2PSpec({ ...base, policies: { ...base.policies, bot: { kind: "onnx", model: { custom_inference_fn: null } } } }), null);
  assert.match(
    checkP2PSpec({ ...base, policies: { ...base.policies, bot: { kind: "onnx", model: { custom_inference_fn: "return 0;" } } } })!,
    /the ONNX bot of agent "bot" has a custom_inference_fn, which a P2P game cannot run: its own state \(context\.state\) and draws cannot be saved/,
  );
  assert.match(checkP2PSpec({ ...base, defaultAction: [0] })!, /defaultAction must be an int/);
});

function botActions(log: PeerLog): number[] {
  return log.records.filter((r) => r.kind === "step").map((r) => (r.payload as unknown as { actions: Record<string, number> }).actions.bot!);
}

test("an ONNX bot acts on every peer: batches pause for it, rollbacks re-run it from the snapshot, the records agree", async () => {
  const c = new Cluster(2, 60, 20, {}, 90, { agent: "bot", frameSkip: 1 }); // 120 ms RTT ± 40: rollbacks
  c.actionAt = (peer, t) => Math.floor(t / (90 + 50 * peer)) % 3;
  await c.runUntilDoneAsync();
  for (const [peer, log] of c.logs.entries()) {
    assert.equal(c.loops[peer]!.result, "done");
    assert.deepEqual(log.errors, []);
    assert.ok(log.stats!.rollbacks > 0, `peer ${peer} rolled back ${log.stats!.rollbacks} times`);
    assert.equal(log.records.filter((r) => r.kind === "step").length, 180);
    // One model run per simulated step, re-simulations included: the bot ran again in every rollback.
    assert.ok(c.botSets[peer]!.queries >= 180 + log.stats!.resimulatedFrames - 20, `queries ${c.botSets[peer]!.queries}`);
    assert.equal(c.sessions[peer]!.runs, c.botSets[peer]!.queries);
  }
  assert.deepEqual(gameRecords(c.logs[1]!), gameRecords(c.logs[0]!));
  const actions = botActions(c.logs[0]!);
  assert.equal(actions.length, 180);
  assert.equal(new Set(actions).size, 3); // it follows what it observes and its draws: not a constant
});

test("an ONNX bot with frame_skip repeats its action between queries, on every peer", async () => {
  const c = new Cluster(2, 30, 10, { numEpisodes: 1 }, 60, { agent: "bot", frameSkip: 4 });
  await c.runUntilDoneAsync();
  assert.deepEqual(gameRecords(c.logs[1]!), gameRecords(c.logs[0]!));
  const actions = botActions(c.logs[0]!);
  for (let i = 0; i < 60; i++) assert.equal(actions[i], actions[i - (i % 4)], `step ${i + 1}`);
});

test("a peer frozen for 8 s catches up in one batch that pauses for the bot at every frame; the records agree", async () => {
  const c = new Cluster(2, 15, 0, { numEpisodes: 1 }, 600, { agent: "bot", frameSkip: 1 });
  await c.runForAsync(3000);
  c.frozen.add(1);
  await c.runForAsync(8000);
  c.frozen.delete(1);
  await c.runUntilDoneAsync();
  const biggest = Math.max(...c.logs[1]!.events.map((e) => (e.type === "catchUp" ? e.frames : 0)));
  assert.ok(biggest >= 230, `largest catch-up batch ${biggest}`);
  assert.ok(c.logs[0]!.stats!.maxRollback >= 200);
  assert.deepEqual(gameRecords(c.logs[1]!), gameRecords(c.logs[0]!));
  assert.equal(botActions(c.logs[0]!).length, 600);
});

test("a failing bot model stops the game on that peer with the policy's message", async () => {
  const c = new Cluster(2, 20, 0, { numEpisodes: 1 }, 200, { agent: "bot", frameSkip: 1 });
  c.sessions[0]!.failAt = 40;
  await c.runForAsync(4000);
  assert.equal(c.loops[0]!.result, "error");
  const log = c.logs[0]!;
  assert.match(log.errors[0]!, /^the policy of agent 'bot' failed at episode 1, step \d+: inference failed: wasm memory access out of bounds$/);
  assert.equal(log.statuses.at(-1), "error");
  const event = log.records.find((r) => r.kind === "event" && r.payload.kind === "policy_error");
  assert.ok(event && event.kind === "event" && event.payload.data.agent_id === "bot");
});
