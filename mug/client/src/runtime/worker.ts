// The client-side runtime's Web Worker (built to dist/worker.js): Pyodide + the env, the game
// loop and its clock, and the AI policies (onnxruntime-web). The main thread talks to it through
// index.ts (messages.ts). Everything is loaded from our own server: Pyodide core, micropip and the
// lock from urls.pyodideBase, Pyodide-built packages from urls.packageIndexUrl, the mug env
// runtime from urls.mugEnvZipUrl, onnxruntime-web's wasm from urls.ortWasmBase.
import type { PyodideInterface } from "pyodide";
import type { SessionLike } from "../policies/onnx_policy";
import { createPolicy, loadSession, ortRuntime } from "../policies/runtime";
import { parseModelSpec, type ModelSpec } from "../policies/spec";
import type { Json } from "../protocol";
import bridgeSource from "./bridge.py";
import { EnvFailure, GameLoop, type Bot, type Clock, type EnvSession, type ResetOutcome, type StepOutcome } from "./loop";
import type { FromWorker, ToWorker } from "./messages";
import { onnxAgentOptions, P2PBotSet, P2POnnxBot } from "./p2p_bots";
import { PyP2PGame, type PyP2PGameProxy } from "./p2p_host";
import { checkP2PSpec, P2PLoop, type DiscreteSpace, type P2PSink } from "./p2p_loop";
import { RandomBot } from "./random_bot";
import { checkSnapshotApi, deleteSnapshot, readSnapshot, snapshotKey, type StoredSnapshot, usableSnapshot, writeSnapshot } from "./snapshot";
import type { RenderState, RuntimeGameSpec, RuntimeMarks, RuntimeP2PSpec, RuntimeRecord, RuntimeSnapshotInfo, RuntimeUrls } from "./types";

type PyodideModule = { version?: string; loadPyodide: (options: Record<string, unknown>) => Promise<PyodideInterface> };
/** makeMemorySnapshot() is private Pyodide API (see snapshot.ts), absent from its public types. */
type SnapshotMaker = PyodideInterface & { makeMemorySnapshot?: () => Uint8Array };

/** The Python bridge module (bridge.py) as Pyodide proxies it. */
interface PyBridge {
  Game(specJson: string): PyGame;
  install(target: string): Promise<string>;
  destroy(): void;
}
interface PyGame extends PyP2PGameProxy {
  load(): string;
  reset(seed: number): string;
  step(actionsJson: string): string;
  close(): string;
  destroy(): void;
}
interface Failure {
  ok: false;
  stage: string;
  error: string;
  traceback: string | null;
}
type Reply<T> = ({ ok: true } & T) | Failure;

interface Runtime {
  pyodide: PyodideInterface;
  bridge: PyBridge;
}

/** A load failure: told to the page (onError) and recorded as an event. */
class LoadFailure extends Error {
  constructor(
    message: string,
    readonly traceback: string | null = null,
    readonly kind = "load_error",
  ) {
    super(message);
  }
}

const scope = globalThis as unknown as DedicatedWorkerGlobalScope;

/** Wall-clock now (ms since the epoch): comparable with the page's clock, unlike performance.now(). */
function wallNow(): number {
  return performance.timeOrigin + performance.now();
}
const preloadMarks: RuntimeMarks = { workerStarted: wallNow() };
const BRIDGE_MODULE = "_mug_bridge";

function post(message: FromWorker): void {
  scope.postMessage(message);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function withSlash(url: string): string {
  return url.endsWith("/") ? url : `${url}/`;
}

// -- loading -------------------------------------------------------------------------------------

let urls: RuntimeUrls | null = null;
let ready: Promise<Runtime> | null = null;
let fatal = false;
/** Python's stderr lines while a package installs (Pyodide's loadPackage reports failures there). */
let captured: string[] | null = null;

async function fetchBytes(url: string, what: string): Promise<ArrayBuffer> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (err) {
    throw new LoadFailure(`Could not download ${what} from ${url}: ${errorText(err)}`);
  }
  if (!response.ok) throw new LoadFailure(`Could not download ${what} from ${url}: HTTP ${response.status}`);
  return response.arrayBuffer();
}

