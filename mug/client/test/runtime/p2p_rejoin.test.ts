// A P2P page that reloads mid-game rejoins (src/runtime/p2p_loop.ts with spec.rejoin, over the
// netcode's rejoin): two P2PLoops with their own sessions and JS stand-ins for Pyodide
// (p2p_fake_game.ts) on a virtual clock; one peer's page goes away (its loop and game are dropped,
// packets to it are lost) and comes back as a new loop that knows only what its records held.
// What a participant and a researcher notice: the other never stalls, the game goes to the end,
// and the returning peer's records — what it sent before plus what it sends after — are the
// other's, every step once.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Json } from "../../src/protocol";
import { checkP2PSpec, P2PLoop, disconnectTimeoutMs, type P2PClock, type P2PLoopSpec } from "../../src/runtime/p2p_loop";
import type { P2PEvent, P2PRejoin, RuntimeP2PSpec, RuntimeRecord } from "../../src/runtime/types";
import { FakeP2PGame } from "./p2p_fake_game";

const FPS = 30;
const TICK_MS = 1000 / FPS / 2;
const STEPS = 90;
const HUMANS = ["p0", "p1"];

interface Page {
  loop: P2PLoop;
  game: FakeP2PGame;
  records: RuntimeRecord[];
  events: P2PEvent[];
  errors: string[];
}

class Pair {
  t = 10_000;
  readonly pages: Page[] = [];
  /** Pages gone until this time: no tick, packets to them are lost. */
  readonly goneUntil = new Map<number, number>();
  private queue: { at: number; from: number; to: number; bytes: Uint8Array }[] = [];

  constructor(private readonly oneWayMs = 20) {
    for (const peer of [0, 1]) this.pages.push(this.open(peer, null));
  }

  /** A page of peer `peer` (a new game, or one coming back with `rejoin`). */
  open(peer: number, rejoin: P2PRejoin | null): Page {
    const page: Page = { records: [], events: [], errors: [] } as unknown as Page;
    page.game = new FakeP2PGame(HUMANS, 5, STEPS);
    const clock: P2PClock = { now: () => this.t, wall: () => this.t / 1000, sleep: () => Promise.resolve() };
    const spec: P2PLoopSpec = {
      gameId: "g1",
      sceneId: "duel",
      participantId: `part${peer}`,
      agents: HUMANS,
      seed: 5,
      fps: FPS,
      numEpisodes: 2,
      resetFreezeS: 0,
      defaultAction: 0,
      inputMode: "pressed_keys",
      actionPopulationMethod: "default_action",
      hud: null,
      peer,
      peers: HUMANS.map((agent, i) => ({ peer: i, agent })),
      inputDelay: 2,
      maxPrediction: 8,
      sessionTag: 77,
      testHooks: true,
      reconnectGraceS: 30,
      rejoin,
    };
    page.loop = new P2PLoop(spec, page.game, Object.fromEntries(HUMANS.map((a) => [a, { n: 3, start: 0 }])), clock, {
      frame: () => undefined,
      status: () => undefined,
      record: (r) => page.records.push(r),
      error: (m) => page.errors.push(m),
      netOut: (packets) => {
        for (const p of packets) this.queue.push({ at: this.t + this.oneWayMs, from: peer, to: p.to, bytes: p.bytes });
      },
      event: (e) => page.events.push(e),
      stats: () => undefined,
    });
    page.loop.start();
    return page;
  }

  private gone(peer: number): boolean {
    return (this.goneUntil.get(peer) ?? 0) > this.t;
  }

  step(): void {
    this.t += TICK_MS;
    const due = this.queue.filter((p) => p.at <= this.t).sort((a, b) => a.at - b.at);
    this.queue = this.queue.filter((p) => p.at > this.t);
    for (const p of due) if (!this.gone(p.to)) this.pages[p.to]!.loop.netIn(p.from, p.bytes);
    this.pages.forEach((page, peer) => {
      if (this.gone(peer)) return;
      page.loop.setAction(Math.floor(this.t / (200 + 70 * peer)) % 3);
      void page.loop.tick();
    });
  }

