import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DEFAULT_OPTIONS, InProcessHost, NetcodeUsageError, SessionBuilder } from "../../src/netcode";
import { InputQueue } from "../../src/netcode/input-queue";
import { ActionCodec } from "../../src/netcode/action-codec";
import { ToyGame } from "../../src/netcode/testing/toy-game";

const space = { kind: "discrete", n: 5 } as const;

describe("session builder", () => {
  it("documents its defaults", () => {
    assert.equal(DEFAULT_OPTIONS.fps, 30);
    assert.equal(DEFAULT_OPTIONS.inputDelay, 2);
    assert.equal(DEFAULT_OPTIONS.maxPrediction, 8);
    assert.equal(DEFAULT_OPTIONS.prediction, "repeatLast");
    assert.equal(DEFAULT_OPTIONS.checksumInterval, 30);
    assert.equal(DEFAULT_OPTIONS.interruptTimeoutMs, null);
    assert.equal(DEFAULT_OPTIONS.disconnectTimeoutMs, 10_000);
    assert.equal(DEFAULT_OPTIONS.timeSync.enabled, true);
  });

  it("builds a P2P session with local and remote players", () => {
    const s = new SessionBuilder().withActionSpace(space).addRemotePlayer(0).addLocalPlayer(1).startP2PSession();
    assert.equal(s.numPlayers, 2);
    assert.equal(s.localPeer, 1);
    assert.deepEqual(s.localPlayers, [1]);
    assert.equal(s.sessionState, "synchronizing");
    assert.equal(s.currentFrame, 0);
  });

  it("supports per-player action spaces and defaults", () => {
    const s = new SessionBuilder()
      .addLocalPlayer(0, { actionSpace: { kind: "multiDiscrete", nvec: [3, 3] }, defaultAction: [1, 1] })
      .addRemotePlayer(1, { actionSpace: { kind: "discrete", n: 300 } })
      .startP2PSession();
    assert.throws(() => s.addLocalInput(0, 2), NetcodeUsageError);
    s.addLocalInput(0, [2, 0]);
    assert.throws(() => s.addLocalInput(1, 0), /not a local player/);
  });

  it("rejects invalid configurations with a clear error", () => {
    const b = () => new SessionBuilder().withActionSpace(space);
    assert.throws(() => b().addLocalPlayer(0).startP2PSession(), /2\.\.4 players/);
    assert.throws(() => b().addLocalPlayer(0).addLocalPlayer(1).startP2PSession(), /remote player/);
    assert.throws(() => b().addRemotePlayer(0).addRemotePlayer(1).startP2PSession(), /local player/);
    assert.throws(() => b().addLocalPlayer(0).addRemotePlayer(2).startP2PSession(), /1 is missing/);
    assert.throws(() => b().addLocalPlayer(0).addLocalPlayer(0), /twice/);
    assert.throws(() => b().addLocalPlayer(4), /0\.\.3/);
    assert.throws(() => new SessionBuilder().addLocalPlayer(0).addRemotePlayer(1).startP2PSession(), /no action space/);
    assert.throws(() => b().withInputDelay(-1).addLocalPlayer(0).addRemotePlayer(1).startP2PSession(), /inputDelay/);
    assert.throws(() => b().withFps(0).addLocalPlayer(0).addRemotePlayer(1).startP2PSession(), /fps/);
    assert.throws(() => b().withOptions({ timeSync: { maxSlowdown: 1 } }).addLocalPlayer(0).addRemotePlayer(1).startP2PSession(), /maxSlowdown/);
    assert.throws(() => b().withDefaultAction(9).addLocalPlayer(0).addRemotePlayer(1).startP2PSession(), NetcodeUsageError);
    // A remote peer's id must be the lowest handle it hosts.
    assert.throws(() => b().addLocalPlayer(0).addRemotePlayer(1, { peer: 2 }).addRemotePlayer(2).startP2PSession(), /lowest handle/);
    assert.throws(() => b().addLocalPlayer(0).addRemotePlayer(1, { peer: 0 }).startP2PSession(), /local peer/);
  });

  it("groups players hosted by the same remote peer", () => {
    const s = new SessionBuilder().withActionSpace(space).addLocalPlayer(0).addRemotePlayer(1).addRemotePlayer(2, { peer: 1 }).startP2PSession();
    assert.deepEqual(s.stats().peers.map((p) => p.peer), [1]);
  });

  it("advanceFrame without a local input is a host error", () => {
    const s = new SessionBuilder().withActionSpace(space).addLocalPlayer(0).addRemotePlayer(1).startP2PSession();
    // Force "running" by completing the handshake with a scripted peer.
    const remote = new SessionBuilder().withActionSpace(space).addRemotePlayer(0).addLocalPlayer(1).startP2PSession();
    for (let t = 0; t < 3000 && s.sessionState !== "running"; t += 10) {
      s.poll(t);
      remote.poll(t);
      for (const p of s.drainOutgoing()) remote.handleMessage(0, p.bytes, t);
      for (const p of remote.drainOutgoing()) s.handleMessage(1, p.bytes, t);
    }
    assert.equal(s.sessionState, "running");
    assert.throws(() => s.advanceFrame(), /no local input/);
    s.addLocalInput(0, 3);
    const r = s.advanceFrame();
    assert.equal(r.status, "advanced");
    // First frame: save the initial state, advance frame 0 (local input delayed: default), save frame 1.
    assert.deepEqual(r.requests.map((q) => q.kind), ["save", "advance", "save"]);
    const adv = r.requests[1]!;
    assert.ok(adv.kind === "advance");
    assert.deepEqual(adv.inputs, [
      { action: 0, status: "confirmed" },
      { action: 0, status: "predicted" },
    ]);
  });
});