/** Lock file options: ours as is, or (with a separate package index) ours with micropip pinned to our copy. */
async function lockOptions(base: string, packageIndex: string | null): Promise<Record<string, unknown>> {
  const lockFileURL = `${base}pyodide-lock.json`;
  if (packageIndex === null || withSlash(packageIndex) === base) return { lockFileURL, packageBaseUrl: base };
  // Packages come from the index, but micropip is the copy we serve (its sha256 in our lock is our file's).
  const response = await fetch(lockFileURL).catch((err: unknown) => {
    throw new LoadFailure(`Could not download the Pyodide lock file ${lockFileURL}: ${errorText(err)}`);
  });
  if (!response.ok) throw new LoadFailure(`Could not download the Pyodide lock file ${lockFileURL}: HTTP ${response.status}`);
  const lock = (await response.json()) as { packages: Record<string, { file_name: string }> };
  const micropip = lock.packages["micropip"];
  if (micropip) micropip.file_name = new URL(micropip.file_name, base).href;
  return { lockFileContents: lock, packageBaseUrl: withSlash(packageIndex) };
}

const SAVE_WHEN_IDLE_MS = 1000;

/** A snapshot made by this worker, stored once the first frame is out (or at once if no game waits). */
let unsaved: { key: string; bytes: Uint8Array } | null = null;
const snapshotInfo: RuntimeSnapshotInfo = { loaded: false, reason: null, save: "none", saveError: null };

function saveSnapshot(): void {
  const made = unsaved;
  if (!made) return;
  unsaved = null;
  writeSnapshot(made.key, made.bytes).then(
    () => post({ type: "snapshot_saved", ok: true, error: null }),
    (err: unknown) => {
      console.warn(`mug runtime: could not store the Pyodide memory snapshot: ${errorText(err)}`);
      post({ type: "snapshot_saved", ok: false, error: errorText(err) });
    },
  );
}

/** Python state a snapshot would otherwise share between loads: `random` was seeded when the
 * snapshot was made (Pyodide's start imports it), so reseed it from the OS. Also a smoke test of
 * the restored interpreter. */
const AFTER_RESTORE = "import random, sys\nrandom.seed()\nsys.version";

/** Standard-library imports done before a snapshot is made (pure Python or built in, no JS objects). */
const PREIMPORT = [
  "import base64, dataclasses, email, encodings.cp437, importlib.metadata, numbers, sysconfig, tarfile",
  "sysconfig.get_path('purelib')",
].join("\n");

/** loadPyodide, from the stored memory snapshot when there is a usable one; otherwise a plain start
 * that makes one (kept in `unsaved`). Any snapshot problem falls back to the plain start. */
async function startPyodide(
  module: PyodideModule,
  options: Record<string, unknown>,
  stored: Promise<{ key: string; bytes: Uint8Array } | { key: string | null; reason: string }>,
): Promise<PyodideInterface> {
  const found = await stored;
  if ("bytes" in found) {
    try {
      const pyodide = await module.loadPyodide({ ...options, _loadSnapshot: found.bytes });
      // Pyodide copied it into the wasm memory but keeps a reference in its config: detach the
      // buffer so those 21 MB can be freed.
      structuredClone(found.bytes.buffer, { transfer: [found.bytes.buffer] });
      pyodide.runPython(AFTER_RESTORE);
      snapshotInfo.loaded = true;
      return pyodide;
    } catch (err) {
      snapshotInfo.reason = `could not be restored: ${errorText(err)}`;
      void deleteSnapshot().catch(() => undefined);
    }
  } else {
    snapshotInfo.reason ??= found.reason; // a retry (loadWithFallback) keeps the first reason
  }
  if (snapshotInfo.reason !== "disabled") console.info(`mug runtime: no Pyodide memory snapshot used: ${snapshotInfo.reason}`);
  const key = found.key;
  const pyodide = (await module.loadPyodide({ ...options, _makeSnapshot: key !== null })) as SnapshotMaker;
  preloadMarks.interpreterStarted = wallNow();
  if (key !== null) {
    // Right after the start, before anything of ours runs in Python: the snapshot then holds no
    // references to JS objects that a later page could not recreate. Only the standard-library
    // modules that loading micropip and the mug env runtime import next are imported first (no
    // extra work for this load), so that restored loads skip them too.
    try {
      if (typeof pyodide.makeMemorySnapshot !== "function") throw new Error("pyodide.makeMemorySnapshot() is missing");
      pyodide.runPython(PREIMPORT);
      unsaved = { key, bytes: pyodide.makeMemorySnapshot() };
      snapshotInfo.save = "pending";
    } catch (err) {
      snapshotInfo.save = "failed";
      snapshotInfo.saveError = `could not be made: ${errorText(err)}`;
      console.warn(`mug runtime: could not make a Pyodide memory snapshot: ${errorText(err)}`);
    }
  }
  return pyodide;
}

