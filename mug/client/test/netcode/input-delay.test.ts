import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Cluster } from "../../src/netcode/testing/cluster";
import { assertAgreement, minConfirmed } from "./helpers";

function run(rttMs: number, fps: number, inputDelay: number, numPlayers = 2) {
  const network = { latencyMs: rttMs / 2, jitterMs: 0, loss: 0, duplicate: 0, reorder: 0, reorderExtraMs: 0 };
  const cluster = new Cluster({ numPlayers, seed: rttMs + fps, network, session: { fps, inputDelay }, inputChangeProbability: 0.3 });
  cluster.run(20_000);
  return cluster;
}

describe("input delay", () => {
  for (const [rttMs, fps] of [
    [40, 30],
    [100, 30],
    [150, 30],
    [200, 30],
    [100, 60],
  ] as const) {
    const delay = Math.ceil(rttMs / 2 / (1000 / fps));
    it(`RTT ${rttMs} ms at ${fps} fps: input delay ${delay} (>= RTT/2) means zero rollbacks on a jitter-free link`, () => {
      const cluster = run(rttMs, fps, delay);
      for (const p of cluster.peers) {
        const s = p.session.stats();
        assert.equal(s.rollbacks, 0, `peer ${p.id} rolled back ${s.rollbacks} times`);
        assert.equal(s.resimulatedFrames, 0);
        assert.ok(p.framesAdvanced > fps * 18, `peer ${p.id} advanced only ${p.framesAdvanced} frames`);
      }
      assertAgreement(cluster, minConfirmed(cluster));
    });
  }

  it("holds for 4 peers too", () => {
    const cluster = run(100, 30, 2, 4);
    for (const p of cluster.peers) assert.equal(p.session.stats().rollbacks, 0);
  });

  it("one frame less than RTT/2 does roll back (the test can fail)", () => {
    const cluster = run(100, 30, 1);
    assert.ok(cluster.peers.every((p) => p.session.stats().rollbacks > 0));
    assertAgreement(cluster, minConfirmed(cluster));
  });
});
