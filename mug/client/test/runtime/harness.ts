// Browser entry for tests/runtime (Playwright) and benchmarks/pyodide.py: bundled by the test with
// esbuild, served next to the client build's dist/ (worker.js, vendor/pyodide, vendor/ort) by a
// Tornado static server. Exposes window.mugRuntimeHarness; with ?autorun=<json spec> it starts a
// game at once (cold/warm start benchmark) and records when the first frame arrived.
import type { Json } from "../../src/protocol";
import {
  PyodideRuntime,
  type RunResult,
  type RuntimeFrame,
  type RuntimeGameSpec,
  type RuntimeLoadInfo,
  type RuntimeMarks,
  type RuntimeOptions,
  type RuntimeRecord,
  type RuntimeStats,
  type RuntimeStatus,
  type RuntimeStatusInfo,
  type RuntimeUrls,
} from "../../src/runtime";
import { checksum, deleteSnapshot, putSnapshot, readSnapshot, snapshotKey, writeSnapshot } from "../../src/runtime/snapshot";

export interface GameLog {
  result: RunResult | null;
  frames: RuntimeFrame[];
  records: RuntimeRecord[];
  statuses: { status: RuntimeStatus; info: RuntimeStatusInfo; at: number }[];
  errors: { message: string; traceback: string | null }[];
  progress: [number, string, number][];
  stats: RuntimeStats | null;
  /** performance.now() (ms since navigation start) of the first frame. */
  firstFrameAt: number | null;
  /** The run's loading steps (onLoaded), as performance.now() of this page. */
  loaded: RuntimeMarks | null;
  startedAt: number;
  endedAt: number | null;
}

export interface StartOptions {
  /** setAction(action) when the frame of this episode/step arrives. */
  actions?: { episode: number; step: number; action: Json }[];
  /** stop() when the frame of this episode/step arrives. */
  stopAt?: { episode: number; step: number };
}

/** URLs as the MUG page makes them (src/main.ts): with a build version, the worker and the zip carry
 * ?v= and Pyodide's and onnxruntime's bases are under static/v/<version>/. */
function urls(version: string | null): RuntimeUrls {
  const at = (path: string) => new URL(path, location.href).href;
  const v = version ? `?v=${version}` : "";
  const vendor = version ? `static/v/${version}/vendor/` : "static/vendor/";
  return {
    workerUrl: at(`static/worker.js${v}`),
    pyodideBase: at(`${vendor}pyodide/`),
    packageIndexUrl: null,
    mugEnvZipUrl: at(`mug_env.zip${v}`),
    ortWasmBase: at(`${vendor}ort/`),
  };
}

/** Wall-clock marks from the worker as performance.now() of this page (ms since navigation start). */
function pageTimes(marks: RuntimeMarks): RuntimeMarks {
  return Object.fromEntries(Object.entries(marks).map(([name, at]) => [name, at - performance.timeOrigin]));
}

const scriptStartedAt = performance.now();
const params = new URLSearchParams(location.search);
// ?snapshot=0: no memory snapshot (neither loaded nor made).
const defaultOptions: RuntimeOptions = { memorySnapshot: params.get("snapshot") !== "0" };
let runtime = new PyodideRuntime(urls(params.get("v")), defaultOptions);
let current: GameLog | null = null;
let currentDone: Promise<GameLog> | null = null;
const history: GameLog[] = [];

function start(spec: RuntimeGameSpec, options: StartOptions = {}): { log: GameLog; done: Promise<GameLog> } {
  const log: GameLog = {
    result: null,
    frames: [],
    records: [],
    statuses: [],
    errors: [],
    progress: [],
    stats: null,
    firstFrameAt: null,
    loaded: null,
    startedAt: performance.now(),
    endedAt: null,
  };
  current = log;
  history.push(log);
  const pendingActions = [...(options.actions ?? [])];
  const done = runtime
    .run(spec, {
      onProgress: (fraction, label) => log.progress.push([fraction, label, Math.round(performance.now())]),
      onFrame: (frame) => {
        if (log.firstFrameAt === null) log.firstFrameAt = performance.now();
        log.frames.push(frame);
        for (const a of pendingActions.filter((x) => x.episode === frame.episode && x.step === frame.step)) runtime.setAction(a.action);
        if (options.stopAt && options.stopAt.episode === frame.episode && options.stopAt.step === frame.step) runtime.stop();
      },
      onStatus: (status, info) => log.statuses.push({ status, info, at: performance.now() }),
      onRecord: (record) => log.records.push(record),
      onError: (message, traceback) => log.errors.push({ message, traceback }),
      onStats: (stats) => {
        log.stats = stats;
      },
      onLoaded: (marks) => {
        log.loaded = pageTimes(marks);
      },
    })
    .then((result) => {
      log.result = result;
      log.endedAt = performance.now();
      return log;
    });
  return { log, done };
}

