// The client-side runtime's main-thread API (docs/runtime.md): a Web Worker runs the scene's env in
// Pyodide, the game loop with its clock, and the AI policies; the page gets frames, statuses and
// records through callbacks and sends the human's actions.
import type { Json } from "../protocol";
import type { FromWorker, ToWorker } from "./messages";
import type {
  RunResult,
  RuntimeCallbacks,
  RuntimeGameSpec,
  RuntimeLoadInfo,
  RuntimeOptions,
  RuntimeP2PCallbacks,
  RuntimeP2PSpec,
  RuntimeRecord,
  RuntimeUrls,
} from "./types";

export type {
  EpisodePayload,
  EventPayload,
  Json,
  OnnxModelSpec,
  P2PEvent,
  P2PPacket,
  P2PRejoin,
  P2PStats,
  P2PStepPayload,
  RuntimeP2PCallbacks,
  RuntimeP2PPeer,
  RuntimeP2PSpec,
  RunResult,
  RuntimeCallbacks,
  RuntimeFrame,
  RuntimeGameSpec,
  RuntimeLoadInfo,
  RuntimeMarks,
  RuntimeOptions,
  RuntimePolicySpec,
  RuntimeSnapshotInfo,
  RuntimeRecord,
  RuntimeStats,
  RuntimeStatus,
  RuntimeStatusInfo,
  RuntimeUrls,
  StepPayload,
  TimingSummary,
} from "./types";

/** Share of a run's progress bar taken by the preload (Pyodide, micropip, mug env runtime). */
export const PRELOAD_SHARE = 0.7;

type ProgressListener = (fraction: number, label: string) => void;

interface ActiveRun {
  runId: number;
  spec: RuntimeGameSpec;
  callbacks: RuntimeCallbacks;
  resolve: (result: RunResult) => void;
  episode: number;
  step: number;
  /** The run message went to the worker (the preload was done). */
  sent: boolean;
  /** The latest setAction() before that, sent right after the run message. */
  early: { action: Json } | null;
  /** A P2P game (runP2P): its packets and focus flag from before the run message went out. */
  p2p: { net: { from: number; bytes: Uint8Array }[]; focused: boolean | null } | null;
}

/** Most packets PyodideRuntime keeps for a P2P game whose worker is still preloading. */
const MAX_EARLY_PACKETS = 256;

function absolute(name: string, url: string | null, base = false): string | null {
  if (url === null) return null;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`PyodideRuntime: urls.${name} must be an absolute URL (e.g. new URL("static/...", location.href).href), got ${JSON.stringify(url)}`);
  }
  return base && !parsed.href.endsWith("/") ? `${parsed.href}/` : parsed.href;
}

function normalizeUrls(urls: RuntimeUrls): RuntimeUrls {
  return {
    workerUrl: absolute("workerUrl", urls.workerUrl) as string,
    pyodideBase: absolute("pyodideBase", urls.pyodideBase, true) as string,
    packageIndexUrl: absolute("packageIndexUrl", urls.packageIndexUrl, true),
    mugEnvZipUrl: absolute("mugEnvZipUrl", urls.mugEnvZipUrl) as string,
    ortWasmBase: absolute("ortWasmBase", urls.ortWasmBase, true) as string,
  };
}

export class PyodideRuntime {
  readonly urls: RuntimeUrls;
  /** How the current worker's preload went (timings); null until it is ready. */
  loadInfo: RuntimeLoadInfo | null = null;
  private worker: Worker | null = null;
  private preloading: Promise<void> | null = null;
  private loaded = false;
  private readonly listeners = new Set<ProgressListener>();
  private rejectPreload: ((err: Error) => void) | null = null;
  private onReady: (() => void) | null = null;
  private nextRunId = 1;
  private active: ActiveRun | null = null;

  readonly options: Required<RuntimeOptions>;

  constructor(urls: RuntimeUrls, options: RuntimeOptions = {}) {
    this.urls = normalizeUrls(urls);
    this.options = { memorySnapshot: options.memorySnapshot ?? true };
  }

  /** Start the worker and load Pyodide + micropip + the mug env runtime now (called early, during
   * consent pages). Idempotent; resolves when ready. After a failure the next call starts over. */
  preload(onProgress?: (fraction: number, label: string) => void): Promise<void> {
    if (this.loaded) {
      onProgress?.(1, "ready");
      return this.preloading as Promise<void>;
    }
    if (onProgress) this.listeners.add(onProgress);
    if (this.preloading) return this.preloading;
    const worker = this.startWorker();
    this.preloading = new Promise<void>((resolve, reject) => {
      this.rejectPreload = reject;
      this.onReady = () => {
        this.loaded = true;
        this.rejectPreload = null;
        this.listeners.clear();
        resolve();
      };
    });
    this.preloading.catch(() => undefined);
    this.send({ type: "preload", urls: this.urls, memorySnapshot: this.options.memorySnapshot }, worker);
    return this.preloading;
  }