async function loadRuntime(u: RuntimeUrls, memorySnapshot: boolean, progress: (fraction: number, label: string) => void): Promise<Runtime> {
  const base = withSlash(u.pyodideBase);
  progress(0.02, "pyodide");
  const zip = fetchBytes(u.mugEnvZipUrl, "the mug env runtime");
  zip.catch(() => undefined); // awaited below; don't report it as unhandled meanwhile
  // Read while pyodide.mjs loads; the key needs Pyodide's version, known once it has.
  const reading = memorySnapshot ? readSnapshot() : null;
  reading?.catch(() => undefined); // awaited in snapshotFor
  let module: PyodideModule;
  try {
    module = (await import(/* webpackIgnore: true */ `${base}pyodide.mjs`)) as PyodideModule;
  } catch (err) {
    throw new LoadFailure(`Could not load Pyodide from ${base}pyodide.mjs: ${errorText(err)}`);
  }
  preloadMarks.pyodideImported = wallNow();
  const stored = snapshotFor(module, base, reading);
  void stored.then(() => (preloadMarks.snapshotRead = wallNow()));
  const lock = await lockOptions(base, u.packageIndexUrl);
  let pyodide: PyodideInterface;
  try {
    pyodide = await startPyodide(
      module,
      {
        indexURL: base,
        ...lock,
        stdout: (line: string) => console.log(`[python] ${line}`),
        stderr: (line: string) => {
          console.warn(`[python] ${line}`);
          captured?.push(line);
        },
      },
      stored,
    );
  } catch (err) {
    throw new LoadFailure(`Could not start Pyodide from ${base}: ${errorText(err)}`);
  }
  preloadMarks.pyodideStarted = wallNow();
  progress(0.75, "micropip");
  const problems: string[] = [];
  await pyodide.loadPackage("micropip", { errorCallback: (m: string) => problems.push(m), messageCallback: () => undefined });
  if (!("micropip" in pyodide.loadedPackages)) {
    throw new LoadFailure(`Could not load micropip from ${base}: ${problems.join(" ") || "unknown error"}`);
  }
  preloadMarks.micropipLoaded = wallNow();
  progress(0.9, "mug env runtime");
  const bytes = await zip;
  try {
    const site = String(pyodide.runPython("import sysconfig; sysconfig.get_path('purelib')"));
    pyodide.unpackArchive(bytes, "zip", { extractDir: site });
    pyodide.FS.writeFile(`${site}/${BRIDGE_MODULE}.py`, bridgeSource);
    pyodide.runPython("import importlib; importlib.invalidate_caches()");
    const bridge = pyodide.pyimport(BRIDGE_MODULE) as PyBridge;
    preloadMarks.ready = wallNow();
    progress(1, "ready");
    return { pyodide, bridge };
  } catch (err) {
    throw new LoadFailure(`Could not load the mug env runtime from ${u.mugEnvZipUrl}: ${errorText(err)}`);
  }
}

/** The snapshot to start from (bytes) or why none, with the key a new one would be stored under
 * (null: make none — snapshots are off, or this Pyodide's snapshot API is not the one we know). */
async function snapshotFor(
  module: PyodideModule,
  base: string,
  reading: Promise<StoredSnapshot | null> | null,
): Promise<{ key: string; bytes: Uint8Array } | { key: string | null; reason: string }> {
  if (reading === null) return { key: null, reason: "disabled" };
  const unusable = checkSnapshotApi(module);
  if (unusable) return { key: null, reason: unusable };
  const key = snapshotKey(module.version as string, base);
  let stored: StoredSnapshot | null;
  try {
    stored = await reading;
  } catch (err) {
    return { key: null, reason: `cannot read IndexedDB: ${errorText(err)}` };
  }
  const found = usableSnapshot(stored, key);
  return "bytes" in found ? { key, bytes: found.bytes } : { key, reason: found.reason };
}

