// ONNX bots of a P2P game (docs/p2p.md, "Bots"): every peer's worker runs the bot's model, and the
// bot's action at a frame must be the same on every peer and in every re-simulation of that frame.
// So a bot here keeps no state of its own: each query brings everything the action depends on —
// the observation, the recurrent state (kept by bridge.py in the game's snapshots) and the uniform
// draw (a pure function of seed, episode, step and agent) — and the answer is the sampled action
// and the new recurrent state, which go back into the game's state. The model's run, the float64
// softmax and the sampling (policies/sampling.ts, bit-exact) are the same code on every peer.
// State tensors travel as base64 text of their little-endian float32 bytes: exact, and far
// cheaper for Python to carry, copy and checksum than lists of numbers in JSON.
import type { OrtLike, SessionLike, TensorLike } from "../policies/onnx_policy";
import { sampleIndex, softmax } from "../policies/sampling";
import { PolicyError, type ModelSpec } from "../policies/spec";
import { fitObservationShape, flattenObservation, typedData } from "../policies/tensors";
import { BotFailure } from "./loop";
import type { BotAnswer, BotQuery, P2PBotPause } from "./p2p_host";

/** Answers a paused batch's bot queries (the loop awaits it, then resumes the batch). */
export interface P2PBots {
  answer(pause: P2PBotPause): Promise<Record<string, BotAnswer>>;
}

/** What bridge.py needs to know of an ONNX bot (its `onnx_agents` entry). */
export interface OnnxAgentOptions {
  n_actions: number | null;
  frame_skip: number;
  /** Element count of each recurrent state tensor, in the model config's order. */
  state_sizes: number[];
}

function product(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** float32 values as base64 text of their little-endian bytes (how state tensors travel). */
export function encodeFloat32(values: ArrayLike<number>): string {
  const view = new DataView(new ArrayBuffer(values.length * 4));
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  const bytes = new Uint8Array(view.buffer);
  let text = "";
  for (let i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]!);
  return btoa(text);
}

