import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Cluster } from "../../src/netcode/testing/cluster";
import { LOSSY, assertAgreement, assertNoDesyncAfterRecovery, eventsOf, minConfirmed } from "./helpers";

const INTERVAL = 30;

function corruptAndRecover(numPlayers: number, victim: number, seed: number) {
  const cluster = new Cluster({ numPlayers, seed, network: LOSSY, session: { checksumInterval: INTERVAL } });
  assert.ok(cluster.runUntilConfirmed(100, 30_000));
  const corruptedAt = cluster.peer(victim).session.currentFrame;
  cluster.corrupt(victim, 12345);
  const recovered = cluster.runUntil(() => cluster.peers.some((p) => eventsOf(p, "resynced").length > 0), 20_000);
  assert.ok(recovered, "no peer resynced");
  // Give the peers time to exchange a few more checksums after the recovery.
  assert.ok(cluster.runUntilConfirmed(corruptedAt + 10 * INTERVAL, 30_000));
  return { cluster, corruptedAt };
}

describe("desync detection and recovery", () => {
  for (const [numPlayers, victim] of [
    [2, 1],
    [2, 0],
    [3, 2],
    [4, 0],
  ] as const) {
    it(`${numPlayers} peers: corrupting peer ${victim} is detected within one checksum interval and repaired`, () => {
      const { cluster, corruptedAt } = corruptAndRecover(numPlayers, victim, 40 + numPlayers * 10 + victim);
      const desyncs = cluster.peers.flatMap((p) => eventsOf(p, "desync"));
      assert.ok(desyncs.length > 0, "the divergence was not detected");
      const detectedAt = Math.min(...desyncs.map((d) => d.frame));
      assert.ok(detectedAt >= corruptedAt, `detected at ${detectedAt}, before the corruption at ${corruptedAt}`);
      assert.ok(detectedAt - corruptedAt <= INTERVAL, `detected at frame ${detectedAt}, corrupted at ${corruptedAt}`);
      // Detection names the victim: every desync involves it (as the reporter or as the other side).
      for (const p of cluster.peers) {
        for (const d of eventsOf(p, "desync")) assert.ok(p.id === victim || d.peer === victim, `peer ${p.id} blamed ${d.peer}`);
      }
      // Recovery: the source (peer 0) sent its state, the others loaded it, and each did so once.
      const resyncs = cluster.peers.flatMap((p) => eventsOf(p, "resynced").map((e) => ({ peer: p.id, ...e })));
      assert.ok(resyncs.every((r) => r.source === 0 && r.peer !== 0));
      if (victim !== 0) assert.ok(resyncs.some((r) => r.peer === victim), "the victim did not load the source's state");
      for (const p of cluster.peers) assert.ok(eventsOf(p, "resynced").length <= 1, `peer ${p.id} resynced more than once`);
      assert.ok(eventsOf(cluster.peer(0), "resyncSent").length >= 1);
      // Afterwards every peer agrees on every confirmed frame from the last loaded state on.
      const from = Math.max(...resyncs.map((r) => r.frame));
      assertAgreement(cluster, minConfirmed(cluster), from);
      assertNoDesyncAfterRecovery(cluster);
    });
  }

  it("works with a host that answers one tick late (checksums and states arrive asynchronously)", () => {
    const cluster = new Cluster({ numPlayers: 3, seed: 77, network: LOSSY, asyncHost: true, session: { checksumInterval: INTERVAL } });
    assert.ok(cluster.runUntilConfirmed(100, 30_000));
    cluster.run(1); // let the last batch execute before corrupting the live state
    const corruptedAt = cluster.peer(2).session.currentFrame;
    cluster.corrupt(2, 99);
    assert.ok(cluster.runUntil(() => eventsOf(cluster.peer(2), "resynced").length > 0, 20_000), "no resync");
    assert.ok(cluster.runUntilConfirmed(corruptedAt + 10 * INTERVAL, 30_000));
    const from = eventsOf(cluster.peer(2), "resynced")[0]!.frame;
    assertAgreement(cluster, minConfirmed(cluster), from);
    assertNoDesyncAfterRecovery(cluster);
  });

  it("a state larger than one transfer window crosses a lossy link", async () => {
    const { StateReceiver, StateSender } = await import("../../src/netcode/state-transfer");
    const { Prng } = await import("../../src/netcode/testing/prng");
    const bytes = new Uint8Array(100_000).map((_, i) => (i * 7) & 255);
    const sender = new StateSender(1, 9, 300, bytes, 1024, 16, 0);
    const rng = new Prng(3);
    let receiver: InstanceType<typeof StateReceiver> | null = null;
    let now = 0;
    for (; now < 60_000 && !sender.done; now += 10) {
      for (const chunk of sender.chunks(now, 100)) {
        if (rng.chance(0.3)) continue; // lost
        receiver ??= new StateReceiver(0, chunk.transferId, chunk.frame, chunk.totalBytes);
        receiver.onChunk(chunk);
        const ack = receiver.ack();
        if (!rng.chance(0.3)) sender.onAck(ack.receivedBytes, now);
      }
    }
    assert.ok(sender.done, "transfer did not finish");
    assert.ok(receiver?.complete);
    assert.deepEqual(receiver.bytes, bytes);
  });
});
