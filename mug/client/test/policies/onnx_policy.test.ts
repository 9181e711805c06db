// OnnxPolicy, FrameSkipPolicy and the spec parser in Node, with a fake onnxruntime session
// (the real one runs in the browser parity test, tests/policies/test_policies_parity.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import { FrameSkipPolicy } from "../../src/policies/frame_skip";
import {
  compileInferenceFn,
  OnnxPolicy,
  type OrtLike,
  type Policy,
  type PolicyAction,
  type SessionLike,
  type TensorLike,
} from "../../src/policies/onnx_policy";
import { agentRng, sampleIndex, softmax } from "../../src/policies/sampling";
import { parseModelSpec, PolicyError, type ModelSpec } from "../../src/policies/spec";
import type { TypedData } from "../../src/policies/tensors";
import goldenJson from "../policies/golden.json";

class FakeTensor implements TensorLike {
  constructor(
    readonly type: string,
    readonly data: TypedData,
    readonly dims: readonly number[],
  ) {}
}
const fakeOrt: OrtLike = { Tensor: FakeTensor };

/** logits = obs * scale + h (h = running sum of observations, fed back through h_in/h_out). */
class FakeSession implements SessionLike {
  readonly inputNames = ["obs", "h_in", "scale"];
  readonly outputNames = ["logits", "h_out"];
  runs: Record<string, TensorLike>[] = [];
  stateDims: number[] = [1, 3];

  async run(feeds: Record<string, TensorLike>): Promise<Record<string, TensorLike>> {
    this.runs.push(feeds);
    const obs = feeds.obs!.data as Float32Array;
    const h = feeds.h_in!.data as Float32Array;
    const scale = (feeds.scale!.data as Float32Array)[0]!;
    const logits = new Float32Array(3);
    const hOut = new Float32Array(3);
    for (let i = 0; i < 3; i++) {
      logits[i] = obs[i]! * scale + h[i]!;
      hOut[i] = h[i]! + obs[i]!;
    }
    return { logits: new FakeTensor("float32", logits, [1, 3]), h_out: new FakeTensor("float32", hOut, this.stateDims) };
  }
}

function spec(extra: Partial<ModelSpec> = {}): ModelSpec {
  return parseModelSpec({
    kind: "onnx",
    version: 1,
    model_url: "models/fake.onnx",
    obs_input: "obs",
    obs_shape: [null, 3],
    logit_output: "logits",
    n_actions: 3,
    state: [{ input: "h_in", output: "h_out", shape: [1, 3] }],
    fixed_inputs: [{ name: "scale", dtype: "float32", shape: [1], data: [2] }],
    custom_inference_fn: null,
    frame_skip: 1,
    ...extra,
  });
}

const observations = [
  [0.5, -1, 2],
  [1, 1, 1],
  [-2, 0.25, 0],
  [0, 0, 3],
  [1.5, -0.5, 0.5],
];

async function play(policy: Policy, seed: number, obs: readonly unknown[] = observations): Promise<PolicyAction[]> {
  policy.reset(seed);
  const actions: PolicyAction[] = [];
  for (const o of obs) actions.push(await policy.act(o));
  return actions;
}

test("act samples from softmax(logits) with the agent's PCG32 stream, feeding the state back", async () => {
  const session = new FakeSession();
  const policy = new OnnxPolicy(session, spec(), "ai", fakeOrt);
  const actions = await play(policy, 11);
  // Recompute by hand: h accumulates the observations (float32), logits = 2 * obs + h.
  const rng = agentRng(11, "ai");
  const h = new Float32Array(3);
  const expected = observations.map((o) => {
    const logits = Array.from(new Float32Array(o.map((v, i) => v * 2 + h[i]!)));
    o.forEach((v, i) => (h[i] = h[i]! + v));
    return sampleIndex(softmax(logits), rng.uniform());
  });
  assert.deepEqual(actions, expected);
  assert.equal(session.runs.length, observations.length);
  assert.deepEqual(session.runs[0]!.obs!.dims, [1, 3]);
  assert.deepEqual(Array.from(session.runs[0]!.h_in!.data as Float32Array), [0, 0, 0]);
  assert.deepEqual(Array.from(session.runs[1]!.h_in!.data as Float32Array), [0.5, -1, 2]);
  assert.equal(policy.lastLogits!.length, 3);
  assert.ok(Math.abs(policy.lastProbabilities!.reduce((a, b) => a + b, 0) - 1) < 1e-12);
});

