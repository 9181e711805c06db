import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Cluster } from "../../src/netcode/testing/cluster";
import { LOSSY, assertAgreement, eventsOf, minConfirmed } from "./helpers";

const FRAMES = 900; // 30 s of play at 30 fps

describe("P2P sessions over a simulated lossy network", () => {
  for (const numPlayers of [2, 3, 4]) {
    it(`${numPlayers} peers agree on every confirmed input and checksum (20 % loss, jitter, reordering, duplication)`, () => {
      const cluster = new Cluster({ numPlayers, seed: 100 + numPlayers, network: LOSSY });
      assert.ok(cluster.runUntilConfirmed(FRAMES, 120_000), "the peers did not confirm enough frames");
      const upTo = minConfirmed(cluster);
      assert.ok(upTo >= FRAMES - 1);
      assertAgreement(cluster, upTo);
      for (const p of cluster.peers) {
        assert.equal(eventsOf(p, "desync").length, 0, `peer ${p.id} saw a desync`);
        assert.equal(eventsOf(p, "protocolError").length, 0, `peer ${p.id} saw a protocol error`);
        assert.equal(eventsOf(p, "disconnected").length, 0);
        assert.ok(p.session.stats().rollbacks > 0, "the lossy link should force some rollbacks");
      }
      assert.ok(cluster.net.dropped > 0 && cluster.net.duplicated > 0);
    });
  }

  for (const rttMs of [300, 600]) {
    it(`a ${rttMs} ms round trip (longer than the sync retry and ping intervals): the peers start, agree and measure it`, () => {
      const network = { ...LOSSY, latencyMs: rttMs / 2, jitterMs: 10, loss: 0.1 };
      const cluster = new Cluster({ numPlayers: 2, seed: 130 + rttMs, network });
      assert.ok(cluster.runUntilConfirmed(300, 60_000), "the peers did not confirm 300 frames");
      assertAgreement(cluster, minConfirmed(cluster));
      for (const p of cluster.peers) {
        const rtt = p.session.stats().peers[0]!.rttMs;
        assert.ok(Math.abs(rtt - rttMs) < 60, `peer ${p.id} measured ${rtt} ms`);
      }
    });
  }

  it("a peer hosting two players (human + AI) plays with a third peer", () => {
    const cluster = new Cluster({ numPlayers: 3, seed: 7, network: LOSSY, layout: [[0, 1], [2]] });
    assert.ok(cluster.runUntilConfirmed(600, 60_000));
    assertAgreement(cluster, minConfirmed(cluster));
  });

  it("confirmed checksums are exchanged and compared without false alarms", () => {
    const cluster = new Cluster({ numPlayers: 2, seed: 3, network: LOSSY, session: { checksumInterval: 10 } });
    assert.ok(cluster.runUntilConfirmed(600, 60_000));
    for (const p of cluster.peers) assert.equal(eventsOf(p, "desync").length, 0);
    assertAgreement(cluster, minConfirmed(cluster));
  });

  it("works with a host that executes requests one tick late", () => {
    const cluster = new Cluster({ numPlayers: 2, seed: 13, network: LOSSY, asyncHost: true, session: { checksumInterval: 10 } });
    assert.ok(cluster.runUntilConfirmed(600, 60_000));
    for (const p of cluster.peers) assert.equal(eventsOf(p, "desync").length, 0);
    assertAgreement(cluster, minConfirmed(cluster));
  });

  it("predicts with the default action when configured to", () => {
    const cluster = new Cluster({ numPlayers: 2, seed: 5, network: LOSSY, session: { prediction: "default" } });
    assert.ok(cluster.runUntilConfirmed(450, 60_000));
    assertAgreement(cluster, minConfirmed(cluster));
  });

  it("releases saved states behind the confirmed frame (and never one a rollback needs)", () => {
    // The in-process host throws if a load names a released state, which would fail the run.
    const cluster = new Cluster({ numPlayers: 2, seed: 9, network: LOSSY });
    let maxStates = 0;
    cluster.runUntil(() => {
      for (const p of cluster.peers) maxStates = Math.max(maxStates, p.host.states.size);
      return minConfirmed(cluster) >= 300;
    }, 60_000);
    // At most the prediction window (8), the confirmed frame, the live frame and one frame of slack.
    assert.ok(maxStates <= 8 + 3, `kept ${maxStates} states`);
  });
});