describe("input queue", () => {
  const codec = new ActionCodec(space);
  it("accepts inputs in order, spots resends that differ, refuses gaps", () => {
    const q = new InputQueue(codec, "repeatLast", codec.encode(0));
    assert.equal(q.add(0, codec.encode(1)), "added");
    assert.equal(q.add(0, codec.encode(1)), "duplicate");
    assert.equal(q.add(0, codec.encode(2)), "conflict");
    assert.equal(q.add(2, codec.encode(2)), "gap");
    assert.equal(q.add(1, codec.encode(3)), "added");
    assert.equal(q.lastFrame, 1);
  });

  it("predicts the last input or the default, and remembers what it used", () => {
    const last = new InputQueue(codec, "repeatLast", codec.encode(0));
    const dflt = new InputQueue(codec, "default", codec.encode(0));
    assert.deepEqual(last.predict(), codec.encode(0));
    last.add(0, codec.encode(4));
    dflt.add(0, codec.encode(4));
    assert.deepEqual(last.predict(), codec.encode(4));
    assert.deepEqual(dflt.predict(), codec.encode(0));
    last.markUsed(1, last.predict());
    assert.equal(last.usedDiffers(1, codec.encode(4)), false);
    assert.equal(last.usedDiffers(1, codec.encode(2)), true);
  });
});

describe("in-process host", () => {
  it("executes save, load, advance, discard, export and import requests", () => {
    const game = new ToyGame(1, 1);
    const reported: [number, number][] = [];
    const exported: [number, Uint8Array][] = [];
    const host = new InProcessHost(game, {
      reportChecksum: (f, c) => reported.push([f, c]),
      provideState: (f, b) => exported.push([f, b]),
    });
    const input = [{ action: [4, 1], status: "confirmed" as const }];
    host.execute([
      { kind: "save", frame: 0, checksum: true },
      { kind: "advance", frame: 0, inputs: input, resimulation: false },
      { kind: "save", frame: 1, checksum: false },
      { kind: "exportState", frame: 1 },
      { kind: "load", frame: 0 },
      { kind: "advance", frame: 0, inputs: input, resimulation: true },
    ]);
    assert.equal(reported.length, 1);
    assert.equal(host.resimulatedFrames, 1);
    assert.equal(game.liveChecksum(), game.checksum(host.states.get(1)!));
    host.execute([{ kind: "importState", frame: 5, bytes: exported[0]![1] }, { kind: "discard", before: 1 }]);
    assert.deepEqual([...host.states.keys()].sort(), [1, 5]);
    assert.throws(() => host.execute([{ kind: "load", frame: 0 }]), /no saved state/);
  });
});
