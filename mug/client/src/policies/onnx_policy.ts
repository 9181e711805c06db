// OnnxPolicy: the browser twin of mug/policies/onnx_policy.py. The onnxruntime-web module and the
// session are passed in (see runtime.ts), so this file runs in Node tests with a fake session.
import { agentRng, Pcg32, sampleIndex, seedBits, softmax } from "./sampling";
import { PolicyError, type ModelSpec } from "./spec";
import { fitObservationShape, flattenObservation, typedData, type TypedData } from "./tensors";

export type PolicyAction = null | boolean | number | string | PolicyAction[] | { [key: string]: PolicyAction };

/** What every browser policy offers; reset(seed) at each episode start, then act once per step. */
export interface Policy {
  reset(seed: number | bigint | null): void;
  act(observation: unknown): Promise<PolicyAction>;
}

/** The parts of an onnxruntime-web Tensor this module reads. */
export interface TensorLike {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
}

/** The parts of an onnxruntime-web InferenceSession this module uses. */
export interface SessionLike {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, TensorLike>, fetches?: readonly string[]): Promise<Record<string, TensorLike>>;
}

/** The parts of the onnxruntime-web module this module uses. */
export interface OrtLike {
  Tensor: new (type: string, data: TypedData, dims: readonly number[]) => TensorLike;
}

/** The 4th argument of a custom_inference_fn: what it needs to stay reproducible. */
export interface InferenceContext {
  /** The onnxruntime-web module (for ort.Tensor). */
  ort: OrtLike;
  agentId: string;
  /** 0-based count of act() calls in this episode (queries only, under frame_skip). */
  step: number;
  /** Draw from the policy's seeded RNG (PCG32): a float in [0, 1). */
  uniform(): number;
  /** Softmax (float64) + one draw from the policy's RNG: the declarative path's sampling. */
  sample(logits: ArrayLike<number>): number;
  /** A per-episode object for the function's own state (emptied by reset). */
  state: Record<string, unknown>;
}

export type CustomInferenceFn = (
  session: SessionLike,
  observation: unknown,
  modelConfig: ModelSpec,
  context: InferenceContext,
) => Promise<unknown>;

/** Compiles a custom_inference_fn body into an async function (session, observation, modelConfig, context). */
export function compileInferenceFn(body: string): CustomInferenceFn {
  const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor as new (
    ...args: string[]
  ) => CustomInferenceFn;
  try {
    return new AsyncFunction("session", "observation", "modelConfig", "context", body);
  } catch (err) {
    throw new PolicyError(`custom_inference_fn does not compile: ${(err as Error).message}`);
  }
}

export interface OnnxPolicySnapshot {
  seed: bigint | null;
  rng: [bigint, bigint] | null;
  step: number;
  recurrent: { dims: number[]; data: Float32Array }[];
  custom: Record<string, unknown>;
}

