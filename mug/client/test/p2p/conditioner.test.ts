import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Conditioner, parseTestSettings } from "../../src/p2p/conditioner";

describe("test conditions from window.mugTest.p2p", () => {
  it("defaults to none, and reads every setting", () => {
    assert.deepEqual(parseTestSettings(undefined), {
      conditions: { latencyMs: 0, jitterMs: 0, loss: 0, seed: 1 },
      blockDataChannels: false,
    });
    assert.deepEqual(parseTestSettings({ latencyMs: 50, jitterMs: 10, loss: 0.05, seed: 9, blockDataChannels: true }), {
      conditions: { latencyMs: 50, jitterMs: 10, loss: 0.05, seed: 9 },
      blockDataChannels: true,
    });
  });

  it("names the setting that is wrong", () => {
    assert.throws(() => parseTestSettings({ loss: 5 }), /p2p\.loss must be a number in \[0, 1\], got 5/);
    assert.throws(() => parseTestSettings({ latencyMs: -1 }), /p2p\.latencyMs must be a number/);
    assert.throws(() => parseTestSettings({ latency: 10 }), /p2p\.latency is not a setting/);
    assert.throws(() => parseTestSettings({ blockDataChannels: "yes" }), /blockDataChannels must be a boolean/);
    assert.throws(() => parseTestSettings({ seed: 1.5 }), /seed must be an integer/);
    assert.throws(() => parseTestSettings(3), /must be an object/);
  });
});

describe("the conditioner (seeded, virtual clock)", () => {
  it("without conditions hands every packet back at once", () => {
    const c = new Conditioner<number>();
    assert.equal(c.active, false);
    assert.equal(c.submit(1, 0), "now");
    assert.equal(c.queued, 0);
  });

  it("drops about the share asked, the same packets for the same seed", () => {
    const run = (seed: number) => {
      const c = new Conditioner<number>({ latencyMs: 0, jitterMs: 0, loss: 0.2, seed });
      return Array.from({ length: 5000 }, (_, i) => c.submit(i, i));
    };
    const a = run(4);
    const dropped = a.filter((v) => v === "dropped").length;
    assert.ok(Math.abs(dropped / 5000 - 0.2) < 0.02, `dropped ${dropped} of 5000`);
    assert.deepEqual(run(4), a);
    assert.notDeepEqual(run(5), a);
  });

  it("delays by the latency and jitter, delivering in due order (reordering allowed)", () => {
    const c = new Conditioner<number>({ latencyMs: 100, jitterMs: 20, loss: 0, seed: 3 });
    const sentAt = new Map<number, number>();
    for (let i = 0; i < 500; i++) {
      assert.equal(c.submit(i, i * 2), "queued");
      sentAt.set(i, i * 2);
    }
    const delays: number[] = [];
    let reordered = false;
    let last = -1;
    for (let now = 0; now <= 2000; now++) {
      for (const item of c.takeDue(now)) {
        const delay = now - sentAt.get(item)!;
        delays.push(delay);
        if (item < last) reordered = true;
        last = item;
      }
      const next = c.nextDueAt();
      assert.ok(next === null || next > now, "takeDue left a packet that was due");
    }
    assert.equal(delays.length, 500);
    assert.ok(Math.min(...delays) >= 80 && Math.max(...delays) <= 121, `delays ${Math.min(...delays)}..${Math.max(...delays)}`);
    const mean = delays.reduce((a, b) => a + b, 0) / delays.length;
    assert.ok(Math.abs(mean - 100.5) < 3, `mean delay ${mean}`);
    assert.ok(reordered, "±20 ms jitter on packets 2 ms apart should reorder some");
  });

  it("new conditions apply to later packets; the PRNG keeps its sequence unless the seed changes", () => {
    const c = new Conditioner<string>({ latencyMs: 50, jitterMs: 0, loss: 0, seed: 1 });
    c.submit("slow", 0);
    c.configure({ latencyMs: 0, jitterMs: 0, loss: 0, seed: 1 });
    // The queue is not empty: a zero-delay packet still waits behind it to keep their order.
    assert.equal(c.submit("fast", 10), "queued");
    assert.deepEqual(c.takeDue(10), ["fast"]);
    assert.deepEqual(c.takeDue(50), ["slow"]);
    assert.equal(c.nextDueAt(), null);
    assert.equal(c.active, false);
  });

  it("never delays below zero when the jitter exceeds the latency", () => {
    const c = new Conditioner<number>({ latencyMs: 5, jitterMs: 50, loss: 0, seed: 8 });
    let now = 0;
    for (let i = 0; i < 200; i++) if (c.submit(i, 1000) === "now") now++;
    assert.ok(c.nextDueAt()! >= 1000);
    assert.equal(now + c.takeDue(1055).length, 200);
  });
});
