// The P2P game loop (docs/p2p.md, "The worker"): the netcode's host loop around one P2PGame, with
// the game's clock, records and episodes. It runs in the worker, so a hidden tab keeps simulating;
// the page only moves packets (netIn / onNetOut) and draws frames.
//
// Every tick: the session's timers (poll), the frames due by the time-synced frame clock — or, when
// this peer finds itself far behind its peers (its page and worker were frozen), every missed frame
// at once — each with the local player's latest action and focus flag; all their host requests run
// in ONE game call; checksums and exported states go back to the session; packets go out; the
// state the batch ends on is drawn; session events become records. Only confirmed frames are
// recorded, so every peer's records are identical. No Pyodide, worker or DOM in here: the Node
// tests drive two loops with a JS game and a virtual clock.
import { NetcodeUsageError, SessionBuilder, type ActionSpace, type P2PSession, type SessionEvent, type SessionRequest } from "../netcode";
import type { Json, RenderState } from "../protocol";
import { addReturns, hudText } from "./hud";
import { BotFailure, EnvFailure, ERROR_STATUS_MESSAGE, summarize } from "./loop";
import { p2pBotProblem, type P2PBots } from "./p2p_bots";
import { toHostRequests, type P2PBatchOutcome, type P2PBatchResult, type P2PGame, type P2PLive, type P2PStepResult } from "./p2p_host";
import type {
  EpisodePayload,
  P2PEvent,
  P2PPacket,
  P2PStats,
  P2PStepPayload,
  RuntimeFrame,
  RuntimeP2PSpec,
  RuntimeRecord,
  RuntimeStatus,
  RuntimeStatusInfo,
} from "./types";

export interface P2PSink {
  frame(frame: RuntimeFrame): void;
  status(status: RuntimeStatus, info: RuntimeStatusInfo): void;
  record(record: RuntimeRecord): void;
  error(message: string, traceback: string | null): void;
  netOut(packets: P2PPacket[]): void;
  event(event: P2PEvent): void;
  stats(stats: P2PStats): void;
}

export interface P2PClock {
  /** Monotonic milliseconds. */
  now(): number;
  /** Unix seconds. */
  wall(): number;
  /** Resolve after ms milliseconds (a timer: keeps running in a hidden tab's worker). */
  sleep(ms: number): Promise<void>;
}

export type P2PLoopSpec = Pick<
  RuntimeP2PSpec,
  | "gameId"
  | "sceneId"
  | "participantId"
  | "agents"
  | "seed"
  | "fps"
  | "numEpisodes"
  | "resetFreezeS"
  | "defaultAction"
  | "inputMode"
  | "actionPopulationMethod"
  | "hud"
  | "peer"
  | "peers"
  | "inputDelay"
  | "maxPrediction"
  | "sessionTag"
  | "testHooks"
  | "reconnectGraceS"
  | "rejoin"
> &
  Partial<Pick<RuntimeP2PSpec, "hudScoreCarryOver" | "maxSteps" | "policies">>;

/** A human agent's Discrete action space, as the game reported it at load. */
export interface DiscreteSpace {
  n: number;
  start: number;
}

export type P2PResult = "done" | "error" | "stopped";

/** Ticks per frame: the frame clock decides how many frames a tick runs, so ticking faster than the
 * frame rate lets time sync speed up smoothly and handles packets sooner. */
export const TICKS_PER_FRAME = 2;
/** Stats go to the page this often (and once at the end). */
export const STATS_INTERVAL_MS = 2000;
/** After the last episode the session keeps answering and resending for this long, so peers that
 * have not yet received this peer's last inputs can still confirm their last frames. */
export const LINGER_MS = 2000;

/** How far behind its peers (frames) a peer must be before it runs every missed frame in one batch
 * instead of letting time sync speed it up: one prediction window, at least 3 frames. */
export function catchUpThreshold(maxPrediction: number): number {
  return Math.max(3, maxPrediction);
}

/** The netcode's disconnect timeout: past the server's grace for a page that went away (it may
 * come back and rejoin until then), at least the netcode's default 10 s. */
export function disconnectTimeoutMs(reconnectGraceS: number | undefined): number {
  return Math.max(10_000, ((reconnectGraceS ?? 0) + 5) * 1000);
}

/** One recorded step, kept to rebuild a rejoining peer's records and episode (docs/p2p.md, "Rejoining"). */
export interface P2PHistoryStep {
  frame: number;
  payload: P2PStepPayload;
  result: Extract<P2PStepResult, { skip?: undefined }>;
}

