import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ActionCodec, NetcodeUsageError } from "../../src/netcode";
import { Prng } from "../../src/netcode/testing/prng";

describe("action codec", () => {
  it("packs a discrete action in one byte when it fits", () => {
    const c = new ActionCodec({ kind: "discrete", n: 5 });
    assert.equal(c.size, 1);
    for (let a = 0; a < 5; a++) assert.equal(c.decode(c.encode(a)), a);
  });

  it("uses more than one byte when needed (not limited to 256 actions)", () => {
    const c = new ActionCodec({ kind: "discrete", n: 1000 });
    assert.equal(c.size, 2);
    for (const a of [0, 1, 255, 256, 999]) assert.equal(c.decode(c.encode(a)), a);
    const big = new ActionCodec({ kind: "discrete", n: 2 ** 31 });
    assert.equal(big.size, 4);
    assert.equal(big.decode(big.encode(2 ** 31 - 1)), 2 ** 31 - 1);
  });

  it("honours Gymnasium's start offset", () => {
    const c = new ActionCodec({ kind: "discrete", n: 3, start: -1 });
    assert.deepEqual([-1, 0, 1].map((a) => c.decode(c.encode(a))), [-1, 0, 1]);
    assert.throws(() => c.encode(2), NetcodeUsageError);
  });

  it("bit-packs multi-discrete actions across byte boundaries", () => {
    const nvec = [5, 2, 3, 1000, 7, 2 ** 20];
    const c = new ActionCodec({ kind: "multiDiscrete", nvec });
    // 3 + 1 + 2 + 10 + 3 + 20 = 39 bits -> 5 bytes.
    assert.equal(c.size, 5);
    const rng = new Prng(1);
    for (let i = 0; i < 500; i++) {
      const a = nvec.map((n) => rng.int(n));
      const bytes = c.encode(a);
      assert.ok(c.isValid(bytes));
      assert.deepEqual(c.decode(bytes), a);
    }
  });

  it("a one-valued component takes no bits", () => {
    const c = new ActionCodec({ kind: "multiDiscrete", nvec: [1, 1, 2] });
    assert.equal(c.size, 1);
    assert.deepEqual(c.decode(c.encode([0, 0, 1])), [0, 0, 1]);
  });

  it("rejects actions outside the space (host errors throw)", () => {
    const c = new ActionCodec({ kind: "multiDiscrete", nvec: [3, 3] });
    assert.throws(() => c.encode([3, 0]), NetcodeUsageError);
    assert.throws(() => c.encode([0]), NetcodeUsageError);
    assert.throws(() => c.encode(1), NetcodeUsageError);
    assert.throws(() => c.encode([0.5, 0]), NetcodeUsageError);
    assert.throws(() => new ActionCodec({ kind: "discrete", n: 0 }), NetcodeUsageError);
    assert.throws(() => new ActionCodec({ kind: "multiDiscrete", nvec: [] }), NetcodeUsageError);
  });

  it("flags received bytes that decode outside the space", () => {
    const c = new ActionCodec({ kind: "discrete", n: 5 }); // 3 bits: 5..7 invalid, high bits must be 0
    assert.equal(c.isValid(Uint8Array.of(4)), true);
    assert.equal(c.isValid(Uint8Array.of(5)), false);
    assert.equal(c.isValid(Uint8Array.of(0x08)), false);
    assert.equal(c.isValid(Uint8Array.of()), false);
  });
});
