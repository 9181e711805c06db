// Observation -> float32 tensor data and shape, with the same rules as mug/policies/onnx_policy.py.
import { PolicyError, type FixedDtype } from "./spec";

export interface Flat {
  data: Float32Array;
  shape: number[];
}

function flattenInto(value: unknown, depth: number, shape: number[], out: number[]): void {
  if (typeof value === "number" || typeof value === "boolean") {
    if (depth !== shape.length) throw new PolicyError("observation is ragged (nested lists of different depths)");
    out.push(Number(value));
    return;
  }
  let items: ArrayLike<unknown>;
  if (Array.isArray(value)) items = value;
  else if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    if (value instanceof BigInt64Array || value instanceof BigUint64Array) items = Array.from(value, Number);
    else items = value as unknown as ArrayLike<number>;
  } else {
    throw new PolicyError(`observation must be numbers, booleans, (nested) arrays or typed arrays, got ${describe(value)}`);
  }
  if (depth === shape.length) {
    if (out.length > 0) throw new PolicyError("observation is ragged (nested lists of different depths)");
    shape.push(items.length);
  } else if (depth > shape.length || shape[depth] !== items.length) {
    throw new PolicyError("observation is ragged (nested lists of different lengths)");
  }
  for (let i = 0; i < items.length; i++) flattenInto(items[i], depth + 1, shape, out);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (typeof value === "object") return value.constructor?.name ?? "object";
  return typeof value;
}

/** Row-major float32 data and the shape of an observation (number, boolean, nested arrays, typed arrays). */
export function flattenObservation(observation: unknown): Flat {
  if (observation === null || observation === undefined) throw new PolicyError("no observation");
  if (observation instanceof Float32Array) return { data: observation, shape: [observation.length] };
  const shape: number[] = [];
  const out: number[] = [];
  flattenInto(observation, 0, shape, out);
  // Depth-first flattening fixes shape[d] at the first element of each depth; a shallower leaf later
  // (e.g. [[1, 2], 3]) is caught above, a deeper one is caught by the length check.
  return { data: Float32Array.from(out), shape };
}

function fits(actual: readonly number[], declared: readonly (number | null)[]): boolean {
  return actual.length === declared.length && declared.every((d, i) => d === null || d === actual[i]);
}

/** The shape to feed: the observation's own; with a leading batch dim 1; or the declared shape with a
 * symbolic batch dim as 1 when only the batch dim is symbolic and the sizes agree. */
export function fitObservationShape(shape: readonly number[], declared: readonly (number | null)[], name = "obs"): number[] {
  if (fits(shape, declared)) return [...shape];
  if (fits([1, ...shape], declared)) return [1, ...shape];
  if (declared.length > 0 && declared.slice(1).every((d) => d !== null)) {
    const target = declared.map((d, i) => (i === 0 && d === null ? 1 : (d as number)));
    const size = shape.reduce((a, b) => a * b, 1);
    if (target.reduce((a, b) => a * b, 1) === size) return target;
  }
  const dims = declared.map((d) => (d === null ? "?" : String(d))).join(", ");
  throw new PolicyError(`observation of shape [${shape.join(", ")}] does not fit obs_input '${name}' [${dims}]`);
}

export type TypedData = Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | BigInt64Array;

/** Typed-array data for a fixed input (bool as Uint8Array 0/1, int64 as BigInt64Array), as onnxruntime-web wants. */
export function typedData(dtype: FixedDtype, data: readonly (number | boolean)[]): TypedData {
  const nums = () => data.map((v) => Number(v));
  switch (dtype) {
    case "float32":
      return Float32Array.from(nums());
    case "float64":
      return Float64Array.from(nums());
    case "int8":
      return Int8Array.from(nums());
    case "uint8":
    case "bool":
      return Uint8Array.from(nums());
    case "int16":
      return Int16Array.from(nums());
    case "uint16":
      return Uint16Array.from(nums());
    case "int32":
      return Int32Array.from(nums());
    case "int64":
      return BigInt64Array.from(data.map((v) => BigInt(Number(v))));
  }
}
