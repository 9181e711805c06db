import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Action } from "../../src/netcode";
import { Cluster } from "../../src/netcode/testing/cluster";
import type { LinkConditions } from "../../src/netcode/testing/sim-network";
import { assertAgreement, eventsOf, minConfirmed } from "./helpers";

const LINK: LinkConditions = { latencyMs: 30, jitterMs: 5, loss: 0.05, duplicate: 0.02, reorder: 0.02, reorderExtraMs: 30 };
const SILENCE_START = 4000;
const SILENCE_MS = 6000; // 180 frames at 30 fps

/** During the silence both players keep changing their input, so every predicted frame is wrong. */
function busyDuringSilence(player: number, frame: number, nowMs: number): Action | undefined {
  if (nowMs < SILENCE_START - 300 || nowMs > SILENCE_START + SILENCE_MS + 300) return undefined;
  return frame % 2 === player % 2 ? [1 + player, 1] : [4 - player, 0];
}

describe("a peer that goes silent", () => {
  it("hidden tab / network stall for 6 s at 30 fps: caught up with >= 180 frames re-simulated in one batch, no desync", () => {
    // Input delay 0: with a delay of d frames, d of those 180 frames were already sent before the silence.
    const cluster = new Cluster({
      numPlayers: 2,
      seed: 21,
      network: LINK,
      session: { inputDelay: 0 },
      inputOverride: busyDuringSilence,
    });
    cluster.net.addOutage(1, SILENCE_START, SILENCE_START + SILENCE_MS);
    cluster.run(SILENCE_START);
    const before = cluster.peers.map((p) => p.maxResimulationBatch);
    assert.ok(before.every((b) => b < 20));
    cluster.run(SILENCE_MS);
    // Both sides kept running (no stall) while the other was silent.
    for (const p of cluster.peers) {
      assert.ok(p.session.currentFrame >= 270, `peer ${p.id} stalled at ${p.session.currentFrame}`);
      assert.equal(eventsOf(p, "interrupted").length, 1);
      assert.ok(p.host.states.size >= 170, "states since the confirmed frame must all be kept");
    }
    cluster.run(3000);
    for (const p of cluster.peers) {
      assert.equal(eventsOf(p, "resumed").length, 1);
      assert.ok(p.maxResimulationBatch >= 180, `peer ${p.id} re-simulated at most ${p.maxResimulationBatch} frames at once`);
      assert.equal(eventsOf(p, "desync").length, 0);
      assert.equal(eventsOf(p, "disconnected").length, 0);
      assert.ok(p.session.confirmedFrame >= p.session.currentFrame - 8, "not caught up");
    }
    assertAgreement(cluster, minConfirmed(cluster));
  });

  it("same with the default input delay: every predicted frame is re-simulated", () => {
    const cluster = new Cluster({ numPlayers: 3, seed: 22, network: LINK, inputOverride: busyDuringSilence });
    cluster.net.addOutage(2, SILENCE_START, SILENCE_START + SILENCE_MS);
    cluster.run(SILENCE_START + SILENCE_MS + 3000);
    for (const p of cluster.peers) {
      // 180 frames of silence minus the 2 frames of input delay sent before it.
      assert.ok(p.maxResimulationBatch >= 177, `peer ${p.id}: ${p.maxResimulationBatch}`);
      assert.equal(eventsOf(p, "desync").length, 0);
    }
    assertAgreement(cluster, minConfirmed(cluster));
  });

  it("a frozen host (no ticks for 6 s) catches up quickly and the others re-simulate its late inputs", () => {
    const cluster = new Cluster({
      numPlayers: 2,
      seed: 23,
      network: LINK,
      session: { inputDelay: 0 },
      pauses: [{ peer: 1, fromMs: SILENCE_START, toMs: SILENCE_START + SILENCE_MS }],
      inputOverride: busyDuringSilence,
    });
    cluster.run(SILENCE_START + SILENCE_MS);
    const gap = cluster.peer(0).session.currentFrame - cluster.peer(1).session.currentFrame;
    assert.ok(gap >= 170, `peer 0 should have run on, gap ${gap}`);
    // The frozen peer runs faster than real time until it is level again (time sync catch-up).
    const caughtUp = cluster.runUntil(() => Math.abs(cluster.peer(0).session.currentFrame - cluster.peer(1).session.currentFrame) <= 2, 4000);
    assert.ok(caughtUp, "the frozen peer did not catch up within 4 s");
    cluster.run(2000);
    const p0 = cluster.peer(0);
    assert.ok(p0.maxResimulationBatch >= 170, `peer 0 re-simulated at most ${p0.maxResimulationBatch} at once`);
    // The stalled peer re-simulated the late run once, not once per arriving packet.
    assert.ok(p0.session.stats().resimulatedFrames < 2 * p0.maxResimulationBatch);
    for (const p of cluster.peers) assert.equal(eventsOf(p, "desync").length, 0);
    assertAgreement(cluster, minConfirmed(cluster));
  });

  it("a peer silent past the disconnect timeout is reported as disconnected; the others go on", () => {
    const cluster = new Cluster({ numPlayers: 3, seed: 24, network: LINK, session: { disconnectTimeoutMs: 5000 } });
    cluster.run(3000);
    cluster.net.addOutage(2, 3000, 1e9);
    cluster.run(7000);
    for (const id of [0, 1]) {
      const p = cluster.peer(id);
      const events = eventsOf(p, "disconnected");
      assert.equal(events.length, 1);
      assert.equal(events[0]!.peer, 2);
      assert.deepEqual(events[0]!.players, [2]);
      assert.equal(p.session.stats().peers.find((s) => s.peer === 2)?.state, "disconnected");
    }
    // Peers 0 and 1 keep confirming frames; player 2's inputs after its last frame are "disconnected".
    const c0 = cluster.peer(0).session.confirmedFrame;
    cluster.run(3000);
    assert.ok(cluster.peer(0).session.confirmedFrame > c0 + 60);
    const last = eventsOf(cluster.peer(0), "disconnected")[0]!.lastFrame;
    const after = cluster.peer(0).confirmedInputs.get(last + 30);
    assert.equal(after?.[2]?.status, "disconnected");
    const survivors = { peers: [cluster.peer(0), cluster.peer(1)] } as unknown as Cluster;
    assertAgreement(survivors, Math.min(cluster.peer(0).lastConfirmed, cluster.peer(1).lastConfirmed));
  });
});
