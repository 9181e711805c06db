import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SessionBuilder, decodeMessage, encodeMessage, type Frame } from "../../src/netcode";
import { decodeJoinPayload, encodeJoinPayload } from "../../src/netcode/rejoin";
import { Cluster, type PeerRecord } from "../../src/netcode/testing/cluster";
import type { LinkConditions } from "../../src/netcode/testing/sim-network";
import { TOY_ACTION_SPACE } from "../../src/netcode/testing/toy-game";
import { eventsOf, minConfirmed } from "./helpers";

const LINK: LinkConditions = { latencyMs: 30, jitterMs: 8, loss: 0.1, duplicate: 0.02, reorder: 0.05, reorderExtraMs: 30 };
const DOWN_MS = 4000; // 120 frames at 30 fps

/** Every frame confirmed by two peers was confirmed with the same inputs and led to the same state. */
function assertConsistent(cluster: Cluster): void {
  const [first, ...rest] = cluster.peers as PeerRecord[];
  for (const p of cluster.peers) assert.deepEqual(p.violations, [], `peer ${p.id} broke a guarantee`);
  for (const p of rest) {
    for (const [f, inputs] of p.confirmedInputs) {
      const mine = first!.confirmedInputs.get(f);
      if (!mine) continue;
      assert.deepEqual(inputs, mine, `frame ${f}: peers ${first!.id} and ${p.id} confirmed different inputs`);
      const a = first!.confirmedHashes.get(f);
      const b = p.confirmedHashes.get(f);
      if (a !== undefined && b !== undefined) assert.equal(b, a, `frame ${f}: peers ${first!.id} and ${p.id} differ`);
    }
  }
}

/** `p` confirmed every frame in [from, upTo]. */
function assertContiguous(p: PeerRecord, from: Frame, upTo: Frame): void {
  for (let f = from; f <= upTo; f++) assert.ok(p.confirmedInputs.has(f), `peer ${p.id} never confirmed frame ${f}`);
}

function joinedFrame(p: PeerRecord): Frame {
  const [joined] = eventsOf(p, "joined");
  assert.ok(joined, `peer ${p.id} never joined`);
  return joined.frame;
}

describe("a peer whose page reloads mid-game rejoins", () => {
  it("2 peers: the other never stalls, the returning one takes its state and both confirm the same frames again", () => {
    const cluster = new Cluster({ numPlayers: 2, seed: 41, network: LINK });
    cluster.run(3000);
    const other = cluster.peer(0);
    const frameAtReload = other.session.currentFrame;
    cluster.restart(1, 0xabc, DOWN_MS);
    cluster.run(DOWN_MS);
    // The partner kept running (predicting the absent peer's inputs) and stopped confirming.
    assert.ok(other.session.currentFrame >= frameAtReload + 100, `peer 0 stalled at ${other.session.currentFrame}`);
    assert.equal(eventsOf(other, "interrupted").length, 1);
    const confirmedWhileAway = other.lastConfirmed;
    assert.ok(confirmedWhileAway < frameAtReload + 10);
    cluster.run(6000);
    const back = cluster.peer(1);
    const frame = joinedFrame(back);
    assert.ok(frame >= confirmedWhileAway && frame <= confirmedWhileAway + 1, `joined at ${frame}, partner confirmed ${confirmedWhileAway}`);
    assert.equal(eventsOf(back, "joined")[0]!.source, 0);
    assert.equal(eventsOf(other, "restarted").length, 1);
    assert.deepEqual(eventsOf(other, "joinSent").map((e) => e.frame), [frame]);
    assert.equal(eventsOf(other, "resumed").length, 1);
    // Both confirm again, far past the reload, the same inputs and states; no desync.
    const upTo = minConfirmed(cluster);
    assert.ok(upTo >= frameAtReload + 200, `confirmed only up to ${upTo}`);
    assertContiguous(back, frame, upTo);
    assertContiguous(other, 0, upTo);
    assertConsistent(cluster);
    for (const p of cluster.peers) assert.equal(eventsOf(p, "desync").length, 0, `peer ${p.id} saw a desync`);
    // The checksums after the join were compared (the joined state is checked like any other).
    assert.ok(back.session.stats().confirmedFrame > frame + 60);
    // The absent frames were re-simulated by the partner in one go once the inputs arrived.
    assert.ok(other.maxResimulationBatch >= 100, `partner re-simulated at most ${other.maxResimulationBatch} at once`);
  });

  it("3 peers: peer 0 (the usual source) reloads and joins from peer 1; everyone agrees afterwards", () => {
    const cluster = new Cluster({ numPlayers: 3, seed: 42, network: LINK });
    cluster.run(2500);
    cluster.restart(0, 7, 3000);
    cluster.run(3000 + 4000);
    const back = cluster.peer(0);
    const frame = joinedFrame(back);
    assert.equal(eventsOf(back, "joined")[0]!.source, 1);
    assert.equal(eventsOf(cluster.peer(1), "joinSent").length, 1);
    assert.equal(eventsOf(cluster.peer(2), "joinSent").length, 0);
    for (const p of [cluster.peer(1), cluster.peer(2)]) assert.equal(eventsOf(p, "restarted").length, 1);
    const upTo = minConfirmed(cluster);
    assert.ok(upTo >= frame + 150, `confirmed only up to ${upTo} (joined at ${frame})`);
    assertContiguous(back, frame, upTo);
    assertConsistent(cluster);
    for (const p of cluster.peers) {
      assert.equal(eventsOf(p, "desync").length, 0);
      assert.equal(eventsOf(p, "protocolError").length, 0, `peer ${p.id}: ${JSON.stringify(eventsOf(p, "protocolError"))}`);
    }
  });

  it("a joining session runs no frame and sends no input before the state arrives", () => {
    const cluster = new Cluster({ numPlayers: 2, seed: 43, network: { ...LINK, loss: 0 } });
    cluster.run(2000);
    let inputsFromJoiner = 0;
    cluster.restart(1, 99, 500);
    // The source's state chunks are lost until the check is done: a joining peer stays joining.
    const source = cluster.peer(0).session;
    const sourceOut = source.drainOutgoing.bind(source);
    let blocked = true;
    source.drainOutgoing = () =>
      sourceOut().filter((p) => {
        const d = decodeMessage(p.bytes);
        return !(blocked && d.ok && d.envelope.message.type === "stateChunk");
      });
    const joiner = cluster.peer(1).session;
    const drain = joiner.drainOutgoing.bind(joiner);
    joiner.drainOutgoing = () => {
      const out = drain();
      for (const p of out) {
        const d = decodeMessage(p.bytes);
        if (d.ok && d.envelope.message.type === "input") inputsFromJoiner++;
      }
      return out;
    };
    cluster.run(1500);
    assert.equal(joiner.sessionState, "joining");
    assert.equal(joiner.framesDue(cluster.nowMs), 0);
    assert.equal(inputsFromJoiner, 0);
    blocked = false;
    cluster.run(1500);
    assert.equal(joiner.sessionState, "running");
    assert.ok(inputsFromJoiner > 0);
    assertConsistent(cluster);
  });
});

