import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Cluster, type PeerRecord } from "../../src/netcode/testing/cluster";
import { LOSSY, assertAgreement, eventsOf, minConfirmed } from "./helpers";

/** The frame of each event in `p`'s log of the given type. */
function frames(p: PeerRecord, type: "episodeEnd" | "episodeEnding"): number[] {
  return p.events.filter((e) => e.type === type).map((e) => (e as { frame: number }).frame);
}

/** No frame >= end was confirmed before the episodeEnd event for `end`. */
function assertRecordEndsAt(p: PeerRecord, end: number): void {
  const idx = p.events.findIndex((e) => e.type === "episodeEnd" && e.frame === end);
  assert.ok(idx >= 0, `peer ${p.id} never ended the episode at ${end}`);
  const before = p.events.slice(0, idx).filter((e) => e.type === "confirmed").map((e) => (e as { frame: number }).frame);
  assert.equal(Math.max(...before), end - 1, `peer ${p.id}'s record does not end at frame ${end - 1}`);
}

describe("episode boundaries", () => {
  it("one peer asks to end the episode: both end it at the same frame and both records stop there", () => {
    const cluster = new Cluster({ numPlayers: 2, seed: 71, network: LOSSY });
    cluster.run(4000);
    const proposed = cluster.peer(1).session.requestEpisodeEnd();
    assert.ok(cluster.runUntil(() => cluster.peers.every((p) => frames(p, "episodeEnd").length === 1), 5000));
    for (const p of cluster.peers) {
      assert.deepEqual(frames(p, "episodeEnd"), [proposed]);
      assertRecordEndsAt(p, proposed);
      assert.equal(p.session.currentFrame, proposed);
    }
    // Ended sessions stay put until the host starts the next episode.
    cluster.run(2000);
    for (const p of cluster.peers) {
      assert.equal(p.session.currentFrame, proposed);
      assert.equal(p.lastConfirmed, proposed - 1);
      assert.ok(p.statuses.episodeEnded > 0);
    }
    assertAgreement(cluster, proposed - 1);
  });

  it("simultaneous requests settle on the earliest frame", () => {
    const cluster = new Cluster({ numPlayers: 3, seed: 72, network: LOSSY });
    cluster.run(3000);
    const proposals = cluster.peers.map((p) => p.session.requestEpisodeEnd());
    const agreed = Math.min(...proposals);
    assert.ok(cluster.runUntil(() => cluster.peers.every((p) => frames(p, "episodeEnd").length === 1), 5000));
    for (const p of cluster.peers) {
      assert.deepEqual(frames(p, "episodeEnd"), [agreed]);
      assertRecordEndsAt(p, agreed);
    }
    assertAgreement(cluster, agreed - 1);
  });

  it("episodes follow one another; every episode ends at the same frame on every peer", () => {
    const cluster = new Cluster({ numPlayers: 2, seed: 73, network: LOSSY, restartEpisodes: true });
    const ends: number[] = [];
    for (let episode = 0; episode < 3; episode++) {
      cluster.run(2500);
      const requester = cluster.peer(episode % 2);
      ends.push(requester.session.requestEpisodeEnd());
      assert.ok(cluster.runUntil(() => cluster.peers.every((p) => frames(p, "episodeEnd").length === episode + 1), 5000));
    }
    cluster.run(2000);
    for (const p of cluster.peers) {
      assert.deepEqual(frames(p, "episodeEnd"), ends);
      for (const end of ends) assertRecordEndsAt(p, end);
      assert.ok(p.lastConfirmed > ends[2]! + 30, "play did not continue after the last episode");
    }
    assertAgreement(cluster, minConfirmed(cluster));
    for (const p of cluster.peers) assert.equal(eventsOf(p, "desync").length, 0);
  });

  it("a later proposal still in flight when the episode ends does not end the next episode", () => {
    // Peer 0 proposes; before its packet reaches peer 1, peer 1 proposes a later frame. Both agree
    // on the earlier one, but peer 1's packets sent before it heard of it carry its own proposal
    // and arrive after peer 0 has started the next episode: that proposal belongs to the episode
    // that ended and must not end the new one.
    for (const seed of [81, 82, 83, 84, 85]) {
      const cluster = new Cluster({ numPlayers: 2, seed, network: { ...LOSSY, latencyMs: 150 }, restartEpisodes: true });
      assert.ok(cluster.runUntilConfirmed(30, 20000));
      const early = cluster.peer(0).session.requestEpisodeEnd();
      cluster.run(100);
      const late = cluster.peer(1).session.requestEpisodeEnd();
      assert.ok(late > early, `seed ${seed}: peer 1 heard the proposal before making its own (${late} <= ${early})`);
      assert.ok(cluster.runUntil(() => cluster.peers.every((p) => frames(p, "episodeEnd").length >= 1), 5000));
      cluster.run(3000);
      for (const p of cluster.peers) {
        assert.deepEqual(frames(p, "episodeEnd"), [early], `seed ${seed}: peer ${p.id} ended episodes at ${frames(p, "episodeEnd").join(", ")}`);
        assert.ok(p.lastConfirmed > late + 30, `seed ${seed}: play did not go on in the next episode`);
      }
      assertAgreement(cluster, minConfirmed(cluster));
    }
  });

  it("startNextEpisode before the end is a host error", () => {
    const cluster = new Cluster({ numPlayers: 2, seed: 74, network: LOSSY });
    cluster.run(1000);
    assert.throws(() => cluster.peer(0).session.startNextEpisode(), /no episode has ended/);
  });
});