const harness = {
  ready: true,
  urls,
  /** A fresh runtime (e.g. with other URLs); the old worker is terminated. */
  reset(custom?: Partial<RuntimeUrls>, options?: RuntimeOptions): void {
    runtime.terminate();
    runtime = new PyodideRuntime({ ...urls(params.get("v")), ...custom }, { ...defaultOptions, ...options });
  },
  /** How the current worker's preload went (null until it is ready). */
  loadInfo(): RuntimeLoadInfo | null {
    return runtime.loadInfo;
  },
  /** The memory snapshot stored for this origin (IndexedDB), for tests. */
  snapshot: {
    async stored(): Promise<{ key: string; size: number; intact: boolean } | null> {
      const s = await readSnapshot();
      return s && { key: s.key, size: s.bytes.byteLength, intact: checksum(s.bytes) === s.checksum };
    },
    /** Spoil it: "stale" (made for something else), "damaged" (bytes changed after storing),
     * "other-build" (intact, but its header names another Pyodide build), or "delete" it. */
    async spoil(how: "stale" | "damaged" | "other-build" | "delete"): Promise<void> {
      const s = await readSnapshot();
      if (how === "delete" || !s) return deleteSnapshot();
      const bytes = new Uint8Array(s.bytes);
      if (how === "stale") return writeSnapshot(`format 0; ${s.key}`, bytes);
      if (how === "damaged") {
        bytes[bytes.length >>> 1] = (bytes[bytes.length >>> 1] as number) ^ 0xff;
        return putSnapshot({ ...s, bytes: bytes.buffer }); // the old checksum
      }
      for (let i = 16; i < 48; i++) bytes[i] = (bytes[i] as number) ^ 0x5a; // Pyodide's build id
      return writeSnapshot(s.key, bytes);
    },
    /** Store a snapshot made here (on the page's thread) after running `code`: intact and for the
     * right key, so the worker restores it, but with whatever state the code left. */
    async plant(code: string): Promise<void> {
      const base = runtime.urls.pyodideBase;
      type Py = { runPython(code: string): unknown; makeMemorySnapshot(): Uint8Array };
      const module = (await import(/* webpackIgnore: true */ `${base}pyodide.mjs`)) as {
        version: string;
        loadPyodide(options: object): Promise<Py>;
      };
      const pyodide = await module.loadPyodide({ indexURL: base, lockFileURL: `${base}pyodide-lock.json`, packageBaseUrl: base, _makeSnapshot: true });
      pyodide.runPython(code);
      await writeSnapshot(snapshotKey(module.version, base), pyodide.makeMemorySnapshot());
    },
  },
  async preload(): Promise<{ ms: number; progress: [number, string][] }> {
    const started = performance.now();
    const progress: [number, string][] = [];
    await runtime.preload((f, l) => progress.push([f, l]));
    return { ms: performance.now() - started, progress };
  },
  start(spec: RuntimeGameSpec, options?: StartOptions): void {
    currentDone = start(spec, options).done;
  },
  /** The end of the game last started with start(). */
  wait(): Promise<GameLog> | null {
    return currentDone;
  },
  /** Run a game to its end and return everything it reported. */
  async run(spec: RuntimeGameSpec, options?: StartOptions): Promise<GameLog> {
    return start(spec, options).done;
  },
  /** The current worker's preload steps as performance.now() of this page, plus when this script
   * started (null until the preload is ready). */
  preloadMarks(): RuntimeMarks | null {
    const info = runtime.loadInfo;
    return info ? { scriptStarted: scriptStartedAt, ...pageTimes(info.marks) } : null;
  },
  current(): GameLog | null {
    return current;
  },
  /** Every game started on this page, oldest first. */
  history(): GameLog[] {
    return history;
  },
  setAction(action: Json): void {
    runtime.setAction(action);
  },
  stop(): void {
    runtime.stop();
  },
  terminate(): void {
    runtime.terminate();
  },
};

declare global {
  interface Window {
    mugRuntimeHarness: typeof harness;
  }
}
window.mugRuntimeHarness = harness;

const autorun = params.get("autorun");
if (autorun) start(JSON.parse(autorun) as RuntimeGameSpec);
