// The JSON spec of an ONNX policy, as produced by mug.policies.ModelConfig.client_spec(model_url).

export class PolicyError extends Error {
  override name = "PolicyError";
}

export const SPEC_VERSION = 1;

export type FixedDtype = "float32" | "float64" | "int8" | "uint8" | "int16" | "uint16" | "int32" | "int64" | "bool";
const FIXED_DTYPES: readonly string[] = ["float32", "float64", "int8", "uint8", "int16", "uint16", "int32", "int64", "bool"];

export interface StatePair {
  input: string;
  output: string;
  shape: number[];
}

export interface FixedInput {
  name: string;
  dtype: FixedDtype;
  shape: number[];
  data: (number | boolean)[];
}

export interface ModelSpec {
  kind: "onnx";
  version: number;
  model_url: string;
  obs_input: string;
  /** The obs input's declared dims; null where the model leaves a dim symbolic. */
  obs_shape: (number | null)[];
  logit_output: string;
  n_actions: number | null;
  state: StatePair[];
  fixed_inputs: FixedInput[];
  /** Body of an async JS function (session, observation, modelConfig, context) => action. */
  custom_inference_fn: string | null;
  frame_skip: number;
}

function fail(what: string): never {
  throw new PolicyError(`invalid model spec: ${what}`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function name(v: unknown, field: string): string {
  if (typeof v !== "string" || v.length === 0) fail(`${field} must be a non-empty string, got ${JSON.stringify(v)}`);
  return v;
}

function shape(v: unknown, field: string, nullable: boolean, min: number): (number | null)[] {
  if (!Array.isArray(v)) fail(`${field} must be a list of dims, got ${JSON.stringify(v)}`);
  return v.map((d: unknown) => {
    if (d === null && nullable) return null;
    if (typeof d !== "number" || !Number.isInteger(d) || d < min) {
      fail(`${field} must hold ints >= ${min}${nullable ? " or null" : ""}, got ${JSON.stringify(v)}`);
    }
    return d;
  });
}

/** Checks a spec received from the server (shapes, names, dtypes); throws PolicyError naming the field. */
export function parseModelSpec(raw: unknown): ModelSpec {
  if (!isRecord(raw)) fail(`expected an object, got ${JSON.stringify(raw)}`);
  if (raw.kind !== "onnx") fail(`kind must be "onnx", got ${JSON.stringify(raw.kind)}`);
  if (raw.version !== SPEC_VERSION) fail(`version ${JSON.stringify(raw.version)} is not supported (expected ${SPEC_VERSION})`);
  const state = raw.state ?? [];
  if (!Array.isArray(state)) fail("state must be a list");
  const fixed = raw.fixed_inputs ?? [];
  if (!Array.isArray(fixed)) fail("fixed_inputs must be a list");
  const nActions = raw.n_actions ?? null;
  if (nActions !== null && (typeof nActions !== "number" || !Number.isInteger(nActions) || nActions < 1)) {
    fail(`n_actions must be a positive int or null, got ${JSON.stringify(nActions)}`);
  }
  const custom = raw.custom_inference_fn ?? null;
  if (custom !== null && (typeof custom !== "string" || custom.trim() === "")) {
    fail("custom_inference_fn must be a non-empty string (a JS async function body) or null");
  }
  const frameSkip = raw.frame_skip ?? 1;
  if (typeof frameSkip !== "number" || !Number.isInteger(frameSkip) || frameSkip < 1) {
    fail(`frame_skip must be an int >= 1, got ${JSON.stringify(frameSkip)}`);
  }
  const spec: ModelSpec = {
    kind: "onnx",
    version: SPEC_VERSION,
    model_url: name(raw.model_url, "model_url"),
    obs_input: name(raw.obs_input, "obs_input"),
    obs_shape: shape(raw.obs_shape, "obs_shape", true, 0),
    logit_output: name(raw.logit_output, "logit_output"),
    n_actions: nActions as number | null,
    state: state.map((s: unknown, i: number) => {
      if (!isRecord(s)) fail(`state[${i}] must be {input, output, shape}`);
      return {
        input: name(s.input, `state[${i}].input`),
        output: name(s.output, `state[${i}].output`),
        shape: shape(s.shape, `state[${i}].shape`, false, 1) as number[],
      };
    }),
    fixed_inputs: fixed.map((f: unknown, i: number) => {
      if (!isRecord(f)) fail(`fixed_inputs[${i}] must be {name, dtype, shape, data}`);
      const dtype = f.dtype;
      if (typeof dtype !== "string" || !FIXED_DTYPES.includes(dtype)) {
        fail(`fixed_inputs[${i}].dtype must be one of ${FIXED_DTYPES.join(", ")}, got ${JSON.stringify(dtype)}`);
      }
      const dims = shape(f.shape, `fixed_inputs[${i}].shape`, false, 0) as number[];
      const data = f.data;
      const size = dims.reduce((a, b) => a * b, 1);
      if (!Array.isArray(data) || data.length !== size) {
        fail(`fixed_inputs[${i}].data must be a flat list of ${size} values`);
      }
      for (const v of data as unknown[]) {
        if (dtype === "bool" ? typeof v !== "boolean" : typeof v !== "number") {
          fail(`fixed_inputs[${i}].data must hold ${dtype === "bool" ? "booleans" : "numbers"}`);
        }
      }
      return { name: name(f.name, `fixed_inputs[${i}].name`), dtype: dtype as FixedDtype, shape: dims, data: data as (number | boolean)[] };
    }),
    custom_inference_fn: custom as string | null,
    frame_skip: frameSkip,
  };
  return spec;
}