/** One episode's records as this peer made them: what a peer that reloads mid-game copies. */
export interface P2PHistoryEpisode {
  episode: number;
  /** Its first frame and wall time. */
  startFrame: number;
  startedAt: number;
  steps: P2PHistoryStep[];
  /** Its episode record and the frame it ended at, once it ended (else null). */
  record: EpisodePayload | null;
  endFrame: number | null;
}

/** What a peer's exported state carries besides the game's: the loop's own part (JSON). */
interface ExportedState {
  host: string;
  /** The episodes (the current one and the previous) up to the state's frame. */
  episodes: P2PHistoryEpisode[];
}

/** Episodes of records each peer keeps for peers that rejoin. */
const HISTORY_EPISODES = 2;

/** Why a P2P spec cannot be played, or null. (The generic checks are the worker's checkSpec.) */
export function checkP2PSpec(spec: RuntimeP2PSpec): string | null {
  const n = Array.isArray(spec.peers) ? spec.peers.length : 0;
  if (n < 2 || n > 4) return `peers must list 2..4 participants, got ${n}`;
  const seen = new Set<number>();
  for (const [i, p] of spec.peers.entries()) {
    if (p?.peer !== i) return `peers must be in peer order 0..${n - 1}; entry ${i} is peer ${JSON.stringify(p?.peer)}`;
    if (spec.policies?.[p.agent]?.kind !== "human") return `peer ${i} plays agent ${JSON.stringify(p.agent)}, which is not a human agent of the scene`;
    seen.add(i);
  }
  const humans = spec.agents.filter((a) => spec.policies[a]?.kind === "human");
  const missing = humans.filter((a) => !spec.peers.some((p) => p.agent === a));
  if (missing.length) return `human agent(s) ${missing.join(", ")} have no peer`;
  if (new Set(spec.peers.map((p) => p.agent)).size !== n) return "two peers play the same agent";
  if (!Number.isInteger(spec.peer) || !seen.has(spec.peer)) return `peer must be one of 0..${n - 1}, got ${spec.peer}`;
  for (const a of spec.agents) {
    const policy = spec.policies[a];
    const problem = policy?.kind === "onnx" ? p2pBotProblem(policy.model as { custom_inference_fn?: unknown }) : null;
    if (problem) return `the ONNX bot of agent ${JSON.stringify(a)} ${problem}`;
  }
  if (!Number.isInteger(spec.inputDelay) || spec.inputDelay < 0 || spec.inputDelay > 30) return `inputDelay must be an int 0..30, got ${spec.inputDelay}`;
  if (!Number.isInteger(spec.maxPrediction) || spec.maxPrediction < 1 || spec.maxPrediction > 600) return `maxPrediction must be an int 1..600, got ${spec.maxPrediction}`;
  if (!Number.isInteger(spec.sessionTag) || spec.sessionTag < 0 || spec.sessionTag > 0xffffffff) return `sessionTag must be a u32, got ${spec.sessionTag}`;
  if (spec.reconnectGraceS !== undefined && !(typeof spec.reconnectGraceS === "number" && spec.reconnectGraceS >= 0 && Number.isFinite(spec.reconnectGraceS))) {
    return `reconnectGraceS must be a number of seconds >= 0, got ${JSON.stringify(spec.reconnectGraceS)}`;
  }
  const rejoin = spec.rejoin;
  if (rejoin !== undefined && rejoin !== null) {
    if (!Number.isInteger(rejoin.id) || rejoin.id < 1 || rejoin.id > 0xffffffff) return `rejoin.id must be a u32 other than 0, got ${JSON.stringify(rejoin.id)}`;
    const r = rejoin.recorded;
    if (!r || !Number.isInteger(r.episode) || r.episode < 1 || !Number.isInteger(r.step) || r.step < 0 || typeof r.closed !== "boolean") {
      return `rejoin.recorded must be {episode: int >= 1, step: int >= 0, closed: boolean}, got ${JSON.stringify(r)}`;
    }
  }
  if (!Number.isInteger(spec.defaultAction)) return `defaultAction must be an int (the humans' Discrete action), got ${JSON.stringify(spec.defaultAction)}`;
  return null;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const MAX_SAMPLES = 10_000;

/** One P2P game. Create, then run() (or call tick() yourself, as the tests do); netIn(), setAction(),
 * setFocus() at any time; stop() to abort. */
export class P2PLoop {
  readonly session: P2PSession;
  readonly humans: string[];
  private readonly spaces: DiscreteSpace[];
  private readonly me: number;
  private held: number;
  private pending: number | null = null;
  private focused = true;
  private desyncRequested = false;
  private readonly utf8 = new TextEncoder();
  // episodes and records
  private episode = 1;
  private episodeStartedAt = 0;
  private returns: Record<string, number> = {};
  /** Earlier episodes' returns, for the HUD's score with hud_score_carry_over (runtime/hud.ts). */
  private carried: Record<string, number> = {};
  private numSteps = 0;
  private last: Extract<P2PStepResult, { skip?: undefined }> | null = null;
  private recordedUpTo = -1;
  private endRequested = false;
  /** The latest simulation's result of each frame not yet recorded. */
  private readonly results = new Map<number, P2PStepResult>();
  private live: P2PLive = { episode: 0, step: 0, over: false, freeze: 0 };
  // rejoining (docs/p2p.md, "Rejoining")
  /** This peer's records of the last episodes, for a peer that reloads and copies what it missed. */
  private history: P2PHistoryEpisode[] = [];
  /** The frame the current episode started at. */
  private episodeStartFrame = 0;
  /** States the game exported this tick: handed to the session with the loop's part once the
   * tick's confirmed frames are recorded (so that part is as of the state's frame). */
  private exported: [number, string][] = [];
  /** A rejoining page: steps up to this one were recorded before it reloaded (not recorded again). */
  private recorded: { episode: number; step: number; closed: boolean } | null = null;
  /** Steps copied from the source's records when this page joined (null: not joined yet). */
  private copiedSteps: number | null = null;
  private shownStatus: RuntimeStatus | null = null;
  private firstFrame = true;
  // outcome
  result: P2PResult | null = null;
  private finishing: number | null = null;
  private stopped = false;
  private wake: (() => void) | null = null;
  // stats
  private frames = 0;
  private predictedFrames = 0;
  private rollbacks = 0;
  private maxRollback = 0;
  private resimulated = 0;
  private catchUps = 0;
  private catchUpFrames = 0;
  private desyncs = 0;
  private resyncs = 0;
  private maxBatchFrames = 0;
  private readonly batchMs: number[] = [];
  private lastStatsAt: number | null = null;
  // catching up after a freeze
  private lastTickAt: number | null = null;
  private owed = 0;
  private owedSince = 0;
  /** The debt framesBehind() paid out this tick (0: the netcode's measure alone). */
  private owedTaken = 0;

  constructor(
    private readonly spec: P2PLoopSpec,
    private readonly game: P2PGame,
    /** Each human agent's Discrete space, by agent id (from the game's load). */
    spaces: Record<string, DiscreteSpace>,
    private readonly clock: P2PClock,
    private readonly sink: P2PSink,
    /** The game's ONNX bots (docs/p2p.md, "Bots"): a batch in which one acts pauses for them. */
    private readonly bots: P2PBots | null = null,
  ) {
    this.humans = spec.peers.map((p) => p.agent);
    this.spaces = this.humans.map((a) => {
      const s = spaces[a];
      if (!s) throw new Error(`no action space for human agent '${a}'`);
      return s;
    });
    this.me = spec.peer;
    const mine = this.spaces[this.me] as DiscreteSpace;
    const defaultAction = spec.defaultAction as number;
    if (defaultAction < mine.start || defaultAction >= mine.start + mine.n) {
      throw new Error(`defaultAction ${defaultAction} is outside agent '${this.humans[this.me]}''s action space (${mine.n} actions from ${mine.start})`);
    }
    this.held = defaultAction;
    const builder = new SessionBuilder().withOptions({
      fps: spec.fps,
      inputDelay: spec.inputDelay,
      maxPrediction: spec.maxPrediction,
      sessionTag: spec.sessionTag,
      // A late tick may run many frames: catching up after a freeze is the loop's job (one batch).
      timeSync: { maxFramesPerPoll: 8 },
      // A page that went away may come back (rejoin) as long as the server waits for it.
      disconnectTimeoutMs: disconnectTimeoutMs(spec.reconnectGraceS),
      rejoinId: spec.rejoin?.id ?? 0,
    });
    this.spaces.forEach((space, handle) => {
      const actionSpace: ActionSpace = { kind: "multiDiscrete", nvec: [space.n, 2] };
      const clamped = Math.min(Math.max(defaultAction - space.start, 0), space.n - 1);
      const options = { actionSpace, defaultAction: [clamped, 1] };
      if (handle === this.me) builder.addLocalPlayer(handle, options);
      else builder.addRemotePlayer(handle, options);
    });
    this.session = builder.startP2PSession();
  }

  // -- from the page ---------------------------------------------------------------------------

  /** The local human's action (an env action of its Discrete space); invalid ones are ignored. */
  setAction(action: Json): void {
    const space = this.spaces[this.me] as DiscreteSpace;
    if (typeof action !== "number" || !Number.isInteger(action) || action < space.start || action >= space.start + space.n) {
      console.warn(`mug runtime: ignoring action ${JSON.stringify(action)}: not in agent '${this.humans[this.me]}''s action space`);
      return;
    }
    if (this.spec.inputMode === "single_keystroke") this.pending = action;
    else this.held = action;
  }

  /** Whether the local participant's page is visible and focused (recorded with every step). */
  setFocus(focused: boolean): void {
    this.focused = focused;
  }

  /** Bytes from peer `from` (whatever the transport). Replies (pongs, sync) go out at once. */
  netIn(from: number, bytes: Uint8Array): void {
    if (this.result !== null) return;
    this.session.handleMessage(from, bytes, this.clock.now());
    this.flushOut();
  }

  /** Test hook: perturb the local state once so the checksums differ (only with spec.testHooks). */
  testDesync(): void {
    if (!this.spec.testHooks) {
      console.warn("mug runtime: testDesync ignored: test hooks are off for this game");
      return;
    }
    this.desyncRequested = true;
  }

  /** Test hook: block this thread for `ms` (nothing runs: no tick, no packet), as the browser does
   * to a frozen tab's worker; the loop then finds itself behind and catches up (only with spec.testHooks). */
  testFreeze(ms: number): void {
    if (!this.spec.testHooks) {
      console.warn("mug runtime: testFreeze ignored: test hooks are off for this game");
      return;
    }
    const until = Date.now() + Math.min(Math.max(0, ms), 60_000);
    while (Date.now() < until) {
      // (blocking on purpose)
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.result === null) this.result = "stopped";
    this.wake?.();
  }

  // -- running ---------------------------------------------------------------------------------

  /** Reset the first episode and show it; the session starts handshaking at the first tick. */
  start(): void {
    this.startEpisode(1);
  }

  /** start(), then tick on timers until the game ends. */
  async run(): Promise<P2PResult> {
    try {
      this.start();
    } catch (err) {
      this.fail(err);
    }
    const interval = 1000 / this.spec.fps / TICKS_PER_FRAME;
    while (this.result === null) {
      await Promise.race([
        this.clock.sleep(interval),
        new Promise<void>((resolve) => {
          this.wake = resolve;
        }),
      ]);
      if (this.result !== null) break;
      await this.tick();
    }
    this.close();
    return this.result;
  }

  /** One tick at clock.now(). Runs synchronously unless an ONNX bot acts in its batch: it then
   * resolves once the bots have answered and the batch is done (run() awaits it: ticks never overlap). */
  async tick(): Promise<void> {
    if (this.result !== null) return;
    const now = this.clock.now();
    try {
      this.session.poll(now);
      if (this.finishing !== null) {
        this.flushOut();
        if (now >= this.finishing) {
          this.sendStats(now);
          this.result = "done";
        }
        return;
      }
      if (this.desyncRequested) {
        this.desyncRequested = false;
        this.sink.event({ type: "testDesync", changed: this.game.perturb() });
      }
      let due = this.session.framesDue(now);
      const behind = this.framesBehind(now);
      const catchingUp = behind > catchUpThreshold(this.spec.maxPrediction);
      if (catchingUp) due = Math.max(due, behind);
      const requests: SessionRequest[] = [];
      let advanced = 0;
      for (let n = 0; n < due; n++) {
        this.session.addLocalInput(this.me, this.localInput());
        const r = this.session.advanceFrame();
        for (const q of r.requests) requests.push(q);
        if (r.status !== "advanced") break;
        advanced++;
        this.consumeKeystroke();
      }
      // Frames the clock missed that could not run yet (the peers' inputs for them are still on
      // their way): still owed, so the catch-up finishes as soon as they arrive.
      if (catchingUp && advanced < due && this.owedTaken > 0) {
        this.owed = Math.max(this.owed, Math.min(this.owedTaken, due - advanced));
      }
      if (catchingUp && advanced > 0) {
        this.catchUps++;
        this.catchUpFrames += advanced;
        this.sink.event({ type: "catchUp", frames: advanced, behind: Math.round(behind) });
      }
      const paused = requests.length ? this.execute(requests) : null;
      if (paused) {
        await paused;
        if (this.result !== null) return;
      }
      this.flushOut();
      this.handleEvents();
      this.provideExports();
      this.flushOut();
      if (this.lastStatsAt === null || now - this.lastStatsAt >= STATS_INTERVAL_MS) this.sendStats(now);
    } catch (err) {
      this.fail(err);
    }
  }

  stats(): P2PStats {
    const s = this.session.stats();
    const peers = s.peers.map((p) => ({
      peer: p.peer,
      state: p.state,
      rttMs: p.packetsReceived > 0 && Number.isFinite(p.rttMs) && p.rttMs > 0 ? p.rttMs : null,
      framesAhead: p.framesAhead,
    }));
    return {
      peer: this.me,
      frame: s.currentFrame,
      confirmedFrame: s.confirmedFrame,
      frames: this.frames,
      predictedFrames: this.predictedFrames,
      rollbacks: this.rollbacks,
      maxRollback: this.maxRollback,
      resimulatedFrames: this.resimulated,
      catchUps: this.catchUps,
      catchUpFrames: this.catchUpFrames,
      replayedFrames: this.resimulated + this.catchUpFrames,
      desyncs: this.desyncs,
      resyncs: this.resyncs,
      predictionStalls: s.predictionStalls,
      batchMs: summarize(this.batchMs),
      maxBatchFrames: this.maxBatchFrames,
      peers,
      rttMs: Object.fromEntries(peers.map((p) => [p.peer, p.rttMs])),
    };
  }

  // -- internals -------------------------------------------------------------------------------

  /**
   * Frames this peer is behind its peers, by two measures: the netcode's frame advantage, and the
   * frames this worker's own clock missed (a gap between ticks: the page and its worker were
   * frozen). The advantage alone would catch up in halves (it averages both peers' views, and the
   * peers' view of a frozen peer lags a round trip); the missed frames are known at once, but are
   * only run once every peer has been heard from again (not "interrupted"), so that they are
   * simulated with the peers' real inputs instead of guesses. A debt older than 2 s is dropped
   * (time sync catches up the rest).
   */
  private framesBehind(now: number): number {
    const frameMs = 1000 / this.spec.fps;
    if (this.lastTickAt !== null && this.session.sessionState === "running") {
      const gap = now - this.lastTickAt;
      if (gap > catchUpThreshold(this.spec.maxPrediction) * frameMs) {
        this.owed += Math.floor(gap / frameMs);
        this.owedSince = now;
      }
    }
    this.lastTickAt = now;
    let behind = Math.ceil(-this.session.framesAhead());
    this.owedTaken = 0;
    if (this.owed > 0) {
      const waiting = this.session.stats().peers.some((p) => p.state === "interrupted");
      if (!waiting) {
        behind = Math.max(behind, this.owed);
        this.owedTaken = this.owed;
        this.owed = 0;
      } else if (now - this.owedSince > 2000) {
        this.owed = 0;
      }
    }
    return behind;
  }

  private localInput(): number[] {
    const space = this.spaces[this.me] as DiscreteSpace;
    const action = this.pending ?? this.held;
    return [action - space.start, this.focused ? 1 : 0];
  }

  private consumeKeystroke(): void {
    if (this.pending === null) return;
    if (this.spec.actionPopulationMethod === "previous_submitted_action") this.held = this.pending;
    this.pending = null;
  }

  /** Run a tick's requests in one game call; a promise when the batch paused for its bots. */
  private execute(requests: SessionRequest[]): Promise<void> | null {
    let depth = 0;
    let simulated = 0;
    for (const r of requests) {
      if (r.kind === "load") depth = 0;
      if (r.kind !== "advance") continue;
      simulated++;
      if (r.resimulation) {
        this.resimulated++;
        if (++depth === 1) this.rollbacks++;
        if (depth > this.maxRollback) this.maxRollback = depth;
      } else {
        this.frames++;
        if (r.inputs.some((i) => i.status === "predicted")) this.predictedFrames++;
      }
    }
    if (simulated > this.maxBatchFrames) this.maxBatchFrames = simulated;
    const before = this.clock.now();
    const out = this.game.execute(toHostRequests(this.unwrapImports(requests)));
    if ("pending" in out) return this.answerBots(out, before);
    this.batchDone(out, before);
    return null;
  }

  /** A batch paused for its ONNX bots: answer, resume, until it is done (the tick waits). */
  private async answerBots(paused: P2PBatchOutcome, before: number): Promise<void> {
    let out = paused;
    while ("pending" in out) {
      if (!this.bots) throw new Error(`frame ${out.pending.frame}: the game asks for bot actions, but this loop has no bots`);
      const answers = await this.bots.answer(out.pending);
      if (this.result !== null) return; // stopped meanwhile
      out = this.game.resume(answers);
    }
    this.batchDone(out, before);
  }

  private batchDone(out: P2PBatchResult, before: number): void {
    if (this.batchMs.length < MAX_SAMPLES) this.batchMs.push(this.clock.now() - before);
    for (const step of out.steps) this.results.set(step.frame, step);
    this.live = out.live;
    for (const [frame, value] of out.checksums) this.session.reportChecksum(frame, value);
    for (const exported of out.exports) this.exported.push(exported);
    if (out.frame) this.showFrame(out.frame);
    if (this.shownStatus === "resetting" && out.live.freeze === 0 && out.live.episode === this.episode) this.status("running");
  }

  private handleEvents(): void {
    for (const e of this.session.drainEvents()) {
      switch (e.type) {
        case "confirmed":
          this.onConfirmed(e);
          break;
        case "episodeEnd":
          this.onEpisodeEnd(e.frame);
          if (this.result !== null || this.finishing !== null) return;
          break;
        case "running":
          this.sink.event({ type: "running" });
          if (this.shownStatus === null) this.status("running");
          break;
        case "desync":
          this.desyncs++;
          this.sink.event({ type: "desync", frame: e.frame, peer: e.peer, localChecksum: e.localChecksum, remoteChecksum: e.remoteChecksum });
          this.recordEvent("p2p_desync", {
            game_id: this.spec.gameId,
            frame: e.frame,
            peers: [this.me, e.peer].sort((a, b) => a - b),
            resynced_from: this.resyncSource(),
            local_checksum: e.localChecksum,
            remote_checksum: e.remoteChecksum,
          });
          break;
        case "resynced":
          this.resyncs++;
          this.sink.event({ type: "resynced", frame: e.frame, source: e.source });
          break;
        case "joined":
          this.sink.event({ type: "joined", frame: e.frame, source: e.source, copiedSteps: this.copiedSteps ?? 0 });
          // (kind p2p_peer: a peer left or came back; here this page's peer, rejoined)
          this.recordEvent("p2p_peer", {
            game_id: this.spec.gameId,
            peer: this.me,
            change: "rejoined",
            frame: e.frame,
            source: e.source,
            episode: this.episode,
            step: this.numSteps,
            copied_steps: this.copiedSteps ?? 0,
          });
          break;
        case "restarted":
        case "joinSent":
          this.sink.event({ ...e });
          break;
        case "resyncRequested":
        case "resyncSent":
        case "interrupted":
        case "resumed":
        case "synchronizing":
          this.sink.event({ ...e });
          break;
        case "disconnected":
          this.sink.event({ type: "disconnected", peer: e.peer, lastFrame: e.lastFrame });
          break;
        case "protocolError":
          this.sink.event({ type: "protocolError", peer: e.peer, code: e.error.code, message: e.error.message });
          break;
        case "synchronized":
        case "episodeEnding":
          break;
      }
    }
  }

  /** The peer a desynced peer takes its state from: the lowest connected peer id (the netcode's rule). */
  private resyncSource(): number {
    let source = this.me;
    for (const p of this.session.stats().peers) if (p.state !== "disconnected" && p.peer < source) source = p.peer;
    return source;
  }

  private onConfirmed(e: Extract<SessionEvent, { type: "confirmed" }>): void {
    if (e.frame <= this.recordedUpTo) return; // re-confirmed after a resync (or before a join): recorded once already
    this.recordedUpTo = e.frame;
    const result = this.results.get(e.frame);
    this.results.delete(e.frame);
    if (this.results.size > 4096) for (const f of this.results.keys()) if (f < e.frame) this.results.delete(f);
    if (!result) throw new NetcodeUsageError(`frame ${e.frame} was confirmed but never simulated`);
    if (result.skip || this.endRequested || result.episode !== this.episode) return;
    const focus: Record<string, boolean> = {};
    this.humans.forEach((agent, i) => {
      const action = e.inputs[i]?.action;
      focus[agent] = Array.isArray(action) ? action[1] === 1 : true;
    });
    const payload: P2PStepPayload = {
      game_id: this.spec.gameId,
      episode: result.episode,
      step: result.step,
      scene_id: this.spec.sceneId,
      t: this.clock.wall(),
      actions: result.actions,
      rewards: result.rewards,
      terminated: result.terminated,
      truncated: result.truncated,
      infos: result.infos,
      observations: result.observations,
      focus,
    };
    // (a rejoining page does not record again a step it had sent before it reloaded)
    if (!this.recordedBefore(result.episode, result.step)) this.sink.record({ kind: "step", payload });
    this.keepStep({ frame: e.frame, payload, result });
    this.numSteps = result.step;
    this.last = result;
    for (const [agent, reward] of Object.entries(result.rewards)) this.returns[agent] = (this.returns[agent] ?? 0) + reward;
    if (result.over) {
      this.endRequested = true;
      this.session.requestEpisodeEnd();
    }
  }

  private onEpisodeEnd(frame: number): void {
    const last = this.last;
    const record: EpisodePayload = {
        game_id: this.spec.gameId,
        episode: this.episode,
        scene_id: this.spec.sceneId,
        participant_ids: [this.spec.participantId],
        seed: this.spec.seed + this.episode - 1,
        started_at: this.episodeStartedAt,
        ended_at: this.clock.wall(),
        num_steps: this.numSteps,
        returns: { ...this.returns },
        terminated: last?.terminated ?? false,
        truncated: last === null || !last.episode_over || last.truncated,
        outcome: "completed",
      };
    const r = this.recorded;
    if (!(r && (this.episode < r.episode || (this.episode === r.episode && r.closed)))) this.sink.record({ kind: "episode", payload: record });
    const kept = this.history.at(-1);
    if (kept && kept.episode === this.episode) {
      kept.record = record;
      kept.endFrame = frame;
    }
    this.episodeStartFrame = frame;
    this.sink.event({ type: "episodeEnd", frame, episode: this.episode });
    for (const f of [...this.results.keys()]) if (f >= frame) this.results.delete(f);
    if (this.episode >= this.spec.numEpisodes) {
      this.status("done");
      this.finishing = this.clock.now() + LINGER_MS;
      return;
    }
    addReturns(this.carried, this.returns);
    this.startEpisode(this.episode + 1);
    this.session.startNextEpisode();
  }

  private startEpisode(episode: number): void {
    this.episode = episode;
    this.numSteps = 0;
    this.last = null;
    this.endRequested = false;
    this.returns = Object.fromEntries(this.spec.agents.map((a) => [a, 0]));
    this.episodeStartedAt = this.clock.wall();
    this.history.push({ episode, startFrame: this.episodeStartFrame, startedAt: this.episodeStartedAt, steps: [], record: null, endFrame: null });
    if (this.history.length > HISTORY_EPISODES) this.history.shift();
    const reset = this.game.reset(episode);
    this.live = reset.live;
    if (episode > 1 && reset.live.freeze > 0) this.status("resetting", { freezeS: this.spec.resetFreezeS });
    else if (episode > 1) this.status("running");
    this.showFrame(reset.frame);
  }

  // -- rejoining ------------------------------------------------------------------------------

  private keepStep(step: P2PHistoryStep): void {
    const kept = this.history.at(-1);
    if (kept && kept.episode === step.result.episode) kept.steps.push(step);
  }

  /** Whether a rejoining page had recorded this step before it reloaded. */
  private recordedBefore(episode: number, step: number): boolean {
    const r = this.recorded;
    return r !== null && (episode < r.episode || (episode === r.episode && step <= r.step));
  }

  /** Exported states go to the session wrapped with the loop's records up to their frame. */
  private provideExports(): void {
    for (const [frame, host] of this.exported.splice(0)) {
      const episodes = this.history
        .filter((h) => h.startFrame <= frame)
        .map((h) => {
          const over = h.endFrame !== null && h.endFrame <= frame;
          return { ...h, steps: h.steps.filter((s) => s.frame < frame), record: over ? h.record : null, endFrame: over ? h.endFrame : null };
        });
      const state: ExportedState = { host, episodes };
      this.session.provideState(frame, this.utf8.encode(JSON.stringify(state)));
    }
  }

  /** A state from a peer carries the loop's part around the game's: the game gets its own, and the
   * first one a rejoining page imports brings the records and episode it missed. */
  private unwrapImports(requests: SessionRequest[]): SessionRequest[] {
    return requests.map((r) => {
      if (r.kind !== "importState") return r;
      let state: ExportedState;
      try {
        state = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(r.bytes)) as ExportedState;
      } catch {
        return r; // (the game refuses it, naming the problem)
      }
      if (typeof state?.host !== "string" || !Array.isArray(state.episodes)) return r;
      if (this.spec.rejoin && this.copiedSteps === null) this.adoptRecords(state.episodes, r.frame);
      return { ...r, bytes: this.utf8.encode(state.host) };
    });
  }

  /** Joined at `frame`: record the steps and episodes the source recorded that this page had not,
   * and take up the current episode where the source's records are. */
  private adoptRecords(episodes: P2PHistoryEpisode[], frame: number): void {
    this.recorded = this.spec.rejoin?.recorded ?? null;
    let copied = 0;
    for (const h of episodes) {
      for (const s of h.steps) {
        if (this.recordedBefore(h.episode, s.payload.step)) continue;
        this.sink.record({ kind: "step", payload: { ...s.payload, game_id: this.spec.gameId } });
        copied++;
      }
      const r = this.recorded;
      if (h.record && !(r && (h.episode < r.episode || (h.episode === r.episode && r.closed)))) {
        this.sink.record({ kind: "episode", payload: { ...h.record, participant_ids: [this.spec.participantId] } });
      }
    }
    this.copiedSteps = copied;
    const current = episodes.at(-1);
    if (!current) return;
    this.history = episodes.map((h) => ({ ...h, steps: [...h.steps] }));
    this.episode = current.episode;
    this.episodeStartFrame = current.startFrame;
    this.episodeStartedAt = current.startedAt;
    this.carried = {};
    for (const h of episodes) if (h.episode < current.episode && h.record) addReturns(this.carried, h.record.returns);
    this.returns = Object.fromEntries(this.spec.agents.map((a) => [a, 0]));
    for (const s of current.steps) for (const [agent, reward] of Object.entries(s.result.rewards)) this.returns[agent] = (this.returns[agent] ?? 0) + reward;
    const last = current.steps.at(-1);
    this.last = last?.result ?? null;
    this.numSteps = last?.result.step ?? 0;
    this.endRequested = last?.result.over ?? false;
    this.recordedUpTo = frame - 1;
    this.results.clear();
  }

  private showFrame(state: RenderState): void {
    const hud = hudText(this.spec, { episode: this.live.episode, step: this.live.step, returns: this.returns, carried: this.carried });
    this.sink.frame({ episode: this.live.episode, step: this.live.step, state, full: this.firstFrame, hud });
    this.firstFrame = false;
  }

  private status(status: RuntimeStatus, extra: Partial<RuntimeStatusInfo> = {}): void {
    this.shownStatus = status;
    this.sink.status(status, { episode: this.episode, numEpisodes: this.spec.numEpisodes, ...extra });
  }

  private recordEvent(kind: string, data: { [key: string]: Json }): void {
    this.sink.record({ kind: "event", payload: { scene_id: this.spec.sceneId, kind, data, t: this.clock.wall() } });
  }

  private flushOut(): void {
    const packets = this.session.drainOutgoing();
    if (packets.length) this.sink.netOut(packets.map((p) => ({ to: p.to, bytes: p.bytes })));
  }

  private sendStats(now: number): void {
    this.lastStatsAt = now;
    this.sink.stats(this.stats());
  }

  private fail(err: unknown): void {
    if (this.result !== null) return;
    const where = { game_id: this.spec.gameId, episode: this.episode, step: this.live.step };
    let message: string;
    let traceback: string | null = null;
    if (err instanceof EnvFailure && err.stage === "import_state") {
      this.recordEvent("runtime_error", { ...where, error: err.message });
      message = `the state received from a peer to resynchronise could not be used: ${err.message}`;
    } else if (err instanceof EnvFailure) {
      traceback = err.traceback;
      this.recordEvent("env_error", { ...where, error: err.message, traceback });
      message = `the env failed in ${err.stage}() at episode ${this.episode}, step ${this.live.step}: ${err.message}`;
    } else if (err instanceof BotFailure) {
      traceback = err.stack_;
      this.recordEvent("policy_error", { ...where, agent_id: err.agentId, error: err.message });
      message = `the policy of agent '${err.agentId}' failed at episode ${this.episode}, step ${this.live.step}: ${err.message}`;
    } else {
      traceback = err instanceof Error ? (err.stack ?? null) : null;
      this.recordEvent("runtime_error", { ...where, error: errorText(err) });
      message = `the P2P game loop failed at episode ${this.episode}, step ${this.live.step}: ${errorText(err)}`;
    }
    this.sink.error(message, traceback);
    this.status("error", { message: ERROR_STATUS_MESSAGE });
    this.sendStats(this.clock.now());
    this.result = "error";
  }

  private close(): void {
    try {
      this.game.close();
    } catch {
      // best effort: the game's outcome is already decided
    }
  }
}
