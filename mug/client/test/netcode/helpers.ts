// Shared assertions for the netcode simulation tests.
import assert from "node:assert/strict";
import type { Cluster, PeerRecord } from "../../src/netcode/testing/cluster";
import type { LinkConditions } from "../../src/netcode/testing/sim-network";
import type { Frame, SessionEvent } from "../../src/netcode";

export const LOSSY: LinkConditions = {
  latencyMs: 40,
  jitterMs: 15,
  loss: 0.2,
  duplicate: 0.05,
  reorder: 0.1,
  reorderExtraMs: 60,
};

export function eventsOf<T extends SessionEvent["type"]>(p: PeerRecord, type: T): Extract<SessionEvent, { type: T }>[] {
  return p.events.filter((e): e is Extract<SessionEvent, { type: T }> => e.type === type);
}

/** Every peer confirmed the same inputs and reached the same state for frames [from, upTo]. */
export function assertAgreement(cluster: Cluster, upTo: Frame, from: Frame = 0): void {
  const [first, ...rest] = cluster.peers;
  assert.ok(first);
  for (const p of cluster.peers) {
    assert.deepEqual(p.violations, [], `peer ${p.id} broke a guarantee`);
  }
  for (let f = from; f <= upTo; f++) {
    const inputs = first.confirmedInputs.get(f);
    const hash = first.confirmedHashes.get(f);
    assert.ok(inputs, `peer ${first.id} has no confirmed inputs for frame ${f}`);
    assert.ok(hash !== undefined, `peer ${first.id} has no confirmed checksum for frame ${f}`);
    assert.ok(inputs.every((i) => i.status !== "predicted"), `frame ${f}: predicted input in confirmed history`);
    for (const p of rest) {
      const other = p.confirmedInputs.get(f);
      assert.ok(other, `peer ${p.id} has no confirmed inputs for frame ${f}`);
      assert.deepEqual(other, inputs, `frame ${f}: peers ${first.id} and ${p.id} confirmed different inputs`);
      assert.equal(p.confirmedHashes.get(f), hash, `frame ${f}: peers ${first.id} and ${p.id} have different checksums`);
    }
  }
}

/** The newest frame every peer has reported confirmed. */
export function minConfirmed(cluster: Cluster): Frame {
  return Math.min(...cluster.peers.map((p) => p.lastConfirmed));
}

/** Once a peer took part in a recovery (sent or loaded a state), it sees no further desync. */
export function assertNoDesyncAfterRecovery(cluster: Cluster): void {
  for (const p of cluster.peers) {
    let last = -1;
    p.events.forEach((e, i) => {
      if (e.type === "resynced" || e.type === "resyncSent") last = i;
    });
    const later = p.events.slice(last + 1).filter((e) => e.type === "desync");
    assert.deepEqual(later, [], `peer ${p.id} saw a desync after the recovery`);
  }
}
