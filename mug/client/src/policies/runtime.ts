// onnxruntime-web wiring: the wasm runtime is served by our own server (static/vendor/ort/), one
// thread (pages are not cross-origin isolated), one cached session per model URL.
import * as ort from "onnxruntime-web/wasm";
import { FrameSkipPolicy } from "./frame_skip";
import { OnnxPolicy, type OrtLike, type Policy, type SessionLike } from "./onnx_policy";
import { parseModelSpec, PolicyError, type ModelSpec } from "./spec";

export interface OrtOptions {
  /** Where ort-wasm-simd-threaded.{mjs,wasm} are served; default new URL("static/vendor/ort/", location.href).
   * Pages loaded from a blob: or proxied URL (notebook widgets) pass their server's absolute URL. */
  wasmBase?: string | URL;
}

let configured: string | null = null;

/** Points onnxruntime-web at our self-hosted wasm files (no CDN) and uses one thread. Idempotent. */
export function configureOrt(options: OrtOptions = {}): string {
  const base = new URL(options.wasmBase ?? "static/vendor/ort/", globalThis.location?.href).href;
  if (configured !== null && configured === base) return base;
  ort.env.wasm.wasmPaths = base;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  configured = base;
  return base;
}

const sessions = new Map<string, Promise<ort.InferenceSession>>();

/** The cached session of a model URL (resolved against the page), created on first use. */
export function loadSession(modelUrl: string, options: OrtOptions = {}): Promise<ort.InferenceSession> {
  configureOrt(options);
  const url = new URL(modelUrl, globalThis.location?.href).href;
  let session = sessions.get(url);
  if (!session) {
    session = ort.InferenceSession.create(url, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
    sessions.set(url, session);
    session.catch(() => sessions.delete(url));
  }
  return session.catch((err: unknown) => {
    throw new PolicyError(`cannot load the model ${url}: ${(err as Error)?.message ?? String(err)}`);
  });
}

/** Drops every cached session (releasing them). */
export async function clearSessionCache(): Promise<void> {
  const all = [...sessions.values()];
  sessions.clear();
  for (const s of all) {
    try {
      await (await s).release();
    } catch {
      // a session that failed to load has nothing to release
    }
  }
}

/** The onnxruntime-web module in the shape OnnxPolicy takes. */
export const ortRuntime: OrtLike = ort as unknown as OrtLike;

/** An OnnxPolicy for one agent from a ModelConfig.client_spec() JSON object; wrapped in a
 * FrameSkipPolicy when the spec's frame_skip > 1. Call reset(seed) at each episode start. */
export async function createPolicy(rawSpec: unknown, agentId: string, options: OrtOptions = {}): Promise<Policy> {
  const spec: ModelSpec = parseModelSpec(rawSpec);
  const session = await loadSession(spec.model_url, options);
  const policy = new OnnxPolicy(session as unknown as SessionLike, spec, agentId, ortRuntime);
  return spec.frame_skip > 1 ? new FrameSkipPolicy(policy, spec.frame_skip) : policy;
}

export { ort };
