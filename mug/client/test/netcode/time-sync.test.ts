import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DEFAULT_TIME_SYNC } from "../../src/netcode";
import { Cluster } from "../../src/netcode/testing/cluster";
import { FrameAdvantage, FrameClock } from "../../src/netcode/time-sync";
import { assertAgreement, minConfirmed } from "./helpers";

const OPTIONS = { frameMs: 1000 / 30, ...DEFAULT_TIME_SYNC };

/** Peer 1's clock runs 3 % slow (timer drift, a throttled tab): peer 0 keeps getting ahead. */
function drift(enabled: boolean) {
  const network = { latencyMs: 40, jitterMs: 10, loss: 0.05, duplicate: 0, reorder: 0, reorderExtraMs: 0 };
  const cluster = new Cluster({ numPlayers: 2, seed: 4, network, clockScale: [1, 0.97], session: { timeSync: { enabled } } });
  cluster.run(2000);
  let longestPauseMs = 0;
  let sinceLastFrame = 0;
  let maxGap = 0;
  let last = cluster.peer(0).session.currentFrame;
  for (let t = 0; t < 60_000; t++) {
    cluster.step();
    const f = cluster.peer(0).session.currentFrame;
    sinceLastFrame = f === last ? sinceLastFrame + 1 : 0;
    longestPauseMs = Math.max(longestPauseMs, sinceLastFrame + 1);
    last = f;
    maxGap = Math.max(maxGap, Math.abs(f - cluster.peer(1).session.currentFrame));
  }
  return { cluster, longestPauseMs, maxGap };
}

describe("time sync", () => {
  it("a peer running ahead slows down smoothly instead of stalling in bursts", () => {
    const { cluster, longestPauseMs, maxGap } = drift(true);
    const ahead = cluster.peer(0);
    assert.equal(ahead.statuses.predictionThreshold, 0, "the peer ahead hit the prediction window");
    assert.ok(maxGap <= 2, `frame gap reached ${maxGap}`);
    // Never more than a slightly stretched frame between two frames.
    assert.ok(longestPauseMs <= 38, `a ${longestPauseMs} ms pause between frames`);
    assert.ok(ahead.session.stats().frameRate < 1, "the peer ahead should run below the nominal rate");
    assertAgreement(cluster, minConfirmed(cluster));
  });

  it("without it the same drift makes the peer ahead stall in bursts (control)", () => {
    const { cluster, longestPauseMs, maxGap } = drift(false);
    assert.ok(cluster.peer(0).statuses.predictionThreshold > 0);
    assert.ok(longestPauseMs >= 60, `${longestPauseMs}`);
    assert.ok(maxGap >= 8);
  });

  it("the frame clock maps advantage to a bounded rate with a dead band", () => {
    const clock = new FrameClock(OPTIONS);
    assert.equal(clock.rateFor(0), 1);
    assert.equal(clock.rateFor(0.4), 1);
    assert.ok(clock.rateFor(2) < 1 && clock.rateFor(2) > clock.rateFor(4));
    assert.equal(clock.rateFor(1000), 1 - OPTIONS.maxSlowdown);
    assert.ok(clock.rateFor(-2) > 1);
    assert.equal(clock.rateFor(-1000), 1 + OPTIONS.maxSpeedup);
    assert.equal(new FrameClock({ ...OPTIONS, enabled: false }).rateFor(50), 1);
  });

  it("the frame clock runs frames at the nominal rate and caps bursts", () => {
    const clock = new FrameClock(OPTIONS);
    let frames = clock.framesDue(0, 0);
    for (let t = 1; t <= 10_000; t++) frames += clock.framesDue(t, 0);
    assert.ok(Math.abs(frames - 301) <= 1, `${frames} frames in 10 s`);
    // A host that was away for a second gets at most two frames, not thirty.
    assert.equal(clock.framesDue(11_000, 0), 2);
    // Far behind, it may run up to maxFramesPerPoll per call to catch up.
    assert.equal(clock.framesDue(12_000, -100), OPTIONS.maxFramesPerPoll);
  });

  it("frame advantage combines both peers' measurements", () => {
    const adv = new FrameAdvantage(OPTIONS);
    // Remote says it was at frame 100 and 3 frames behind us; we are at 106 with a 0 ms RTT.
    adv.sample(1, 100, -3, 106, 0, 0);
    assert.equal(adv.aheadOf(1), (6 - -3) / 2);
    assert.equal(adv.framesAhead([1]), 4.5);
    assert.equal(adv.framesAhead([]), 0);
    // Small noise is averaged, a large jump is followed at once.
    adv.sample(1, 200, -4.5, 204.5, 0, 0);
    assert.equal(adv.aheadOf(1), 4.5);
    adv.sample(1, 300, 20, 280, 0, 0);
    assert.equal(adv.aheadOf(1), -20);
  });
});