  /** Run one game (after preload; calls preload itself if needed). Resolves when the game ends
   * ("done" or "error"); after stop() or terminate() it resolves "done" and makes no more callbacks. */
  run(spec: RuntimeGameSpec, callbacks: RuntimeCallbacks): Promise<RunResult> {
    return this.start(spec, callbacks, false);
  }

  /** Run one peer-to-peer game (docs/p2p.md, "The worker"): the env runs in this worker and in
   * every partner's, kept in step by the rollback netcode that runs in the worker too. The page
   * moves the netcode's packets: callbacks.onNetOut(packets) → send each to its peer; bytes from a
   * peer → netIn(from, bytes). Frames, statuses and records (confirmed frames only, with each
   * human's focus) come as for run(); onP2PEvent / onP2PStats report the session. Resolves when
   * the game ends: after the last episode, once the worker has kept answering its peers for
   * LINGER_MS (2 s) so they can confirm their last frames — keep the transport open until then. */
  runP2P(spec: RuntimeP2PSpec, callbacks: RuntimeP2PCallbacks): Promise<RunResult> {
    return this.start(spec, callbacks, true);
  }

  /** Netcode bytes that arrived from peer `from` for the running P2P game (ignored otherwise). */
  netIn(from: number, bytes: Uint8Array): void {
    const run = this.active;
    if (!run?.p2p) return;
    if (run.sent) this.send({ type: "net_in", runId: run.runId, from, bytes });
    else if (run.p2p.net.length < MAX_EARLY_PACKETS) run.p2p.net.push({ from, bytes });
  }

  /** Whether this participant's page is visible and focused: part of every P2P step record. */
  setFocus(focused: boolean): void {
    const run = this.active;
    if (!run?.p2p) return;
    if (run.sent) this.send({ type: "focus", runId: run.runId, focused });
    else run.p2p.focused = focused;
  }

  /** Test hook: perturb this peer's game state once, so its checksums differ from its partners'
   * (a provoked desync). The worker honours it only when the spec's testHooks is true. */
  testDesync(): void {
    const run = this.active;
    if (run?.p2p && run.sent) this.send({ type: "test_desync", runId: run.runId });
  }

  /** Test hook: block the worker for `ms`, as when the browser freezes the tab (test hooks only). */
  testFreeze(ms: number): void {
    const run = this.active;
    if (run?.p2p && run.sent) this.send({ type: "test_freeze", runId: run.runId, ms });
  }

  private start(spec: RuntimeGameSpec, callbacks: RuntimeCallbacks, p2p: boolean): Promise<RunResult> {
    const name = p2p ? "runP2P" : "run";
    if (this.active) return Promise.reject(new Error(`PyodideRuntime.${name}(): a game is already running; stop() it first`));
    const runId = this.nextRunId++;
    return new Promise<RunResult>((resolve) => {
      const run: ActiveRun = {
        runId,
        spec,
        callbacks,
        resolve,
        episode: 0,
        step: 0,
        sent: false,
        early: null,
        p2p: p2p ? { net: [], focused: null } : null,
      };
      this.active = run;
      callbacks.onStatus("loading", { episode: 0, numEpisodes: spec.numEpisodes });
      const progress: ProgressListener = (fraction, label) => {
        if (this.active === run) callbacks.onProgress(fraction * PRELOAD_SHARE, label);
      };
      this.preload(progress).then(
        () => {
          this.listeners.delete(progress);
          if (this.active !== run) return;
          run.sent = true;
          if (run.p2p) this.send({ type: "run_p2p", runId, spec: spec as RuntimeP2PSpec });
          else this.send({ type: "run", runId, spec });
          if (run.early) this.send({ type: "action", runId, action: run.early.action });
          if (run.p2p?.focused !== null && run.p2p?.focused !== undefined) this.send({ type: "focus", runId, focused: run.p2p.focused });
          for (const { from, bytes } of run.p2p?.net ?? []) this.send({ type: "net_in", runId, from, bytes });
          if (run.p2p) run.p2p.net = [];
        },
        (err: Error & { traceback?: string | null }) => {
          this.listeners.delete(progress);
          if (this.active !== run) return;
          const traceback = err.traceback ?? null;
          callbacks.onRecord(this.event(spec, "load_error", { game_id: spec.gameId, episode: 0, step: 0, error: err.message, traceback }));
          callbacks.onError(err.message, traceback);
          callbacks.onStatus("error", { episode: 0, numEpisodes: spec.numEpisodes, message: "The game could not be loaded." });
          this.finish(run, "error");
        },
      );
    });
  }

  /** The human's current action (pressed_keys) or a keystroke (single_keystroke). */
  setAction(action: Json): void {
    const run = this.active;
    if (!run) return;
    if (run.sent) this.send({ type: "action", runId: run.runId, action });
    else run.early = { action };
  }

  /** Abort the running game (the page leaves the scene): records a game_stopped event, resolves run() with "done". */
  stop(): void {
    const run = this.active;
    if (!run) return;
    if (this.worker) this.send({ type: "stop", runId: run.runId });
    this.abandon(run);
  }