test("reset zeroes the recurrent state and restarts the RNG: a second episode repeats the first", async () => {
  const session = new FakeSession();
  const policy = new OnnxPolicy(session, spec(), "ai", fakeOrt);
  const first = await play(policy, 5);
  const logitsFirst = policy.lastLogits;
  const second = await play(policy, 5);
  assert.deepEqual(second, first);
  assert.deepEqual(policy.lastLogits, logitsFirst);
  assert.deepEqual(Array.from(session.runs[observations.length]!.h_in!.data as Float32Array), [0, 0, 0]);
  // Another agent id is another stream; over many seeds some action differs.
  const other = new OnnxPolicy(new FakeSession(), spec(), "partner", fakeOrt);
  let differs = false;
  for (let seed = 0; seed < 20 && !differs; seed++) {
    differs = JSON.stringify(await play(other, seed)) !== JSON.stringify(await play(policy, seed));
  }
  assert.ok(differs);
});

test("act before reset, a wrong state shape and a missing tensor are PolicyErrors", async () => {
  const session = new FakeSession();
  const policy = new OnnxPolicy(session, spec(), "ai", fakeOrt);
  await assert.rejects(policy.act([1, 2, 3]), PolicyError);
  policy.reset(0);
  await assert.rejects(policy.act([1, 2]), /does not fit obs_input 'obs'/);
  session.stateDims = [3];
  await assert.rejects(policy.act([1, 2, 3]), /state output 'h_out' came out with shape \[3\], expected \[1, 3\]/);
  assert.throws(() => new OnnxPolicy(session, spec({ obs_input: "x" }), "ai", fakeOrt), /'x' is not an input/);
  assert.throws(() => new OnnxPolicy(session, spec({ logit_output: "y" }), "ai", fakeOrt), /'y' is not an output/);
});

test("calls queue in order; a reset drops queued calls of the old episode", async () => {
  const policy = new OnnxPolicy(new FakeSession(), spec(), "ai", fakeOrt);
  policy.reset(3);
  const all = await Promise.all(observations.map((o) => policy.act(o)));
  assert.deepEqual(all, await play(policy, 3));
  policy.reset(3);
  const stale = policy.act(observations[0]);
  policy.reset(4);
  await assert.rejects(stale, /reset/);
});

test("snapshot/restore rewinds RNG and recurrent state", async () => {
  const policy = new OnnxPolicy(new FakeSession(), spec(), "ai", fakeOrt);
  policy.reset(9);
  await policy.act(observations[0]);
  const snap = policy.snapshot();
  const a = [await policy.act(observations[1]), await policy.act(observations[2])];
  policy.restore(snap);
  const b = [await policy.act(observations[1]), await policy.act(observations[2])];
  assert.deepEqual(b, a);
});

test("custom_inference_fn replaces the declarative path and gets (session, observation, modelConfig, context)", async () => {
  const body = `
    const scale = new context.ort.Tensor("float32", Float32Array.of(1), [1]);
    context.state.calls = (context.state.calls ?? 0) + 1;
    const h = new context.ort.Tensor("float32", new Float32Array(3), [1, 3]);
    const obs = new context.ort.Tensor("float32", Float32Array.from(observation), [1, 3]);
    const out = await session.run({ obs, h_in: h, scale });
    const logits = Array.from(out[modelConfig.logit_output].data);
    return { best: logits.indexOf(Math.max(...logits)), sampled: context.sample(logits), step: context.step, calls: context.state.calls, agent: context.agentId };
  `;
  const session = new FakeSession();
  const policy = new OnnxPolicy(session, spec({ custom_inference_fn: body }), "ai", fakeOrt);
  const actions = (await play(policy, 2)) as { best: number; sampled: number; step: number; calls: number; agent: string }[];
  const rng = agentRng(2, "ai");
  actions.forEach((a, i) => {
    const o = observations[i]!;
    const logits = Array.from(Float32Array.from(o));
    assert.equal(a.best, logits.indexOf(Math.max(...logits)));
    assert.equal(a.sampled, sampleIndex(softmax(logits), rng.uniform()));
    assert.equal(a.step, i);
    assert.equal(a.calls, i + 1);
    assert.equal(a.agent, "ai");
  });
  assert.equal((session.runs[0]!.scale!.data as Float32Array)[0], 1); // the function's own feeds, not the declarative ones
  const again = (await play(policy, 2)) as { calls: number }[];
  assert.equal(again[0]!.calls, 1); // context.state is per episode
});

test("snapshot/restore keeps a custom function's tensors in context.state usable", async () => {
  const body = `
    const T = context.ort.Tensor;
    const out = await session.run({
      obs: new T("float32", Float32Array.from(observation), [1, 3]),
      h_in: context.state.h ?? new T("float32", new Float32Array(3), [1, 3]),
      scale: new T("float32", Float32Array.of(1), [1]),
    });
    context.state.h = out.h_out;
    return context.sample(Array.from(out.logits.data));
  `;
  const policy = new OnnxPolicy(new FakeSession(), spec({ custom_inference_fn: body }), "ai", fakeOrt);
  policy.reset(6);
  await policy.act(observations[0]);
  const snap = policy.snapshot();
  const a = [await policy.act(observations[1]), await policy.act(observations[2])];
  policy.restore(snap);
  assert.deepEqual([await policy.act(observations[1]), await policy.act(observations[2])], a);
});

