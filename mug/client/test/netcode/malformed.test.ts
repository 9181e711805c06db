import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { NetcodeError, SessionBuilder, decodeMessage, encodeMessage, type WireMessage } from "../../src/netcode";
import { Cluster } from "../../src/netcode/testing/cluster";
import { Prng } from "../../src/netcode/testing/prng";
import { TOY_ACTION_SPACE } from "../../src/netcode/testing/toy-game";
import { LOSSY, assertAgreement, eventsOf, minConfirmed } from "./helpers";

function inputMessage(startFrame: number, records: Uint8Array[], recordSize = 1): WireMessage {
  return { type: "input", senderFrame: startFrame, ackFrame: -1, advantage: 0, endFrame: -1, episodeStart: 0, startFrame, recordSize, records };
}

describe("bad bytes from a peer", () => {
  it("are rejected with typed errors and never corrupt a running session", () => {
    const captured: Uint8Array[] = [];
    const tap = (from: number, to: number, bytes: Uint8Array) => {
      if (from === 1 && to === 0) captured.push(bytes);
    };
    const cluster = new Cluster({ numPlayers: 2, seed: 61, network: LOSSY, tap });
    assert.ok(cluster.runUntilConfirmed(60, 20_000));
    const target = cluster.peer(0).session;
    const rng = new Prng(5);
    const codes = new Map<string, number>();
    const feed = (from: number, bytes: Uint8Array) => {
      const error = target.handleMessage(from, bytes, cluster.nowMs);
      assert.ok(error instanceof NetcodeError, "a bad message was accepted");
      codes.set(error.code, (codes.get(error.code) ?? 0) + 1);
    };
    // Replay damaged copies of genuine traffic from peer 1, interleaved with play.
    for (let round = 0; round < 60; round++) {
      for (const b of captured.splice(0)) {
        feed(1, b.subarray(0, rng.int(b.length))); // truncated
        const flipped = b.slice();
        const at = rng.int(b.length);
        flipped[at] = flipped[at]! ^ (1 + rng.int(255));
        feed(1, flipped); // corrupted
        const longer = new Uint8Array(b.length + 1 + rng.int(8));
        longer.set(b);
        feed(1, longer); // trailing garbage
        feed(7, b); // unknown peer
      }
      const junk = new Uint8Array(rng.int(40));
      for (let i = 0; i < junk.length; i++) junk[i] = rng.int(256);
      feed(1, junk);
      cluster.run(100);
    }
    const localFrame = cluster.peer(1).session.currentFrame;
    feed(1, encodeMessage(1, 999, { type: "ping", timeMs: 1 })); // wrong session tag
    feed(1, encodeMessage(0, 0, { type: "ping", timeMs: 1 })); // header says another sender
    feed(1, encodeMessage(1, 0, { type: "syncRequest", nonce: 1, configHash: 42 })); // other configuration
    feed(1, encodeMessage(1, 0, inputMessage(0, [Uint8Array.of(0xff)]))); // action outside the space
    feed(1, encodeMessage(1, 0, inputMessage(0, [Uint8Array.of(1, 2)], 2))); // wrong record size
    feed(1, encodeMessage(1, 0, inputMessage(localFrame + 500, [Uint8Array.of(0)]))); // gap
    const lastKnown = cluster.peer(0).confirmedInputs.get(minConfirmed(cluster))!;
    const real = lastKnown[1]!.action as number[];
    const other = Uint8Array.of(((real[0]! + 1) % 5) | (real[1]! << 3));
    feed(1, encodeMessage(1, 0, inputMessage(minConfirmed(cluster), [other]))); // conflicts with a confirmed input
    for (const code of ["truncated", "badCrc", "malformed", "unknownPeer", "wrongSession", "senderMismatch", "configMismatch", "invalidAction", "inputGap", "inputConflict"]) {
      assert.ok(codes.has(code), `no ${code} error was produced (${[...codes.keys()].join(", ")})`);
    }
    const reported = eventsOf(cluster.peer(0), "protocolError").length + target.drainEvents().filter((e) => e.type === "protocolError").length;
    assert.ok(reported > 0);
    // The game goes on and both peers still agree on everything.
    const upTo = minConfirmed(cluster) + 300;
    assert.ok(cluster.runUntilConfirmed(upTo, 30_000));
    assertAgreement(cluster, minConfirmed(cluster));
    for (const p of cluster.peers) assert.equal(eventsOf(p, "desync").length, 0);
  });

  it("a peer built with another configuration never synchronizes", () => {
    const a = new SessionBuilder().withActionSpace(TOY_ACTION_SPACE).addLocalPlayer(0).addRemotePlayer(1).startP2PSession();
    const b = new SessionBuilder().withActionSpace({ kind: "discrete", n: 4 }).addRemotePlayer(0).addLocalPlayer(1).startP2PSession();
    const errors: string[] = [];
    for (let t = 0; t < 2000; t += 10) {
      a.poll(t);
      b.poll(t);
      for (const p of a.drainOutgoing()) {
        const e = b.handleMessage(0, p.bytes, t);
        if (e) errors.push(e.code);
      }
      for (const p of b.drainOutgoing()) {
        const e = a.handleMessage(1, p.bytes, t);
        if (e) errors.push(e.code);
      }
    }
    assert.equal(a.sessionState, "synchronizing");
    assert.equal(b.sessionState, "synchronizing");
    assert.ok(errors.length > 0 && errors.every((c) => c === "configMismatch"));
    assert.equal(a.advanceFrame().status, "synchronizing");
  });

  it("a decoded message is a copy: mutating the received buffer afterwards changes nothing", () => {
    const bytes = encodeMessage(1, 0, inputMessage(5, [Uint8Array.of(3), Uint8Array.of(4)]));
    const d = decodeMessage(bytes);
    bytes.fill(0);
    assert.ok(d.ok && d.envelope.message.type === "input");
    assert.deepEqual(d.envelope.message.records.map((r) => r[0]), [3, 4]);
  });
});
