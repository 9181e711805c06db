import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InProcessHost, SessionBuilder, type Action } from "../../src/netcode";
import { Prng } from "../../src/netcode/testing/prng";
import { TOY_ACTION_SPACE, ToyGame } from "../../src/netcode/testing/toy-game";

function runSyncTest(opts: { checkDistance: number; players?: number; inputDelay?: number; frames?: number; nondeterministic?: boolean }) {
  const players = opts.players ?? 1;
  const b = new SessionBuilder().withActionSpace(TOY_ACTION_SPACE).withInputDelay(opts.inputDelay ?? 0);
  for (let h = 0; h < players; h++) b.addLocalPlayer(h);
  const session = b.startSyncTestSession(opts.checkDistance);
  const game = new ToyGame(players, 42);
  game.nondeterministic = opts.nondeterministic ?? false;
  const host = new InProcessHost(game, session);
  const rng = new Prng(31 + players); // same inputs whatever the check distance
  const current: Action[] = Array.from({ length: players }, () => [0, 0]);
  const checksums: number[] = [];
  for (let f = 0; f < (opts.frames ?? 300); f++) {
    for (let h = 0; h < players; h++) {
      if (rng.chance(0.3)) current[h] = [rng.int(5), rng.int(2)];
      session.addLocalInput(h, current[h]!);
    }
    host.execute(session.advanceFrame().requests);
    checksums.push(game.liveChecksum());
  }
  return { session, host, checksums };
}

describe("synctest", () => {
  for (let k = 1; k <= 8; k++) {
    it(`rolling back ${k} frame(s) every frame never changes a checksum`, () => {
      const { session, host } = runSyncTest({ checkDistance: k });
      assert.deepEqual(session.mismatches, []);
      assert.equal(session.currentFrame, 300);
      // Every frame after the first k re-simulates k frames.
      assert.equal(session.resimulatedFrames, (300 - k) * k + (k * (k - 1)) / 2);
      assert.equal(host.resimulatedFrames, session.resimulatedFrames);
      assert.ok(host.states.size <= k + 2, `kept ${host.states.size} states`);
    });
  }

  it("passes with several local players and an input delay", () => {
    const { session } = runSyncTest({ checkDistance: 8, players: 4, inputDelay: 3 });
    assert.deepEqual(session.mismatches, []);
  });

  it("rolling back is invisible: every check distance yields the same trajectory", () => {
    const reference = runSyncTest({ checkDistance: 1 }).checksums;
    for (const k of [2, 5, 8]) assert.deepEqual(runSyncTest({ checkDistance: k }).checksums, reference);
  });

  it("catches a non-deterministic game", () => {
    const { session } = runSyncTest({ checkDistance: 2, frames: 20, nondeterministic: true });
    assert.ok(session.mismatches.length > 0);
    const first = session.mismatches[0]!;
    assert.notEqual(first.first, first.resimulated);
  });

  it("rejects a check distance outside 1..maxPrediction", () => {
    const b = new SessionBuilder().withActionSpace(TOY_ACTION_SPACE).addLocalPlayer(0);
    assert.throws(() => b.startSyncTestSession(0), /checkDistance/);
    assert.throws(() => b.startSyncTestSession(9), /checkDistance/);
  });

  it("throws (a host error) when a local input is missing", () => {
    const session = new SessionBuilder().withActionSpace(TOY_ACTION_SPACE).addLocalPlayer(0).startSyncTestSession(2);
    assert.throws(() => session.advanceFrame(), /no local input/);
  });
});