/** encodeFloat32's inverse; `size` values expected. */
export function decodeFloat32(text: string, size: number): Float32Array {
  let raw: string;
  try {
    raw = atob(text);
  } catch {
    throw new PolicyError("a recurrent state is not base64 text");
  }
  if (raw.length !== size * 4) throw new PolicyError(`a recurrent state holds ${raw.length / 4} float32 values, expected ${size}`);
  const view = new DataView(new ArrayBuffer(raw.length));
  for (let i = 0; i < raw.length; i++) view.setUint8(i, raw.charCodeAt(i));
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

/** Why a model spec cannot drive a P2P bot, or null: a custom_inference_fn keeps its own state
 * (context.state, JS objects) and draws from a stateful generator, neither of which a rollback
 * snapshot can hold. */
export function p2pBotProblem(spec: { custom_inference_fn?: unknown }): string | null {
  if (spec.custom_inference_fn !== null && spec.custom_inference_fn !== undefined) {
    return "has a custom_inference_fn, which a P2P game cannot run: its own state (context.state) and draws cannot be saved in rollback snapshots; use the declarative ModelConfig fields (obs_input, logit_output, state_inputs/state_outputs, fixed_inputs)";
  }
  return null;
}

/** The `onnx_agents` entry of a bot for bridge.py. */
export function onnxAgentOptions(spec: ModelSpec): OnnxAgentOptions {
  return { n_actions: spec.n_actions, frame_skip: spec.frame_skip, state_sizes: spec.state.map((s) => product(s.shape)) };
}

/** One ONNX bot: a stateless function of its query (the session is onnxruntime-web's, shared). */
export class P2POnnxBot {
  private readonly fixed: Record<string, TensorLike> = {};
  private readonly fetches: string[];

  constructor(
    readonly session: SessionLike,
    readonly spec: ModelSpec,
    readonly agentId: string,
    private readonly ort: OrtLike,
  ) {
    const problem = p2pBotProblem(spec);
    if (problem) throw new PolicyError(`agent '${agentId}': the ONNX policy ${problem}`);
    const inputs = new Set(session.inputNames);
    const outputs = new Set(session.outputNames);
    for (const n of [spec.obs_input, ...spec.state.map((s) => s.input), ...spec.fixed_inputs.map((f) => f.name)]) {
      if (!inputs.has(n)) throw new PolicyError(`'${n}' is not an input of the model; its inputs are: ${[...inputs].join(", ")}`);
    }
    for (const n of [spec.logit_output, ...spec.state.map((s) => s.output)]) {
      if (!outputs.has(n)) throw new PolicyError(`'${n}' is not an output of the model; its outputs are: ${[...outputs].join(", ")}`);
    }
    for (const f of spec.fixed_inputs) this.fixed[f.name] = new ort.Tensor(f.dtype, typedData(f.dtype, f.data), f.shape);
    this.fetches = [spec.logit_output, ...spec.state.map((s) => s.output)];
  }

  /** Run the model on the query's observation and state; sample with the query's draw. */
  async query(q: BotQuery): Promise<BotAnswer> {
    const spec = this.spec;
    const flat = flattenObservation(q.observation);
    const feeds: Record<string, TensorLike> = { ...this.fixed };
    feeds[spec.obs_input] = new this.ort.Tensor("float32", flat.data, fitObservationShape(flat.shape, spec.obs_shape, spec.obs_input));
    if (q.memory !== null && q.memory.length !== spec.state.length) {
      throw new PolicyError(`the recurrent state has ${q.memory.length} tensors, the model config ${spec.state.length}`);
    }
    spec.state.forEach((s, i) => {
      const size = product(s.shape);
      const text = q.memory?.[i];
      feeds[s.input] = new this.ort.Tensor("float32", text === undefined ? new Float32Array(size) : decodeFloat32(text, size), s.shape);
    });
    let out: Record<string, TensorLike>;
    try {
      out = await this.session.run(feeds, this.fetches);
    } catch (err) {
      throw new PolicyError(`inference failed: ${errorText(err)}`);
    }
    const raw = out[spec.logit_output];
    if (!raw) throw new PolicyError(`logit_output '${spec.logit_output}' missing from the model's outputs`);
    const d = raw.dims;
    if (!((d.length === 1 || (d.length === 2 && d[0] === 1)) && d[d.length - 1]! >= 1)) {
      throw new PolicyError(`logit_output '${spec.logit_output}' came out with shape [${d.join(", ")}]; expected [1, n] or [n]`);
    }
    let action: number;
    try {
      action = sampleIndex(softmax(Array.from(raw.data as ArrayLike<number>, Number)), q.u);
    } catch (err) {
      throw new PolicyError(`bad logits: ${errorText(err)}`);
    }
    const memory = spec.state.map((s) => {
      const t = out[s.output];
      if (!t) throw new PolicyError(`state output '${s.output}' missing from the model's outputs`);
      if (!sameDims(t.dims, s.shape)) throw new PolicyError(`state output '${s.output}' came out with shape [${t.dims.join(", ")}], expected [${s.shape.join(", ")}]`);
      const values = t.data as ArrayLike<number>;
      for (let i = 0; i < values.length; i++) {
        if (!Number.isFinite(values[i])) throw new PolicyError(`state output '${s.output}' holds NaN or infinity, which the game's snapshots cannot carry`);
      }
      return encodeFloat32(values);
    });
    return { action, memory };
  }
}

/** The bots of one game by agent; answers a pause's queries one after the other (one model run at
 * a time, in the queries' order). Failures are BotFailures naming the agent. */
export class P2PBotSet implements P2PBots {
  /** Model runs and the time they took (ms), for stats and benchmarks. */
  queries = 0;
  inferenceMs = 0;

  constructor(
    readonly bots: Record<string, P2POnnxBot>,
    private readonly now: () => number = () => performance.now(),
  ) {}

  async answer(pause: P2PBotPause): Promise<Record<string, BotAnswer>> {
    const answers: Record<string, BotAnswer> = {};
    for (const q of pause.queries) {
      const bot = this.bots[q.agent];
      if (!bot) throw new BotFailure(q.agent, `frame ${pause.frame}: agent '${q.agent}' has no ONNX bot in this worker`, null);
      const before = this.now();
      try {
        answers[q.agent] = await bot.query(q);
      } catch (err) {
        throw new BotFailure(q.agent, errorText(err), err instanceof Error ? (err.stack ?? null) : null);
      }
      this.inferenceMs += this.now() - before;
      this.queries++;
    }
    return answers;
  }
}