  runFor(ms: number): void {
    const end = this.t + ms;
    while (this.t < end) this.step();
  }

  runUntilDone(limitMs = 60_000): void {
    const end = this.t + limitMs;
    while (this.pages.some((p) => p.loop.result === null) && this.t < end) this.step();
    assert.ok(this.pages.every((p) => p.loop.result !== null), `the game did not end within ${limitMs} ms`);
  }

  /** Peer `peer`'s page goes away for `downMs`; of its records the server got all but the last `lost`
   * steps (the outbox had not kept them). It comes back knowing what the server holds. */
  reload(peer: number, downMs: number, lost = 0): RuntimeRecord[] {
    const before = this.pages[peer]!;
    before.loop.stop();
    const kept = [...before.records];
    for (let n = 0; n < lost; n++) {
      const at = kept.map((r) => r.kind).lastIndexOf("step");
      kept.splice(at, kept.length - at); // (and anything after it)
    }
    this.goneUntil.set(peer, this.t + downMs);
    this.t += 0; // (the new page is made now; it ticks once it is back)
    const steps = kept.filter((r) => r.kind === "step").map((r) => r.payload as unknown as { episode: number; step: number });
    const last = steps.at(-1) ?? { episode: 1, step: 0 };
    const closed = kept.some((r) => r.kind === "episode" && (r.payload as unknown as { episode: number }).episode === last.episode);
    this.pages[peer] = this.open(peer, { id: 0x5eed + peer, recorded: { episode: last.episode, step: last.step, closed } });
    return kept;
  }
}

/** A record without what differs between peers (wall times, who sent it). */
function strip(r: RuntimeRecord): Json {
  const payload = { ...(r.payload as unknown as Record<string, Json>) };
  delete payload.t;
  delete payload.started_at;
  delete payload.ended_at;
  delete payload.participant_ids;
  return { kind: r.kind, payload } as Json;
}

function gameRecords(records: RuntimeRecord[]): Json[] {
  return records.filter((r) => r.kind !== "event").map(strip);
}

function key(r: RuntimeRecord): string {
  const p = r.payload as unknown as { episode: number; step?: number };
  return `${r.kind}:${p.episode}:${p.step ?? ""}`;
}

/** Records in the order a store keys them (episode, then steps before the episode record). */
function sorted(records: Json[]): Json[] {
  const k = (r: Json) => {
    const x = r as { kind: string; payload: { episode: number; step?: number } };
    return x.payload.episode * 100_000 + (x.kind === "episode" ? 99_999 : x.payload.step!);
  };
  return [...records].sort((a, b) => k(a) - k(b));
}

test("a page that reloads mid-episode rejoins: the other never stalls, and its records are the other's, each step once", () => {
  const pair = new Pair();
  pair.runFor(1500);
  const other = pair.pages[0]!;
  const before = other.loop.session.currentFrame;
  const kept = pair.reload(1, 3000, 3);
  pair.runFor(3000);
  // While the partner was away this peer kept playing (its inputs predicted) and did not confirm.
  assert.ok(other.loop.session.currentFrame >= before + 85, `stalled at ${other.loop.session.currentFrame}`);
  pair.runUntilDone();
  const back = pair.pages[1]!;
  for (const page of pair.pages) {
    assert.equal(page.loop.result, "done");
    assert.deepEqual(page.errors, []);
  }
  const joined = back.events.find((e): e is Extract<P2PEvent, { type: "joined" }> => e.type === "joined");
  assert.ok(joined, "the returning page never joined");
  assert.equal(joined.source, 0);
  assert.ok(joined.copiedSteps >= 3, `copied ${joined.copiedSteps} steps (3 were lost)`);
  assert.ok(other.events.some((e) => e.type === "restarted" && e.peer === 1));
  assert.ok(other.events.some((e) => e.type === "joinSent" && e.peer === 1));
  const rejoined = back.records.filter((r) => r.kind === "event" && (r.payload as unknown as { kind: string }).kind === "p2p_peer");
  assert.equal(rejoined.length, 1);
  // Both episodes complete on both sides; the returning peer's two pages together sent each step once.
  const all = [...kept, ...back.records];
  const keys = all.filter((r) => r.kind !== "event").map(key);
  assert.equal(new Set(keys).size, keys.length, "a step or episode was recorded twice");
  assert.equal(all.filter((r) => r.kind === "step").length, 2 * STEPS);
  assert.deepEqual(sorted(gameRecords(all)), sorted(gameRecords(other.records)));
});

