// Types of the client-side runtime's public API (docs/runtime.md). Shared by the main-thread API
// (index.ts), the worker (worker.ts) and the pure game loop (loop.ts).
import type { Json, RenderState } from "../protocol";

export type { Json, RenderState };

export interface RuntimeUrls {
  /** Absolute URL of dist/worker.js as served: new URL("static/worker.js", location.href). */
  workerUrl: string;
  /** Absolute URL of static/v/<build>/vendor/pyodide/ (core assets + micropip + lock); the versioned
   * path is cached without revalidation (static/vendor/pyodide/ works too, revalidated each load). */
  pyodideBase: string;
  /** Base of a full Pyodide distribution for Pyodide-built packages (numpy...); null = pyodideBase. */
  packageIndexUrl: string | null;
  /** Absolute URL of a zip with `mug/__init__.py` (empty) + `mug/env/**` (pure Python). */
  mugEnvZipUrl: string;
  /** Absolute URL of static/v/<build>/vendor/ort/ (or static/vendor/ort/). */
  ortWasmBase: string;
}

/** The JSON object of ModelConfig.client_spec(model_url), with model_url absolute (checked by parseModelSpec). */
export type OnnxModelSpec = object;

export type RuntimePolicySpec = { kind: "human" } | { kind: "random" } | { kind: "onnx"; model: OnnxModelSpec };

export interface RuntimeGameSpec {
  gameId: string;
  sceneId: string;
  participantId: string;
  /** Python source; after running it, the namespace must define `env` (an env object). */
  envCode: string;
  /** micropip.install targets, in order: absolute URLs of pure-Python wheels on our server, or names in the Pyodide lock. */
  packages: string[];
  /** policy_mapping keys, in order. */
  agents: string[];
  policies: Record<string, RuntimePolicySpec>;
  /** Episode k (0-based) is reset with seed + k. */
  seed: number;
  fps: number;
  numEpisodes: number;
  maxSteps: number;
  resetFreezeS: number;
  defaultAction: Json;
  inputMode: "pressed_keys" | "single_keystroke";
  actionPopulationMethod: "default_action" | "previous_submitted_action";
  recordObservations: boolean;
  /** Fixed HUD text (client-side scenes have no Python HUD callable), its fields filled in (runtime/hud.ts). */
  hud: string | null;
  /** rendering(hud_score_carry_over=True): the HUD's {score} is the game's total, not the episode's. */
  hudScoreCarryOver?: boolean;
  /** Addition, for benchmarks and tests: "unpaced" runs ticks back to back (no clock, no reset freeze). Default "realtime". */
  pace?: "realtime" | "unpaced";
}

export interface StepPayload {
  game_id: string;
  episode: number;
  step: number;
  scene_id: string;
  /** Unix seconds. */
  t: number;
  actions: Record<string, Json>;
  rewards: Record<string, number>;
  terminated: boolean;
  truncated: boolean;
  infos: Record<string, Json>;
  /** Every agent's observation, null unless recordObservations. */
  observations: Json;
}

export interface EpisodePayload {
  game_id: string;
  episode: number;
  scene_id: string;
  participant_ids: string[];
  seed: number;
  started_at: number;
  ended_at: number;
  num_steps: number;
  returns: Record<string, number>;
  terminated: boolean;
  truncated: boolean;
  outcome: "completed";
}

export interface EventPayload {
  scene_id: string;
  kind: string;
  data: { [key: string]: Json };
  t: number;
}

export type RuntimeRecord =
  | { kind: "step"; payload: StepPayload }
  | { kind: "episode"; payload: EpisodePayload }
  | { kind: "event"; payload: EventPayload };

export interface RuntimeFrame {
  episode: number;
  step: number;
  state: RenderState;
  full: boolean;
  hud: string | null;
}

export type RuntimeStatus = "loading" | "running" | "resetting" | "done" | "error";

export interface RuntimeStatusInfo {
  episode: number;
  numEpisodes: number;
  freezeS?: number;
  message?: string;
}

/** Summary of a list of durations in milliseconds. */
export interface TimingSummary {
  count: number;
  mean: number;
  p50: number;
  p95: number;
  max: number;
}