/** loadRuntime; if it fails after starting from a snapshot, the snapshot may be at fault (a restore
 * can succeed and leave a broken interpreter): forget it and load once more without it. */
async function loadWithFallback(u: RuntimeUrls, memorySnapshot: boolean, progress: (fraction: number, label: string) => void): Promise<Runtime> {
  try {
    return await loadRuntime(u, memorySnapshot, progress);
  } catch (err) {
    if (!snapshotInfo.loaded) throw err;
    snapshotInfo.loaded = false;
    snapshotInfo.reason = `the runtime failed to load after restoring it: ${errorText(err)}`;
    console.warn(`mug runtime: ${snapshotInfo.reason}; loading again without the snapshot`);
    await deleteSnapshot().catch(() => undefined);
    return await loadRuntime(u, memorySnapshot, progress);
  }
}

function preload(u: RuntimeUrls, memorySnapshot: boolean): Promise<Runtime> {
  if (ready === null) {
    urls = u;
    ready = loadWithFallback(u, memorySnapshot, (fraction, label) => post({ type: "progress", runId: null, fraction, label }));
    ready.then(
      () => {
        post({ type: "ready", info: { marks: { ...preloadMarks }, snapshot: { ...snapshotInfo } } });
        // Storing copies 21 MB and writes it to disk: not while a game loads. A run's first frame
        // (or its end) stores it; with no run by then (e.g. the page preloads during consent
        // pages), the idle timer does.
        setTimeout(() => {
          if (current === null || current.loop !== null) saveSnapshot();
        }, SAVE_WHEN_IDLE_MS);
      },
      (err: unknown) => {
        post({ type: "preload_failed", message: errorText(err), traceback: err instanceof LoadFailure ? err.traceback : null });
      },
    );
  }
  return ready;
}

// -- the env in Python ---------------------------------------------------------------------------

function parse<T>(json: string): Reply<T> {
  return JSON.parse(json) as Reply<T>;
}

/** The loop's EnvSession over a Python bridge.Game: one Python call per reset or tick. */
class PyEnvSession implements EnvSession {
  constructor(private readonly game: PyGame) {}

  private call<T>(stage: string, fn: () => string): { ok: true } & T {
    let reply: Reply<T>;
    try {
      reply = parse<T>(fn());
    } catch (err) {
      // Not a Python exception (those come back as JSON): Pyodide itself failed.
      fatal = true;
      throw new EnvFailure(stage, `the Python runtime failed: ${errorText(err)}`, null);
    }
    if (!reply.ok) throw new EnvFailure(reply.stage, reply.error, reply.traceback);
    return reply;
  }

  reset(seed: number): ResetOutcome {
    return this.call<{ observations: Record<string, Json>; frame: RenderState }>("reset", () => this.game.reset(seed));
  }

  step(actions: Record<string, Json>): StepOutcome {
    const r = this.call<{
      rewards: Record<string, number>;
      terminated: boolean;
      truncated: boolean;
      episode_over: boolean;
      infos: Record<string, Json>;
      observations: Record<string, Json>;
      recorded: Json;
      frame: RenderState;
    }>("step", () => this.game.step(JSON.stringify(actions)));
    return {
      rewards: r.rewards,
      terminated: r.terminated,
      truncated: r.truncated,
      episodeOver: r.episode_over,
      infos: r.infos,
      observations: r.observations,
      recorded: r.recorded,
      frame: r.frame,
    };
  }

  close(): void {
    if (fatal) return;
    try {
      const reply = parse<object>(this.game.close());
      if (!reply.ok) console.warn(`mug runtime: closing the env failed: ${reply.error}`);
    } finally {
      this.game.destroy();
    }
  }
}

// -- the clock -----------------------------------------------------------------------------------

const yieldChannel = new MessageChannel();
const yielded: (() => void)[] = [];
yieldChannel.port1.onmessage = () => yielded.shift()?.();