test("custom_inference_fn errors: does not compile, throws, returns no action", async () => {
  assert.throws(() => compileInferenceFn("return ("), PolicyError);
  const throwing = new OnnxPolicy(new FakeSession(), spec({ custom_inference_fn: "throw new Error('boom')" }), "ai", fakeOrt);
  throwing.reset(0);
  await assert.rejects(throwing.act([1, 2, 3]), /custom_inference_fn threw: boom/);
  const silent = new OnnxPolicy(new FakeSession(), spec({ custom_inference_fn: "const x = 1;" }), "ai", fakeOrt);
  silent.reset(0);
  await assert.rejects(silent.act([1, 2, 3]), /must return a JSON action/);
});

class Counter implements Policy {
  n = 0;
  observed: unknown[] = [];
  reset(): void {
    this.n = 0;
  }
  async act(observation: unknown): Promise<PolicyAction> {
    this.observed.push(observation);
    return this.n++;
  }
}

test("FrameSkipPolicy queries at steps 0, k, 2k... of each episode, as the Python wrapper", async () => {
  const golden = goldenJson as { frame_skip: { frame_skip: number; episodes: number[][] }[] };
  for (const c of golden.frame_skip) {
    const policy = new FrameSkipPolicy(new Counter(), c.frame_skip);
    for (const [seed, expected] of c.episodes.entries()) {
      const got = await play(
        policy,
        seed,
        expected.map((_, t) => t),
      );
      assert.deepEqual(got, expected, `frame_skip ${c.frame_skip}`);
    }
  }
  const inner = new Counter();
  const skip = new FrameSkipPolicy(inner, 3);
  await play(skip, 0, [0, 1, 2, 3, 4, 5, 6]);
  assert.deepEqual(inner.observed, [0, 3, 6]);
  assert.ok(skip.queried(6) && !skip.queried(7));
  assert.throws(() => new FrameSkipPolicy(inner, 0), PolicyError);
});

test("FrameSkipPolicy: an error at a query step repeats on its skipped steps, as in Python", async () => {
  class Flaky extends Counter {
    override async act(observation: unknown): Promise<PolicyAction> {
      if (observation === "boom") throw new PolicyError("boom");
      return super.act(observation);
    }
  }
  const policy = new FrameSkipPolicy(new Flaky(), 2);
  policy.reset(0);
  assert.equal(await policy.act("ok"), 0);
  await policy.act("ok");
  await assert.rejects(policy.act("boom"), /boom/);
  await assert.rejects(policy.act("boom"), /boom/);
  assert.equal(await policy.act("ok"), 1);
});

test("FrameSkipPolicy over OnnxPolicy: the RNG and state advance only on query steps", async () => {
  const skipped = new FrameSkipPolicy(new OnnxPolicy(new FakeSession(), spec(), "ai", fakeOrt), 2);
  const plain = new OnnxPolicy(new FakeSession(), spec(), "ai", fakeOrt);
  const obs = [observations[0], [9, 9, 9], observations[1], [9, 9, 9], observations[2]];
  const got = await play(skipped, 4, obs);
  const queried = await play(plain, 4, [observations[0], observations[1], observations[2]]);
  assert.deepEqual(got, [queried[0], queried[0], queried[1], queried[1], queried[2]]);
  const snap = skipped.snapshot();
  const next = [await skipped.act(observations[3]), await skipped.act(observations[4])];
  skipped.restore(snap);
  assert.deepEqual([await skipped.act(observations[3]), await skipped.act(observations[4])], next);
});

test("parseModelSpec names the bad field", () => {
  const good = spec();
  assert.equal(good.frame_skip, 1);
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ kind: "tf" }, /kind/],
    [{ version: 2 }, /version/],
    [{ obs_input: "" }, /obs_input/],
    [{ obs_shape: [null, -1] }, /obs_shape/],
    [{ state: [{ input: "a", output: "b", shape: [0] }] }, /state\[0\]\.shape/],
    [{ fixed_inputs: [{ name: "s", dtype: "complex64", shape: [1], data: [1] }] }, /dtype/],
    [{ fixed_inputs: [{ name: "s", dtype: "float32", shape: [2], data: [1] }] }, /2 values/],
    [{ fixed_inputs: [{ name: "s", dtype: "bool", shape: [1], data: [1] }] }, /booleans/],
    [{ custom_inference_fn: "  " }, /custom_inference_fn/],
    [{ frame_skip: 0 }, /frame_skip/],
    [{ n_actions: 0 }, /n_actions/],
  ];
  for (const [patch, message] of cases) {
    assert.throws(() => parseModelSpec({ ...good, ...patch }), message, JSON.stringify(patch));
  }
  assert.throws(() => parseModelSpec(null), PolicyError);
});