test("a page whose last records of an episode were lost comes back in the next one: that episode's tail and record are copied", () => {
  const pair = new Pair();
  pair.runFor(1000);
  // The page goes once episode 2 runs, and the server holds its records only up to step 60 of episode 1.
  while (!pair.pages[1]!.records.some((r) => r.kind === "episode")) pair.step();
  pair.runFor(300);
  const lost = pair.pages[1]!.records.filter((r) => r.kind === "step" && (r.payload as unknown as { episode: number; step: number }).step > 60 || (r.payload as unknown as { episode: number }).episode === 2).length;
  const kept = pair.reload(1, 2000, lost);
  assert.ok(!kept.some((r) => r.kind === "episode"));
  pair.runUntilDone();
  const back = pair.pages[1]!;
  assert.deepEqual(back.errors, []);
  const all = [...kept, ...back.records];
  const keys = all.filter((r) => r.kind !== "event").map(key);
  assert.equal(new Set(keys).size, keys.length, "a step or episode was recorded twice");
  assert.deepEqual(sorted(gameRecords(all)), sorted(gameRecords(pair.pages[0]!.records)));
  const episodes = back.records.filter((r) => r.kind === "episode").map((r) => (r.payload as unknown as { episode: number; participant_ids: string[] }));
  assert.deepEqual(episodes.map((e) => [e.episode, e.participant_ids]), [[1, ["part1"]], [2, ["part1"]]]);
});

test("the netcode waits for a page to come back as long as the server does", () => {
  assert.equal(disconnectTimeoutMs(undefined), 10_000);
  assert.equal(disconnectTimeoutMs(2), 10_000);
  assert.equal(disconnectTimeoutMs(60), 65_000);
});

test("a rejoin spec is checked: each bad field is named", () => {
  const base = {
    gameId: "g",
    sceneId: "duel",
    participantId: "p",
    envCode: "",
    packages: [],
    agents: ["left", "right"],
    policies: { left: { kind: "human" }, right: { kind: "human" } },
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
    reconnectGraceS: 30,
    rejoin: { id: 9, recorded: { episode: 1, step: 0, closed: false } },
  } as unknown as RuntimeP2PSpec;
  assert.equal(checkP2PSpec(base), null);
  assert.equal(checkP2PSpec({ ...base, rejoin: null }), null);
  assert.match(checkP2PSpec({ ...base, reconnectGraceS: -1 })!, /reconnectGraceS must be a number of seconds >= 0, got -1/);
  assert.match(checkP2PSpec({ ...base, rejoin: { ...base.rejoin!, id: 0 } })!, /rejoin.id must be a u32 other than 0, got 0/);
  assert.match(checkP2PSpec({ ...base, rejoin: { id: 3, recorded: { episode: 0, step: 0, closed: false } } })!, /rejoin.recorded must be/);
  assert.match(checkP2PSpec({ ...base, rejoin: { id: 3, recorded: { episode: 1, step: 2, closed: "no" } } } as unknown as RuntimeP2PSpec)!, /rejoin.recorded must be/);
});