const clock: Clock = {
  now: () => performance.now(),
  wall: () => Date.now() / 1000,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  yield: () =>
    new Promise((resolve) => {
      yielded.push(resolve);
      yieldChannel.port2.postMessage(null);
    }),
};

// -- one game ------------------------------------------------------------------------------------

interface Run {
  runId: number;
  spec: RuntimeGameSpec;
  stopped: boolean;
  loop: GameLoop | null;
  /** Actions set before the loop exists (during loading), applied when it starts. */
  early: Json[];
  /** A P2P game's loop (run_p2p), once it exists. */
  p2p?: P2PLoop | null;
  /** P2P: packets and the focus flag that arrived while the game was loading. */
  earlyNet?: { from: number; bytes: Uint8Array }[];
  earlyFocus?: boolean | null;
}

let current: Run | null = null;

function checkSpec(spec: RuntimeGameSpec): string | null {
  if (!Array.isArray(spec.agents) || spec.agents.length === 0) return "agents must be a non-empty list of agent ids";
  const missing = spec.agents.filter((a) => !spec.policies?.[a]);
  if (missing.length) return `no policy for agent(s) ${missing.join(", ")} in policies`;
  const humans = spec.agents.filter((a) => spec.policies[a]?.kind === "human");
  if (humans.length > 1) return `a client-side game has at most one human agent; ${humans.join(", ")} are all "human"`;
  for (const a of spec.agents) {
    const kind = spec.policies[a]?.kind;
    if (kind !== "human" && kind !== "random" && kind !== "onnx") return `agent ${a}: unknown policy kind ${JSON.stringify(kind)}`;
  }
  if (!(spec.fps > 0)) return `fps must be > 0, got ${spec.fps}`;
  if (!Number.isInteger(spec.numEpisodes) || spec.numEpisodes < 1) return `numEpisodes must be an int >= 1, got ${spec.numEpisodes}`;
  if (!Number.isInteger(spec.maxSteps) || spec.maxSteps < 1) return `maxSteps must be an int >= 1, got ${spec.maxSteps}`;
  if (!Number.isSafeInteger(spec.seed)) return `seed must be an integer, got ${spec.seed}`;
  if (typeof spec.envCode !== "string") return "envCode must be Python source (a string)";
  return null;
}

/** micropip-install the spec's packages in order; false if the run was stopped meanwhile. */
async function installPackages(bridge: PyBridge, run: Run, progress: (fraction: number, label: string) => void): Promise<boolean> {
  const packages = run.spec.packages ?? [];
  for (const [i, target] of packages.entries()) {
    progress(0.1 + (0.7 * i) / packages.length, `packages (${target.split("/").pop()})`);
    const stderr: string[] = [];
    captured = stderr;
    const reply = parse<object>(
      await Promise.resolve(bridge.install(target)).finally(() => {
        captured = null;
      }),
    );
    if (run.stopped) return false;
    if (!reply.ok) {
      const said = stderr.filter((line) => !/^(Loading|Loaded) /.test(line)).slice(-2);
      let detail = said.length ? ` (${said.join(" ")})` : "";
      if (!/^[a-z]+:/i.test(target)) detail += ` [package index: ${urls?.packageIndexUrl ?? urls?.pyodideBase}]`;
      throw new LoadFailure(`Could not install package ${target}: ${reply.error}${detail}`, reply.traceback);
    }
  }
  return true;
}

/** The load_error/env_error failure of a Game.load() reply. */
function loadFailure(loaded: Failure): LoadFailure {
  const kind = loaded.stage === "env_code" ? "env_error" : "load_error";
  const message =
    loaded.stage === "env_code"
      ? `The env code raised an exception: ${loaded.error}`
      : loaded.stage === "no_env"
        ? `The env code did not define an env: ${loaded.error}`
        : `Could not set up the env: ${loaded.error}`;
  return new LoadFailure(message, loaded.traceback, kind);
}

