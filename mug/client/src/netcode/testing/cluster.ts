// Runs N peers (sessions + toy games) over a simulated network on a virtual clock, the way a host
// would drive them, and records what each peer confirmed, for tests and the benchmark.
import { InProcessHost } from "../host";
import type { P2PSession } from "../p2p-session";
import { SessionBuilder, type SessionOptionsInput } from "../session-builder";
import type { Action, AdvanceStatus, Frame, PeerId, PlayerHandle, PlayerInput, SessionEvent, SessionRequest } from "../types";
import { Prng } from "./prng";
import { SimNetwork, type LinkConditions } from "./sim-network";
import { TOY_ACTION_SPACE, ToyGame } from "./toy-game";

export interface ClusterOptions {
  readonly numPlayers: number;
  readonly seed: number;
  readonly network: LinkConditions;
  readonly session?: SessionOptionsInput;
  /** Players hosted by each peer (default: one player per peer, peer i hosts player i). */
  readonly layout?: readonly (readonly PlayerHandle[])[];
  /** Host tick period in virtual ms. Default 1. */
  readonly tickMs?: number;
  /** Probability a player's action changes on a given frame. Default 0.15. */
  readonly inputChangeProbability?: number;
  /** Per-peer clock rate (1 = exact); a peer with 0.97 sees time pass 3 % slower. */
  readonly clockScale?: readonly number[];
  /** Windows during which a peer's host is frozen (no tick at all; its messages wait). */
  readonly pauses?: readonly { readonly peer: number; readonly fromMs: number; readonly toMs: number }[];
  /** Overrides the local input of a player at a frame (else the seeded random walk). */
  readonly inputOverride?: (player: PlayerHandle, frame: Frame, peerNowMs: number) => Action | undefined;
  /** On an episodeEnd event: reset the game and start the next episode (default: stay ended). */
  readonly restartEpisodes?: boolean;
  /**
   * Execute each tick's requests (and look at its events) only at the start of the next tick, like
   * a worker answering asynchronously: checksums and exported states reach the session late.
   */
  readonly asyncHost?: boolean;
  /** Sees every packet a peer sends (before the network). */
  readonly tap?: (from: PeerId, to: PeerId, bytes: Uint8Array) => void;
  /** When given, time spent inside session calls is measured with it (ms, fractional). */
  readonly timer?: () => number;
}

export interface PeerRecord {
  readonly id: PeerId;
  readonly players: readonly PlayerHandle[];
  readonly session: P2PSession;
  readonly game: ToyGame;
  readonly host: InProcessHost<Int32Array>;
  /** Confirmed inputs per frame, as the confirmed events reported them. */
  readonly confirmedInputs: Map<Frame, readonly PlayerInput[]>;
  /** Checksum of the state after each confirmed frame (re-recorded after a resync). */
  readonly confirmedHashes: Map<Frame, number>;
  readonly events: SessionEvent[];
  /** Broken guarantees seen by the harness (must stay empty). */
  readonly violations: string[];
  readonly statuses: Record<AdvanceStatus, number>;
  framesAdvanced: number;
  /** The newest frame a confirmed event was received for (-1: none). */
  lastConfirmed: Frame;
  /** Largest number of frames re-simulated by one advanceFrame() batch. */
  maxResimulationBatch: number;
  /** Time inside session calls (only with a timer). */
  sessionMs: number;
}

interface PeerRuntime extends PeerRecord {
  readonly inbox: { from: PeerId; bytes: Uint8Array }[];
  readonly rngs: Map<PlayerHandle, Prng>;
  readonly current: Map<PlayerHandle, Action>;
  readonly lastInputs: Map<Frame, readonly PlayerInput[]>;
  readonly hashAfter: Map<Frame, number>;
  readonly deferredRequests: SessionRequest[];
  readonly deferredEvents: SessionEvent[];
}

/** Same actions (a correct prediction counts: it needed no re-simulation). */
function sameActions(a: readonly PlayerInput[], b: readonly PlayerInput[]): boolean {
  return a.length === b.length && a.every((x, i) => JSON.stringify(x.action) === JSON.stringify(b[i]!.action));
}

function randomAction(rng: Prng): Action {
  return [rng.int(5), rng.int(2)];
}

export class Cluster {
  readonly net: SimNetwork;
  readonly peers: readonly PeerRecord[];
  nowMs = 0;
  private readonly runtime: PeerRuntime[];
  private readonly layout: readonly (readonly PlayerHandle[])[];
  /** Peers whose page is gone (until the virtual time given): no tick, and what arrives is lost. */
  private readonly down = new Map<number, number>();
  private readonly tickMs: number;
  private readonly changeP: number;