describe("rejoin messages", () => {
  it("joinRequest round-trips; unknown flags are malformed", () => {
    const m = { type: "joinRequest", joinId: 0xdeadbeef, configHash: 12345, wantState: true } as const;
    const bytes = encodeMessage(3, 77, m);
    const d = decodeMessage(bytes);
    assert.ok(d.ok);
    assert.deepEqual(d.envelope.message, m);
    const bad = encodeMessage(3, 77, { ...m, wantState: false });
    bad[bad.length - 5] = 2; // the flags byte (CRC recomputed below)
    const r = decodeMessage(withCrc(bad));
    assert.ok(!r.ok);
    assert.equal(r.error.code, "malformed");
  });

  it("a joinRequest of another configuration is refused as configMismatch", () => {
    const session = new SessionBuilder().withActionSpace(TOY_ACTION_SPACE).addLocalPlayer(0).addRemotePlayer(1).startP2PSession();
    const error = session.handleMessage(1, encodeMessage(1, 0, { type: "joinRequest", joinId: 5, configHash: 1, wantState: true }), 0);
    assert.equal(error?.code, "configMismatch");
  });

  it("join payloads are checked against the session's players", () => {
    const session = new SessionBuilder().withActionSpace(TOY_ACTION_SPACE).addLocalPlayer(0).addRemotePlayer(1).startP2PSession();
    const queues = (session as unknown as { queues: Parameters<typeof decodeJoinPayload>[1] }).queues;
    const input = (a: number, b: number) => queues[0]!.codec.encode([a, b]);
    const good = { frame: 10, episodeStart: 0, endFrame: -1, host: new Uint8Array([1, 2, 3]),
      players: [{ start: 5, inputs: [5, 6, 7, 8, 9, 10].map(() => input(1, 1)) }, { start: 8, inputs: [input(2, 0), input(0, 0)] }] };
    const decoded = decodeJoinPayload(encodeJoinPayload(good), queues);
    assert.ok(typeof decoded !== "string");
    assert.equal(decoded.frame, 10);
    assert.deepEqual([...decoded.host], [1, 2, 3]);
    assert.equal(decoded.players[0]!.inputs.length, 6);
    const short = { ...good, players: [good.players[0]!, { start: 8, inputs: [input(2, 0)] }] };
    assert.match(String(decodeJoinPayload(encodeJoinPayload(short), queues)), /player 1: inputs 8..8 do not reach frame 9/);
    assert.match(String(decodeJoinPayload(encodeJoinPayload({ ...good, players: [good.players[0]!] }), queues)), /1 players, this session has 2/);
    assert.match(String(decodeJoinPayload(encodeJoinPayload(good).slice(0, 20), queues)), /ends early/);
    const bad = encodeJoinPayload(good);
    bad[0] = 9;
    assert.match(String(decodeJoinPayload(bad, queues)), /version 9/);
  });
});

/** The message with its CRC trailer recomputed (to build a well-formed message with a bad field). */
function withCrc(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  let c = 0xffffffff;
  for (let i = 0; i < out.length - 4; i++) {
    c ^= out[i]!;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  new DataView(out.buffer).setUint32(out.length - 4, (c ^ 0xffffffff) >>> 0, true);
  return out;
}
