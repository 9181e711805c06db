// The TypeScript sampling twins against golden values computed by Python (tests/policies/policies_golden.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import { agentRng, exp64, fnv1a32, Pcg32, sampleIndex, softmax } from "../../src/policies/sampling";
import { fitObservationShape, flattenObservation } from "../../src/policies/tensors";
import { PolicyError } from "../../src/policies/spec";
import goldenJson from "../policies/golden.json";

interface Golden {
  pcg32: { initstate: string; initseq: string; u32: number[] }[];
  fnv1a32: { text: string; hash: number }[];
  agent_rng: { seed: number | string; agent_id: string; uniform: number[] }[];
  exp64: number[][];
  softmax: { logits: (number | null)[]; probabilities: number[] }[];
  sample_index: { probabilities: number[]; u: number; index: number }[];
  sampling: { seed: number; agent_id: string; steps: { logits: (number | null)[]; action: number }[] }[];
  frame_skip: { frame_skip: number; episodes: number[][] }[];
  observation_shapes: { shape: number[]; declared: (number | null)[]; fed: number[] | null }[];
}

export const golden = goldenJson as Golden;

const logits = (xs: (number | null)[]) => xs.map((x) => (x === null ? -Infinity : x));
const seedOf = (s: number | string) => (typeof s === "string" ? BigInt(s) : s);

test("PCG32 matches the reference generator (pcg32_srandom_r(42, 54) and more)", () => {
  for (const c of golden.pcg32) {
    const rng = new Pcg32(BigInt(c.initstate), BigInt(c.initseq));
    assert.deepEqual(
      c.u32.map(() => rng.nextU32()),
      c.u32,
      `initstate ${c.initstate}, initseq ${c.initseq}`,
    );
  }
  // The PCG reference demo's first outputs for seed 42, sequence 54.
  assert.equal(golden.pcg32[0]!.u32[0], 0xa15c02b7);
});

test("FNV-1a 32 over UTF-8 agrees with Python", () => {
  for (const c of golden.fnv1a32) assert.equal(fnv1a32(c.text), c.hash, c.text);
});

test("per-agent streams: uniform() draws agree bit for bit (negative, 2**53-1 and bigint seeds)", () => {
  for (const c of golden.agent_rng) {
    const rng = agentRng(seedOf(c.seed), c.agent_id);
    assert.deepEqual(
      c.uniform.map(() => rng.uniform()),
      c.uniform,
      `seed ${c.seed} agent ${c.agent_id}`,
    );
  }
});

test("exp64 gives Python's bits", () => {
  for (const [x, y] of golden.exp64 as [number, number][]) assert.ok(Object.is(exp64(x), y), `exp64(${x}) = ${exp64(x)}, Python ${y}`);
  assert.equal(exp64(-Infinity), 0);
  assert.throws(() => exp64(0.5), RangeError);
  assert.throws(() => exp64(Number.NaN), RangeError);
});

test("softmax gives Python's float64 probabilities exactly", () => {
  for (const c of golden.softmax) assert.deepEqual(softmax(logits(c.logits)), c.probabilities, JSON.stringify(c.logits));
  assert.throws(() => softmax([]), RangeError);
  assert.throws(() => softmax([1, Number.NaN]), RangeError);
  assert.throws(() => softmax([1, Infinity]), RangeError);
  assert.throws(() => softmax([-Infinity, -Infinity]), RangeError);
});

test("sampleIndex picks the first index whose running sum exceeds u, else the last non-zero", () => {
  for (const c of golden.sample_index) assert.equal(sampleIndex(c.probabilities, c.u), c.index, `u=${c.u}`);
});

test("seeded sampling sequences are identical to Python's", () => {
  for (const c of golden.sampling) {
    const rng = agentRng(c.seed, c.agent_id);
    const actions = c.steps.map((s) => sampleIndex(softmax(logits(s.logits)), rng.uniform()));
    assert.deepEqual(
      actions,
      c.steps.map((s) => s.action),
      `seed ${c.seed} agent ${c.agent_id}`,
    );
  }
});

test("observation shapes are fitted to the obs input as in Python", () => {
  for (const c of golden.observation_shapes) {
    const what = `shape [${c.shape}] into [${c.declared}]`;
    if (c.fed === null) assert.throws(() => fitObservationShape(c.shape, c.declared), PolicyError, what);
    else assert.deepEqual(fitObservationShape(c.shape, c.declared), c.fed, what);
  }
});

test("observations flatten row-major from numbers, nested arrays and typed arrays", () => {
  assert.deepEqual(flattenObservation(3), { data: Float32Array.of(3), shape: [] });
  assert.deepEqual(flattenObservation([[1, 2, 3], [4, 5, 6]]), { data: Float32Array.of(1, 2, 3, 4, 5, 6), shape: [2, 3] });
  assert.deepEqual(flattenObservation([true, false]), { data: Float32Array.of(1, 0), shape: [2] });
  assert.deepEqual(flattenObservation([Float64Array.of(0.1, 0.2)]), { data: Float32Array.of(0.1, 0.2), shape: [1, 2] });
  assert.deepEqual(flattenObservation([[], []]), { data: new Float32Array(0), shape: [2, 0] });
  for (const bad of [null, undefined, "1", { x: 1 }, [[1, 2], [3]], [[1, 2], 3], [1, [2]], [[1], [[2]]]]) {
    assert.throws(() => flattenObservation(bad), PolicyError, JSON.stringify(bad));
  }
});
