// The ONNX bots of P2P games (src/runtime/p2p_bots.ts) with a fake onnxruntime session: a query's
// answer depends only on the query (observation, memory, draw), state tensors travel as base64 of
// little-endian float32 (the same bytes bridge.py decodes), and what cannot be carried is refused.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { SessionLike, TensorLike } from "../../src/policies/onnx_policy";
import { sampleIndex, softmax } from "../../src/policies/sampling";
import { parseModelSpec, PolicyError } from "../../src/policies/spec";
import type { TypedData } from "../../src/policies/tensors";
import { BotFailure } from "../../src/runtime/loop";
import { decodeFloat32, encodeFloat32, onnxAgentOptions, P2PBotSet, P2POnnxBot, p2pBotProblem } from "../../src/runtime/p2p_bots";

class FakeTensor implements TensorLike {
  constructor(
    readonly type: string,
    readonly data: TypedData,
    readonly dims: readonly number[],
  ) {}
}
const fakeOrt = { Tensor: FakeTensor };

/** h_out = h_in + obs (2 values); logits = [...h_out, temperature]. `nan`: h_out comes out NaN. */
class Session implements SessionLike {
  readonly inputNames = ["obs", "h_in", "temperature"];
  readonly outputNames = ["logits", "h_out"];
  feeds: Record<string, TensorLike>[] = [];
  nan = false;

  async run(feeds: Record<string, TensorLike>): Promise<Record<string, TensorLike>> {
    this.feeds.push(feeds);
    const obs = feeds.obs!.data as Float32Array;
    const h = feeds.h_in!.data as Float32Array;
    const t = (feeds.temperature!.data as Float32Array)[0]!;
    const out = Float32Array.from([h[0]! + obs[0]!, h[1]! + obs[1]!]);
    const logits = Float32Array.from([out[0]!, out[1]!, t]);
    if (this.nan) out[1] = NaN;
    return { logits: new FakeTensor("float32", logits, [1, 3]), h_out: new FakeTensor("float32", out, [1, 2]) };
  }
}

const spec = (extra: object = {}) =>
  parseModelSpec({
    kind: "onnx",
    version: 1,
    model_url: "models/duel/bot.onnx",
    obs_input: "obs",
    obs_shape: [1, 2],
    logit_output: "logits",
    n_actions: 3,
    state: [{ input: "h_in", output: "h_out", shape: [1, 2] }],
    fixed_inputs: [{ name: "temperature", dtype: "float32", shape: [1], data: [0.25] }],
    custom_inference_fn: null,
    frame_skip: 3,
    ...extra,
  });

test("state tensors travel as base64 of little-endian float32, the bytes Python's struct packs", () => {
  assert.equal(encodeFloat32([0.5, -1.25, 3.4028234663852886e38]), "AAAAPwAAoL///39/"); // struct.pack("<3f", ...)
  assert.deepEqual(Array.from(decodeFloat32("AAAAPwAAoL///39/", 3)), [0.5, -1.25, 3.4028234663852886e38]);
  const values = Float32Array.from([0.1, -7.3, 1e-30, 0]);
  assert.deepEqual(decodeFloat32(encodeFloat32(values), 4), values); // exact round trip
  assert.throws(() => decodeFloat32("AAAAPw==", 2), /holds 1 float32 values, expected 2/);
  assert.throws(() => decodeFloat32("not base64!", 1), /not base64 text/);
});

test("a query's answer is a function of the query alone: zero memory first, then the memory it is given", async () => {
  const session = new Session();
  const bot = new P2POnnxBot(session, spec(), "bot", fakeOrt);
  assert.deepEqual(onnxAgentOptions(bot.spec), { n_actions: 3, frame_skip: 3, state_sizes: [2] });
  const first = await bot.query({ agent: "bot", observation: [1, 2], memory: null, u: 0.5 });
  assert.deepEqual(Array.from(session.feeds[0]!.h_in!.data as Float32Array), [0, 0]);
  assert.deepEqual(Array.from(decodeFloat32(first.memory[0]!, 2)), [1, 2]);
  assert.equal(first.action, sampleIndex(softmax([1, 2, 0.25]), 0.5));
  // The same query again (a re-simulation, or another peer) gives the same answer: no hidden state.
  assert.deepEqual(await bot.query({ agent: "bot", observation: [1, 2], memory: null, u: 0.5 }), first);
  const second = await bot.query({ agent: "bot", observation: [1, 2], memory: first.memory, u: 0.999 });
  assert.deepEqual(Array.from(decodeFloat32(second.memory[0]!, 2)), [2, 4]);
  assert.equal(second.action, sampleIndex(softmax([2, 4, 0.25]), 0.999));
  // The draw decides among likely actions.
  const low = await bot.query({ agent: "bot", observation: [0, 0], memory: null, u: 0.01 });
  const high = await bot.query({ agent: "bot", observation: [0, 0], memory: null, u: 0.99 });
  assert.deepEqual([low.action, high.action], [0, 2]);
});

test("what a P2P bot cannot carry or run is refused, naming the agent", async () => {
  assert.match(p2pBotProblem({ custom_inference_fn: "return 1;" })!, /custom_inference_fn, which a P2P game cannot run/);
  assert.equal(p2pBotProblem({ custom_inference_fn: null }), null);
  assert.throws(() => new P2POnnxBot(new Session(), spec({ custom_inference_fn: "return 1;" }), "bot", fakeOrt), /agent 'bot': the ONNX policy has a custom_inference_fn/);
  assert.throws(() => new P2POnnxBot(new Session(), spec({ obs_input: "x" }), "bot", fakeOrt), PolicyError);
  const session = new Session();
  session.nan = true;
  const bots = new P2PBotSet({ bot: new P2POnnxBot(session, spec(), "bot", fakeOrt) });
  await assert.rejects(
    bots.answer({ frame: 7, queries: [{ agent: "bot", observation: [1, 2], memory: null, u: 0.5 }] }),
    (err: unknown) => err instanceof BotFailure && err.agentId === "bot" && /state output 'h_out' holds NaN or infinity/.test(err.message),
  );
  await assert.rejects(
    bots.answer({ frame: 7, queries: [{ agent: "other", observation: [1, 2], memory: null, u: 0.5 }] }),
    /frame 7: agent 'other' has no ONNX bot in this worker/,
  );
  await assert.rejects(
    bots.answer({ frame: 7, queries: [{ agent: "bot", observation: [1, 2, 3], memory: null, u: 0.5 }] }),
    /observation of shape \[3\] does not fit obs_input 'obs' \[1, 2\]/,
  );
});