/** Addition: timings of one game, measured in the worker (RuntimeCallbacks.onStats). */
export interface RuntimeStats {
  ticks: number;
  /** Wall time from the first reset to the end of the game, seconds. */
  elapsedS: number;
  /** The Python call of each tick (env step + render + diff + JSON, the JS↔Python crossing included). */
  envMs: TimingSummary;
  /** All bots' actions of each tick (ticks with at least one bot). */
  policyMs: TimingSummary;
  /** How late each tick started after its scheduled time (realtime pace only). */
  lateMs: TimingSummary;
}

export interface RuntimeCallbacks {
  onProgress(fraction: number, label: string): void;
  onFrame(frame: RuntimeFrame): void;
  onStatus(status: RuntimeStatus, info: RuntimeStatusInfo): void;
  onRecord(record: RuntimeRecord): void;
  onError(message: string, traceback: string | null): void;
  /** Addition: called once when a game ends (done or error) with its timings. */
  onStats?(stats: RuntimeStats): void;
  /** Addition: called once right before the game loop starts, with the wall-clock times (ms since
   * the epoch, `performance.timeOrigin + performance.now()` in the worker) at which the run's loading
   * steps ended: `runReceived`, `packagesInstalled`, `envLoaded` (env code + adapter + bots). */
  onLoaded?(marks: RuntimeMarks): void;
}

/** Wall-clock times (ms since the epoch, sub-millisecond) of loading steps, by name. */
export type RuntimeMarks = Record<string, number>;

/** Addition: how the worker's preload went (PyodideRuntime.loadInfo), for benchmarks and diagnostics. */
export interface RuntimeLoadInfo {
  /** When each preload step ended (see RuntimeMarks): `workerStarted` (the worker script runs),
   * `pyodideImported` (pyodide.mjs), `pyodideStarted` (loadPyodide resolved), `micropipLoaded`, `ready`. */
  marks: RuntimeMarks;
  snapshot: RuntimeSnapshotInfo;
}

/** Addition: the Pyodide memory snapshot of a preload (docs/runtime.md, "Memory snapshot"). */
export interface RuntimeSnapshotInfo {
  /** Pyodide started from the snapshot stored by an earlier load of this origin. */
  loaded: boolean;
  /** Why it did not (e.g. "none stored", "stale (...)", "damaged (...)", "could not be restored: ..."), else null. */
  reason: string | null;
  /** A snapshot made by this load: "none" (none made), "pending" (stored after the first frame, or
   * at once when no game is waiting), then "saved" or "failed" (saveError says why). */
  save: "none" | "pending" | "saved" | "failed";
  saveError: string | null;
}

/** Addition: options of a PyodideRuntime. */
export interface RuntimeOptions {
  /** Start Pyodide from a memory snapshot kept in IndexedDB, and make one when there is none
   * (default true). false: a plain start every time, nothing stored. */
  memorySnapshot?: boolean;
}

export type RunResult = "done" | "error";

// -- peer-to-peer (rollback) games (docs/p2p.md, "The worker") ---------------------------------

/** A participant of a P2P game: peer index (= netcode player handle) and the human agent it plays. */
export interface RuntimeP2PPeer {
  peer: number;
  agent: string;
}

/** A P2P game: a client-side game whose env runs in every participant's worker, kept in step by
 * the rollback netcode. Human agents are the peers' (one each); bots ("random" only) act in the
 * worker on every peer. `defaultAction` is the humans' (an int of their Discrete space). */
export interface RuntimeP2PSpec extends RuntimeGameSpec {
  /** This participant's peer index (0..peers.length-1). */
  peer: number;
  /** Every participant, in peer order (2..4). */
  peers: RuntimeP2PPeer[];
  /** Frames between reading a local input and simulating it (netcode `inputDelay`). */
  inputDelay: number;
  /** Most frames simulated past the last confirmed one (netcode `maxPrediction`). */
  maxPrediction: number;
  /** u32 identifying the game in every netcode packet (the server's session_tag). */
  sessionTag: number;
  /** Test hooks (testDesync) are honoured only when true (the server's MUG_P2P_TEST_HOOKS). */
  testHooks: boolean;
  /** How long the server waits for a page that went away (the scene's reconnect_grace_s): the
   * netcode disconnects a silent peer only after it (docs/p2p.md, "Rejoining"). Default 10 s. */
  reconnectGraceS?: number;
  /** This page came back to a game in progress (docs/p2p.md, "Rejoining"); null for a new game. */
  rejoin?: P2PRejoin | null;
}