/** A failure before the game loop started: recorded, told to the page, status error. */
function reportLoadFailure(run: Run, err: unknown): void {
  const { runId, spec } = run;
  const failure = err instanceof LoadFailure ? err : new LoadFailure(`The runtime failed: ${errorText(err)}`, err instanceof Error ? (err.stack ?? null) : null);
  post({
    type: "record",
    runId,
    record: {
      kind: "event",
      payload: {
        scene_id: spec.sceneId,
        kind: failure.kind,
        data: { game_id: spec.gameId, episode: 0, step: 0, error: failure.message, traceback: failure.traceback },
        t: Date.now() / 1000,
      },
    },
  });
  post({ type: "error", runId, message: failure.message, traceback: failure.traceback });
  post({ type: "status", runId, status: "error", info: { episode: 0, numEpisodes: spec.numEpisodes, message: "The game could not be loaded." } });
}

async function runGame(run: Run): Promise<void> {
  const { runId, spec } = run;
  const marks: RuntimeMarks = { runReceived: wallNow() };
  const record = (r: RuntimeRecord) => post({ type: "record", runId, record: r });
  const progress = (fraction: number, label: string) => post({ type: "progress", runId, fraction, label });
  let loop: GameLoop | null = null;
  let result: "done" | "error" | "stopped" = "error";
  try {
    const problem = checkSpec(spec);
    if (problem) throw new LoadFailure(`Invalid game spec: ${problem}`);
    if (fatal) throw new LoadFailure("The Python runtime failed in an earlier game; start a new runtime (reload the page).");
    if (!urls || !ready) throw new LoadFailure("The runtime was not preloaded");
    const { bridge } = await ready.catch((err: unknown) => {
      throw new LoadFailure(errorText(err), err instanceof LoadFailure ? err.traceback : null);
    });
    const ortBase = urls.ortWasmBase;
    // ONNX sessions load while packages install and the env code runs.
    const onnx = spec.agents
      .filter((a) => spec.policies[a]?.kind === "onnx")
      .map((agent) => {
        const policy = spec.policies[agent] as { kind: "onnx"; model: object };
        const created = createPolicy(policy.model, agent, { wasmBase: ortBase }).then(
          (p) => [agent, p] as const,
          (err: unknown) => {
            throw new LoadFailure(`Could not load the AI policy of agent '${agent}': ${errorText(err)}`);
          },
        );
        created.catch(() => undefined);
        return created;
      });
    if (!(await installPackages(bridge, run, progress))) return;
    marks.packagesInstalled = wallNow();
    progress(0.85, "env");
    const observe = spec.agents.filter((a) => spec.policies[a]?.kind === "onnx");
    const randomAgents = spec.agents.filter((a) => spec.policies[a]?.kind === "random");
    const game = bridge.Game(
      JSON.stringify({
        env_code: spec.envCode,
        agents: spec.agents,
        observe,
        record_observations: spec.recordObservations,
        random_agents: randomAgents,
      }),
    );
    const loaded = parse<{ actions: Record<string, { n: number; start: number }> }>(game.load());
    if (!loaded.ok) {
      game.destroy();
      throw loadFailure(loaded);
    }
    const env = new PyEnvSession(game);
    const bots: Record<string, Bot> = {};
    try {
      for (const agent of randomAgents) {
        const space = loaded.actions[agent] as { n: number; start: number };
        bots[agent] = new RandomBot(agent, space.n, space.start);
      }
      for (const [agent, policy] of await Promise.all(onnx)) {
        bots[agent] = { reset: (seed) => policy.reset(seed), act: (obs) => policy.act(obs) };
      }
    } catch (err) {
      env.close();
      throw err;
    }
    if (run.stopped) {
      env.close();
      return;
    }
    progress(1, "ready");
    marks.envLoaded = wallNow();
    post({ type: "loaded", runId, marks });
    loop = new GameLoop(spec, env, bots, clock, {
      frame: (frame) => {
        post({ type: "frame", runId, frame });
        saveSnapshot(); // the first frame is out: storing it no longer delays the start
      },
      status: (status, info) => post({ type: "status", runId, status, info }),
      record,
      error: (message, traceback) => post({ type: "error", runId, message, traceback }),
    });
    run.loop = loop;
    for (const action of run.early) loop.setAction(action);
    run.early = [];
    if (run.stopped) loop.stop();
    result = await loop.run();
    post({ type: "stats", runId, stats: loop.stats() });
  } catch (err) {
    if (run.stopped) return;
    reportLoadFailure(run, err);
    result = "error";
  } finally {
    saveSnapshot();
    if (current === run) current = null;
    post({ type: "end", runId, result: run.stopped ? "stopped" : result, fatal });
  }
}