  constructor(private readonly options: ClusterOptions) {
    this.net = new SimNetwork(options.seed, options.network);
    this.tickMs = options.tickMs ?? 1;
    this.changeP = options.inputChangeProbability ?? 0.15;
    const layout = options.layout ?? Array.from({ length: options.numPlayers }, (_, i) => [i]);
    this.layout = layout;
    this.runtime = layout.map((players) => this.makePeer(players, layout));
    this.peers = this.runtime;
  }

  private makePeer(players: readonly PlayerHandle[], layout: readonly (readonly PlayerHandle[])[], rejoinId = 0): PeerRuntime {
    const b = new SessionBuilder().withActionSpace(TOY_ACTION_SPACE).withOptions(this.options.session ?? {}).withRejoin(rejoinId);
    for (let h = 0; h < this.options.numPlayers; h++) {
      if (players.includes(h)) b.addLocalPlayer(h);
      else b.addRemotePlayer(h, { peer: Math.min(...layout.find((l) => l.includes(h))!) });
    }
    const session = b.startP2PSession();
    const game = new ToyGame(this.options.numPlayers, this.options.seed);
    const host = new InProcessHost(game, session);
    const rt: PeerRuntime = {
      id: session.localPeer,
      players,
      session,
      game,
      host,
      confirmedInputs: new Map(),
      confirmedHashes: new Map(),
      events: [],
      violations: [],
      statuses: { advanced: 0, synchronizing: 0, predictionThreshold: 0, episodeEnding: 0, episodeEnded: 0 },
      framesAdvanced: 0,
      lastConfirmed: -1,
      maxResimulationBatch: 0,
      sessionMs: 0,
      inbox: [],
      rngs: new Map(players.map((h) => [h, new Prng(this.options.seed * 7919 + h * 104729 + 1)])),
      current: new Map(players.map((h) => [h, [0, 0] as Action])),
      lastInputs: new Map(),
      hashAfter: new Map(),
      deferredRequests: [],
      deferredEvents: [],
    };
    // Record what each frame's latest simulation used and produced, to audit confirmed frames.
    const advance = game.advance.bind(game);
    game.advance = (inputs: readonly PlayerInput[], frame: Frame): void => {
      advance(inputs, frame);
      rt.lastInputs.set(frame, inputs);
      rt.hashAfter.set(frame, game.liveChecksum());
    };
    return rt;
  }

  peer(id: PeerId): PeerRecord {
    return this.runtime.find((p) => p.id === id)!;
  }

  /** Advances virtual time by `ms`. */
  run(ms: number): void {
    const end = this.nowMs + ms;
    while (this.nowMs < end) this.step();
  }

  /**
   * A peer's page goes away for `downMs` (nothing runs, what is sent to it is lost) and comes back
   * as a new session (built with `rejoinId`) and a new game: the harness keeps the peer's record
   * of what it confirmed, so the audit covers both incarnations.
   */
  restart(peer: PeerId, rejoinId: number, downMs: number): void {
    const index = this.runtime.findIndex((p) => p.id === peer);
    const old = this.runtime[index]!;
    const fresh = this.makePeer(old.players, this.layout, rejoinId);
    const merged: PeerRuntime = {
      ...fresh,
      confirmedInputs: old.confirmedInputs,
      confirmedHashes: old.confirmedHashes,
      events: old.events,
      violations: old.violations,
      statuses: old.statuses,
    };
    merged.lastConfirmed = old.lastConfirmed;
    merged.framesAdvanced = old.framesAdvanced;
    this.runtime[index] = merged; // (`peers` is the same array)
    this.down.set(index, this.nowMs + downMs);
  }

  /** Runs until `done` or `maxMs` of virtual time; returns whether `done` became true. */
  runUntil(done: () => boolean, maxMs: number): boolean {
    const end = this.nowMs + maxMs;
    while (!done()) {
      if (this.nowMs >= end) return false;
      this.step();
    }
    return true;
  }

  /** Runs until every peer reported frame `frame` confirmed. */
  runUntilConfirmed(frame: Frame, maxMs: number): boolean {
    return this.runUntil(() => this.runtime.every((p) => p.lastConfirmed >= frame), maxMs);
  }