  /** End the worker (a running game is stopped as by stop()). preload() afterwards starts a new one. */
  terminate(): void {
    const run = this.active;
    if (run) this.abandon(run);
    this.resetWorker(new Error("PyodideRuntime.terminate() was called"));
  }

  // -- internals -----------------------------------------------------------------------------

  private startWorker(): Worker {
    const worker = new Worker(this.urls.workerUrl, { type: "module", name: "mug-runtime" });
    worker.onmessage = (event: MessageEvent<FromWorker>) => {
      if (this.worker === worker) this.handle(event.data);
    };
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      if (this.worker !== worker) return;
      const detail = event.message || `the worker script ${this.urls.workerUrl} failed to load or crashed`;
      this.crashed(`The runtime worker failed: ${detail}`);
    };
    worker.onmessageerror = () => {
      if (this.worker === worker) this.crashed("The runtime worker sent a message that could not be read");
    };
    this.worker = worker;
    return worker;
  }

  private send(message: ToWorker, worker: Worker | null = this.worker): void {
    worker?.postMessage(message);
  }

  private handle(message: FromWorker): void {
    switch (message.type) {
      case "progress":
        if (message.runId === null) {
          for (const listener of [...this.listeners]) listener(message.fraction, message.label);
        } else {
          const run = this.runOf(message.runId);
          run?.callbacks.onProgress(PRELOAD_SHARE + (1 - PRELOAD_SHARE) * message.fraction, message.label);
        }
        return;
      case "ready":
        this.loadInfo = message.info;
        this.onReady?.();
        return;
      case "snapshot_saved":
        if (this.loadInfo) {
          this.loadInfo.snapshot.save = message.ok ? "saved" : "failed";
          this.loadInfo.snapshot.saveError = message.error;
        }
        return;
      case "preload_failed": {
        const err = Object.assign(new Error(message.message), { traceback: message.traceback });
        this.resetWorker(err);
        return;
      }
    }
    const run = this.runOf(message.runId);
    if (!run) return;
    switch (message.type) {
      case "frame":
        run.episode = message.frame.episode;
        run.step = message.frame.step;
        run.callbacks.onFrame(message.frame);
        break;
      case "status":
        run.callbacks.onStatus(message.status, message.info);
        break;
      case "record":
        run.callbacks.onRecord(message.record);
        break;
      case "error":
        run.callbacks.onError(message.message, message.traceback);
        break;
      case "stats":
        run.callbacks.onStats?.(message.stats);
        break;
      case "loaded":
        run.callbacks.onLoaded?.(message.marks);
        break;
      case "net_out":
        (run.callbacks as RuntimeP2PCallbacks).onNetOut?.(message.packets);
        break;
      case "p2p_event":
        (run.callbacks as RuntimeP2PCallbacks).onP2PEvent?.(message.event);
        break;
      case "p2p_stats":
        (run.callbacks as RuntimeP2PCallbacks).onP2PStats?.(message.stats);
        break;
      case "end":
        this.finish(run, message.result === "error" ? "error" : "done");
        if (message.fatal) this.resetWorker(new Error("the Python runtime failed"));
        break;
    }
  }

  private runOf(runId: number): ActiveRun | null {
    return this.active && this.active.runId === runId ? this.active : null;
  }

  private finish(run: ActiveRun, result: RunResult): void {
    if (this.active !== run) return;
    this.active = null;
    run.resolve(result);
  }

  /** The page gave up on a game: record it, resolve run() with "done", ignore the game from now on. */
  private abandon(run: ActiveRun): void {
    run.callbacks.onRecord(
      this.event(run.spec, "game_stopped", { game_id: run.spec.gameId, episode: run.episode, step: run.step }),
    );
    this.finish(run, "done");
  }

  private crashed(message: string): void {
    const run = this.active;
    this.resetWorker(new Error(message)); // a run still waiting for the preload reports a load_error
    if (!run || !run.sent) return;
    run.callbacks.onRecord(this.event(run.spec, "runtime_error", { game_id: run.spec.gameId, episode: run.episode, step: run.step, error: message }));
    run.callbacks.onError(message, null);
    run.callbacks.onStatus("error", { episode: run.episode, numEpisodes: run.spec.numEpisodes, message: "The game stopped because of an error. Your data so far is saved." });
    this.finish(run, "error");
  }

  /** Drop the worker; a pending preload fails with err; the next preload() starts a new worker. */
  private resetWorker(err: Error): void {
    this.worker?.terminate();
    this.worker = null;
    this.loaded = false;
    this.loadInfo = null;
    this.preloading = null;
    this.onReady = null;
    const reject = this.rejectPreload;
    this.rejectPreload = null;
    this.listeners.clear();
    reject?.(err);
  }

  private event(spec: RuntimeGameSpec, kind: string, data: { [key: string]: Json }): RuntimeRecord {
    return { kind: "event", payload: { scene_id: spec.sceneId, kind, data, t: Date.now() / 1000 } };
  }
}