function product(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function isJson(value: unknown): value is PolicyAction {
  if (value === null || typeof value === "boolean" || typeof value === "string") return true;
  if (typeof value === "number") return Number.isFinite(value);
  if (Array.isArray(value)) return value.every(isJson);
  if (typeof value === "object") return Object.values(value as object).every(isJson);
  return false;
}

/**
 * A policy from an ONNX model (onnxruntime-web). act(observation) runs the model (or the spec's
 * custom_inference_fn), feeds the recurrent state outputs back next time, and samples an action
 * index from the float64 softmax of the logits with the agent's seeded PCG32 stream.
 */
export class OnnxPolicy implements Policy {
  readonly spec: ModelSpec;
  readonly agentId: string;
  readonly session: SessionLike;
  /** Logits and probabilities of the latest declarative step. */
  lastLogits: number[] | null = null;
  lastProbabilities: number[] | null = null;
  seed: bigint | null = null;

  private readonly ort: OrtLike;
  private readonly fixed: Record<string, TensorLike>;
  private readonly fetches: string[];
  private readonly custom: CustomInferenceFn | null;
  private rng: Pcg32 | null = null;
  private recurrent: TensorLike[] = [];
  private customState: Record<string, unknown> = {};
  private step = 0;
  private epoch = 0;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(session: SessionLike, spec: ModelSpec, agentId: string, ort: OrtLike) {
    this.session = session;
    this.spec = spec;
    this.agentId = agentId;
    this.ort = ort;
    const known = new Set(session.inputNames);
    const outputs = new Set(session.outputNames);
    if (spec.custom_inference_fn === null) {
      for (const n of [spec.obs_input, ...spec.state.map((s) => s.input), ...spec.fixed_inputs.map((f) => f.name)]) {
        if (!known.has(n)) throw new PolicyError(`'${n}' is not an input of the model; its inputs are: ${[...known].join(", ")}`);
      }
      for (const n of [spec.logit_output, ...spec.state.map((s) => s.output)]) {
        if (!outputs.has(n)) throw new PolicyError(`'${n}' is not an output of the model; its outputs are: ${[...outputs].join(", ")}`);
      }
    }
    this.fixed = {};
    for (const f of spec.fixed_inputs) this.fixed[f.name] = new ort.Tensor(f.dtype, typedData(f.dtype, f.data), f.shape);
    this.fetches = [spec.logit_output, ...spec.state.map((s) => s.output)];
    this.custom = spec.custom_inference_fn === null ? null : compileInferenceFn(spec.custom_inference_fn);
  }

  /** Episode start: zero recurrent state, RNG agentRng(seed, agentId); null draws a random seed. */
  reset(seed: number | bigint | null): void {
    const bits = seed === null ? randomSeed() : seedBits(seed);
    this.seed = bits;
    this.rng = agentRng(bits, this.agentId);
    this.recurrent = this.spec.state.map((s) => new this.ort.Tensor("float32", new Float32Array(product(s.shape)), s.shape));
    this.customState = {};
    this.step = 0;
    this.epoch++;
    this.lastLogits = this.lastProbabilities = null;
  }

  /** One step. Calls are queued, so an act() issued before the previous one settles still runs in order. */
  act(observation: unknown): Promise<PolicyAction> {
    if (this.rng === null) return Promise.reject(new PolicyError(`agent '${this.agentId}': call reset(seed) before act()`));
    const epoch = this.epoch;
    const run = this.queue.then(() => this.actNow(observation, epoch));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Runs the model once on an observation (advancing the recurrent state) and returns the logits. */
  logits(observation: unknown): Promise<number[]> {
    if (this.rng === null) return Promise.reject(new PolicyError(`agent '${this.agentId}': call reset(seed) before act()`));
    const epoch = this.epoch;
    const run = this.queue.then(() => this.inferNow(observation, epoch));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async actNow(observation: unknown, epoch: number): Promise<PolicyAction> {
    const rng = this.rng!;
    if (this.custom !== null) {
      const step = this.step++;
      const context: InferenceContext = {
        ort: this.ort,
        agentId: this.agentId,
        step,
        uniform: () => rng.uniform(),
        sample: (logits) => sampleIndex(softmax(logits), rng.uniform()),
        state: this.customState,
      };
      let action: unknown;
      try {
        action = await this.custom(this.session, observation, this.spec, context);
      } catch (err) {
        throw new PolicyError(`agent '${this.agentId}': custom_inference_fn threw: ${(err as Error)?.message ?? String(err)}`);
      }
      if (action === undefined || !isJson(action)) {
        throw new PolicyError(`agent '${this.agentId}': custom_inference_fn must return a JSON action, got ${String(action)}`);
      }
      return action;
    }
    const logits = await this.inferNow(observation, epoch);
    let probabilities: number[];
    try {
      probabilities = softmax(logits);
    } catch (err) {
      throw new PolicyError(`agent '${this.agentId}': bad logits: ${(err as Error).message}`);
    }
    this.lastProbabilities = probabilities;
    return sampleIndex(probabilities, rng.uniform());
  }

  private async inferNow(observation: unknown, epoch: number): Promise<number[]> {
    if (epoch !== this.epoch) throw new PolicyError(`agent '${this.agentId}': the episode was reset before this act() ran`);
    const spec = this.spec;
    let flat: ReturnType<typeof flattenObservation>;
    let dims: number[];
    try {
      flat = flattenObservation(observation);
      dims = fitObservationShape(flat.shape, spec.obs_shape, spec.obs_input);
    } catch (err) {
      throw new PolicyError(`agent '${this.agentId}': ${(err as Error).message}`);
    }
    const feeds: Record<string, TensorLike> = { ...this.fixed };
    feeds[spec.obs_input] = new this.ort.Tensor("float32", flat.data, dims);
    spec.state.forEach((s, i) => {
      feeds[s.input] = this.recurrent[i]!;
    });
    let out: Record<string, TensorLike>;
    try {
      out = await this.session.run(feeds, this.fetches);
    } catch (err) {
      throw new PolicyError(`agent '${this.agentId}': inference failed: ${(err as Error)?.message ?? String(err)}`);
    }
    if (epoch !== this.epoch) throw new PolicyError(`agent '${this.agentId}': the episode was reset during this act()`);
    const raw = out[spec.logit_output];
    if (!raw) throw new PolicyError(`logit_output '${spec.logit_output}' missing from the model's outputs`);
    const d = raw.dims;
    if (!((d.length === 1 || (d.length === 2 && d[0] === 1)) && d[d.length - 1]! >= 1)) {
      throw new PolicyError(`logit_output '${spec.logit_output}' came out with shape [${d.join(", ")}]; expected [1, n] or [n]`);
    }
    const logits = Array.from(raw.data as ArrayLike<number>, Number);
    this.recurrent = spec.state.map((s) => {
      const t = out[s.output];
      if (!t) throw new PolicyError(`state output '${s.output}' missing from the model's outputs`);
      if (!sameDims(t.dims, s.shape)) {
        throw new PolicyError(`state output '${s.output}' came out with shape [${t.dims.join(", ")}], expected [${s.shape.join(", ")}]`);
      }
      return t;
    });
    this.step++;
    this.lastLogits = logits;
    return logits;
  }

  /** Everything act() depends on besides the observation (for rollback or replay). A custom function's
   * context.state is copied shallowly: store values you replace (like output tensors), not ones you mutate. */
  snapshot(): OnnxPolicySnapshot {
    return {
      seed: this.seed,
      rng: this.rng === null ? null : this.rng.getState(),
      step: this.step,
      recurrent: this.recurrent.map((t) => ({ dims: [...t.dims], data: Float32Array.from(t.data as Float32Array) })),
      custom: { ...this.customState },
    };
  }

  restore(snapshot: OnnxPolicySnapshot): void {
    this.seed = snapshot.seed;
    if (snapshot.rng === null) this.rng = null;
    else {
      this.rng = agentRng(0, this.agentId);
      this.rng.setState(snapshot.rng);
    }
    this.step = snapshot.step;
    this.recurrent = snapshot.recurrent.map((r) => new this.ort.Tensor("float32", Float32Array.from(r.data), r.dims));
    this.customState = { ...snapshot.custom };
    this.epoch++;
  }
}

function randomSeed(): bigint {
  const words = new Uint32Array(2);
  crypto.getRandomValues(words);
  return (BigInt(words[0]!) << 32n) | BigInt(words[1]!);
}