  step(): void {
    this.nowMs += this.tickMs;
    for (const d of this.net.deliver(this.nowMs)) {
      const index = this.runtime.findIndex((p) => p.id === d.to);
      if ((this.down.get(index) ?? 0) > this.nowMs) continue; // (the page is gone)
      this.runtime[index]!.inbox.push(d);
    }
    for (let i = 0; i < this.runtime.length; i++) this.tickPeer(this.runtime[i]!, i);
  }

  private paused(index: number): boolean {
    return (this.options.pauses ?? []).some((p) => p.peer === index && this.nowMs >= p.fromMs && this.nowMs < p.toMs);
  }

  private tickPeer(rt: PeerRuntime, index: number): void {
    if (this.paused(index) || (this.down.get(index) ?? 0) > this.nowMs) return;
    const now = this.nowMs * (this.options.clockScale?.[index] ?? 1);
    const timer = this.options.timer;
    const t0 = timer ? timer() : 0;
    const s = rt.session;
    if (this.options.asyncHost) {
      rt.host.execute(rt.deferredRequests.splice(0));
      for (const e of rt.deferredEvents.splice(0)) this.record(rt, e);
    }
    for (const m of rt.inbox.splice(0)) s.handleMessage(m.from, m.bytes, now);
    s.poll(now);
    let due = s.framesDue(now);
    let hostMs = 0;
    while (due-- > 0) {
      for (const h of rt.players) s.addLocalInput(h, this.nextInput(rt, h, s.currentFrame, now));
      const result = s.advanceFrame();
      const h0 = timer ? timer() : 0;
      if (this.options.asyncHost) rt.deferredRequests.push(...result.requests);
      else rt.host.execute(result.requests);
      if (timer) hostMs += timer() - h0;
      rt.statuses[result.status]++;
      let batch = 0;
      for (const r of result.requests) if (r.kind === "advance" && r.resimulation) batch++;
      if (batch > rt.maxResimulationBatch) rt.maxResimulationBatch = batch;
      if (result.status !== "advanced") break;
      rt.framesAdvanced++;
    }
    const out = s.drainOutgoing();
    const events = s.drainEvents();
    if (timer) rt.sessionMs += timer() - t0 - hostMs;
    for (const p of out) {
      this.options.tap?.(rt.id, p.to, p.bytes);
      this.net.send(rt.id, p.to, p.bytes, this.nowMs);
    }
    if (this.options.asyncHost) rt.deferredEvents.push(...events);
    else for (const e of events) this.record(rt, e);
  }

  private nextInput(rt: PeerRuntime, h: PlayerHandle, frame: Frame, now: number): Action {
    const forced = this.options.inputOverride?.(h, frame, now);
    if (forced !== undefined) return forced;
    const rng = rt.rngs.get(h)!;
    if (rng.chance(this.changeP)) rt.current.set(h, randomAction(rng));
    return rt.current.get(h)!;
  }

  private record(rt: PeerRuntime, e: SessionEvent): void {
    rt.events.push(e);
    if (e.type === "episodeEnd" && this.options.restartEpisodes) {
      rt.game.resetEpisode();
      rt.session.startNextEpisode();
    }
    if (e.type === "resynced") {
      // Frames from the loaded state on are confirmed (and recorded) again.
      for (const f of [...rt.confirmedHashes.keys()]) if (f >= e.frame) rt.confirmedHashes.delete(f);
    }
    if (e.type !== "confirmed") return;
    const f = e.frame;
    if (e.inputs.some((i) => i.status === "predicted")) rt.violations.push(`frame ${f}: confirmed event carries a predicted input`);
    const used = rt.lastInputs.get(f);
    if (!used) rt.violations.push(`frame ${f}: confirmed but never simulated`);
    else if (!sameActions(used, e.inputs)) rt.violations.push(`frame ${f}: last simulation used other inputs than the confirmed ones`);
    const prev = rt.confirmedInputs.get(f);
    if (prev && !sameActions(prev, e.inputs)) rt.violations.push(`frame ${f}: confirmed inputs changed`);
    rt.confirmedInputs.set(f, e.inputs);
    if (f > rt.lastConfirmed) rt.lastConfirmed = f;
    const hash = rt.hashAfter.get(f);
    if (hash !== undefined) rt.confirmedHashes.set(f, hash);
    rt.lastInputs.delete(f);
    rt.hashAfter.delete(f);
  }

  /** Corrupts a peer's live state and every snapshot it holds (a persistent divergence). */
  corrupt(peer: PeerId, amount = 1): void {
    const rt = this.runtime.find((p) => p.id === peer)!;
    rt.game.corrupt(amount);
    for (const s of rt.host.states.values()) ToyGame.corruptSnapshot(s, amount);
  }
}