/** Most packets kept for a P2P game while it loads (its peers are handshaking meanwhile; the
 * netcode resends, so dropping older ones only delays the handshake). */
const MAX_EARLY_PACKETS = 256;

function checkSpecFor(spec: RuntimeGameSpec, p2p: boolean): string | null {
  if (!p2p) return checkSpec(spec);
  // A P2P game has one human per peer: check it without the one-human rule of client-side games.
  const humans = spec.agents?.filter((a) => spec.policies?.[a]?.kind === "human") ?? [];
  const single = { ...spec, policies: Object.fromEntries(Object.entries(spec.policies ?? {}).map(([a, p]) => [a, humans.includes(a) && a !== humans[0] ? { kind: "random" as const } : p])) };
  return checkSpec(single) ?? checkP2PSpec(spec as RuntimeP2PSpec);
}

/** A P2P game (docs/p2p.md, "The worker"): load like runGame, then a P2PLoop on the worker's timers. */
async function runP2PGame(run: Run): Promise<void> {
  const { runId } = run;
  const spec = run.spec as RuntimeP2PSpec;
  const marks: RuntimeMarks = { runReceived: wallNow() };
  const progress = (fraction: number, label: string) => post({ type: "progress", runId, fraction, label });
  let result: "done" | "error" | "stopped" = "error";
  try {
    const problem = checkSpecFor(spec, true);
    if (problem) throw new LoadFailure(`Invalid P2P game spec: ${problem}`);
    if (fatal) throw new LoadFailure("The Python runtime failed in an earlier game; start a new runtime (reload the page).");
    if (!urls || !ready) throw new LoadFailure("The runtime was not preloaded");
    const { bridge } = await ready.catch((err: unknown) => {
      throw new LoadFailure(errorText(err), err instanceof LoadFailure ? err.traceback : null);
    });
    // ONNX bots (docs/p2p.md, "Bots"): their sessions load while packages install and the env code runs.
    const models: Record<string, ModelSpec> = {};
    const botFailure = (agent: string, err: unknown) => new LoadFailure(`Could not load the AI policy of agent '${agent}': ${errorText(err)}`);
    for (const agent of spec.agents.filter((a) => spec.policies[a]?.kind === "onnx")) {
      try {
        models[agent] = parseModelSpec((spec.policies[agent] as { kind: "onnx"; model: object }).model);
      } catch (err) {
        throw botFailure(agent, err);
      }
    }
    const ortBase = urls.ortWasmBase;
    const sessions = Object.entries(models).map(([agent, model]) => {
      const loading = loadSession(model.model_url, { wasmBase: ortBase }).then(
        (session) => [agent, session as unknown as SessionLike] as const,
        (err: unknown) => {
          throw botFailure(agent, err);
        },
      );
      loading.catch(() => undefined); // awaited after the env loads
      return loading;
    });
    if (!(await installPackages(bridge, run, progress))) return;
    marks.packagesInstalled = wallNow();
    progress(0.85, "env");
    const humans = spec.peers.map((p) => p.agent);
    const randomAgents = spec.agents.filter((a) => spec.policies[a]?.kind === "random");
    const pyGame = bridge.Game(
      JSON.stringify({
        env_code: spec.envCode,
        agents: spec.agents,
        record_observations: spec.recordObservations,
        random_agents: randomAgents,
        onnx_agents: Object.fromEntries(Object.entries(models).map(([agent, model]) => [agent, onnxAgentOptions(model)])),
        p2p: true,
        humans,
        seed: spec.seed,
        max_steps: spec.maxSteps,
        freeze_frames: Math.round(spec.resetFreezeS * spec.fps),
      }),
    );
    const loaded = parse<{ actions: Record<string, DiscreteSpace> }>(pyGame.load());
    if (!loaded.ok) {
      pyGame.destroy();
      if (loaded.stage === "no_snapshot") throw new LoadFailure(`This env cannot be played peer-to-peer: ${loaded.error}`, loaded.traceback);
      throw loadFailure(loaded);
    }
    const game = new PyP2PGame(pyGame);
    let bots: P2PBotSet | null = null;
    if (sessions.length) {
      try {
        const loadedBots: Record<string, P2POnnxBot> = {};
        for (const [agent, session] of await Promise.all(sessions)) {
          try {
            loadedBots[agent] = new P2POnnxBot(session, models[agent] as ModelSpec, agent, ortRuntime);
          } catch (err) {
            throw botFailure(agent, err);
          }
        }
        bots = new P2PBotSet(loadedBots);
      } catch (err) {
        game.close();
        throw err;
      }
    }
    const clock = {
      now: () => performance.now(),
      wall: () => Date.now() / 1000,
      sleep: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
    };
    let loop: P2PLoop;
    try {
      const sink: P2PSink = {
        frame: (frame) => {
          post({ type: "frame", runId, frame });
          saveSnapshot();
        },
        status: (status, info) => post({ type: "status", runId, status, info }),
        record: (record) => post({ type: "record", runId, record }),
        error: (message, traceback) => post({ type: "error", runId, message, traceback }),
        netOut: (packets) => post({ type: "net_out", runId, packets }),
        event: (event) => post({ type: "p2p_event", runId, event }),
        stats: (stats) => post({ type: "p2p_stats", runId, stats }),
      };
      loop = new P2PLoop(spec, game, loaded.actions, clock, sink, bots);
    } catch (err) {
      game.close();
      throw new LoadFailure(`Could not set up the P2P game: ${errorText(err)}`);
    }
    if (run.stopped) {
      game.close();
      return;
    }
    progress(1, "ready");
    marks.envLoaded = wallNow();
    post({ type: "loaded", runId, marks });
    run.p2p = loop;
    for (const action of run.early) loop.setAction(action);
    if (run.earlyFocus !== null && run.earlyFocus !== undefined) loop.setFocus(run.earlyFocus);
    run.early = [];
    const running = loop.run();
    for (const { from, bytes } of run.earlyNet ?? []) loop.netIn(from, bytes);
    run.earlyNet = [];
    if (run.stopped) loop.stop();
    result = await running;
    fatal ||= game.fatal;
  } catch (err) {
    if (run.stopped) return;
    reportLoadFailure(run, err);
    result = "error";
  } finally {
    saveSnapshot();
    if (current === run) current = null;
    post({ type: "end", runId, result: run.stopped ? "stopped" : result, fatal });
  }
}