/** A page that reloaded mid-game: its new session's incarnation, and what it had recorded. */
export interface P2PRejoin {
  /** The netcode's rejoinId: a random u32 other than 0. */
  id: number;
  /** The last step of this game the server holds from this participant (episode 1, step 0: none),
   * and whether that episode's record is stored too. Steps up to it are not recorded again. */
  recorded: { episode: number; step: number; closed: boolean };
}

/** Netcode bytes to or from a peer. */
export interface P2PPacket {
  to: number;
  bytes: Uint8Array;
}

/** A step record of a P2P game: a StepPayload plus each human agent's focus flag at that frame. */
export interface P2PStepPayload extends StepPayload {
  focus: Record<string, boolean>;
}

/** What happened in the session that the page may show or log (netcode events, catch-ups). */
export type P2PEvent =
  | { type: "synchronizing"; peer: number; completed: number; total: number }
  | { type: "running" }
  | { type: "interrupted"; peer: number; silentMs: number }
  | { type: "resumed"; peer: number }
  | { type: "disconnected"; peer: number; lastFrame: number }
  | { type: "desync"; frame: number; peer: number; localChecksum: number; remoteChecksum: number }
  | { type: "resyncRequested"; source: number; desyncFrame: number }
  | { type: "resyncSent"; peer: number; frame: number }
  | { type: "resynced"; frame: number; source: number }
  | { type: "restarted"; peer: number }
  | { type: "joinSent"; peer: number; frame: number }
  | { type: "joined"; frame: number; source: number; copiedSteps: number }
  | { type: "episodeEnd"; frame: number; episode: number }
  | { type: "catchUp"; frames: number; behind: number }
  | { type: "protocolError"; peer: number; code: string; message: string }
  | { type: "testDesync"; changed: string };

/** Counters and link figures of a P2P game, sent every ~2 s and once at the end. */
export interface P2PStats {
  peer: number;
  /** The session's current (possibly predicted) frame and its last confirmed frame. */
  frame: number;
  confirmedFrame: number;
  /** Frames simulated for the first time. */
  frames: number;
  /** Of those, frames simulated with at least one predicted remote input. */
  predictedFrames: number;
  /** Rollbacks (a load followed by re-simulation) and the deepest one, in frames. */
  rollbacks: number;
  maxRollback: number;
  /** Frames simulated again after a rollback or a resync. */
  resimulatedFrames: number;
  /** Catch-up batches (this worker found itself far behind its peers) and their frames. */
  catchUps: number;
  catchUpFrames: number;
  /** resimulatedFrames + catchUpFrames: everything simulated beyond the normal pace. */
  replayedFrames: number;
  desyncs: number;
  resyncs: number;
  /** advanceFrame() calls that stalled at the prediction window. */
  predictionStalls: number;
  /** The one Python call per tick (all its requests), ms. */
  batchMs: TimingSummary;
  /** Largest number of frames one Python call simulated (first or again). */
  maxBatchFrames: number;
  /** Per remote peer: netcode state, round-trip time (null until measured), frames ahead of it. */
  peers: { peer: number; state: string; rttMs: number | null; framesAhead: number }[];
  /** The same round-trip times by peer index (ms; null until measured). */
  rttMs: Record<number, number | null>;
}

/** Callbacks of PyodideRuntime.runP2P: those of run() plus the transport's and the session's. */
export interface RuntimeP2PCallbacks extends RuntimeCallbacks {
  /** Netcode packets to send to peers (the page's transport: DataChannel or relay). */
  onNetOut(packets: P2PPacket[]): void;
  onP2PEvent(event: P2PEvent): void;
  onP2PStats?(stats: P2PStats): void;
}