// -- messages from the page ----------------------------------------------------------------------

scope.onmessage = (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  switch (message.type) {
    case "preload":
      void preload(message.urls, message.memorySnapshot).catch(() => undefined);
      break;
    case "run":
    case "run_p2p": {
      if (current) {
        current.stopped = true;
        current.loop?.stop();
        current.p2p?.stop();
      }
      const p2p = message.type === "run_p2p";
      const run: Run = { runId: message.runId, spec: message.spec, stopped: false, loop: null, early: [], p2p: null, earlyNet: [], earlyFocus: null };
      current = run;
      void (p2p ? runP2PGame(run) : runGame(run));
      break;
    }
    case "action":
      if (current?.runId === message.runId) {
        const loop = current.loop ?? current.p2p;
        if (loop) loop.setAction(message.action);
        else current.early.push(message.action);
      }
      break;
    case "net_in":
      if (current?.runId === message.runId) {
        if (current.p2p) current.p2p.netIn(message.from, message.bytes);
        else if (current.earlyNet && current.earlyNet.length < MAX_EARLY_PACKETS) current.earlyNet.push({ from: message.from, bytes: message.bytes });
      }
      break;
    case "focus":
      if (current?.runId === message.runId) {
        if (current.p2p) current.p2p.setFocus(message.focused);
        else current.earlyFocus = message.focused;
      }
      break;
    case "test_desync":
      if (current?.runId === message.runId) current.p2p?.testDesync();
      break;
    case "test_freeze":
      if (current?.runId === message.runId) current.p2p?.testFreeze(message.ms);
      break;
    case "stop":
      if (current?.runId === message.runId) {
        current.stopped = true;
        current.loop?.stop();
        current.p2p?.stop();
      }
      break;
  }
};
