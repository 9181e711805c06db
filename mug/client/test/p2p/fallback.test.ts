import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LinkPolicy, type LinkAction, type LinkEvent } from "../../src/p2p/fallback";

const T = 5000; // connect_timeout_s = 5

/** Drives a policy through (time, event) steps and returns every action with its time. */
function drive(steps: [number, LinkEvent][]): { policy: LinkPolicy; log: [number, LinkAction][] } {
  const policy = new LinkPolicy(T, 0);
  const log: [number, LinkAction][] = [];
  for (const [t, e] of steps) for (const a of policy.handle(e, t)) log.push([t, a]);
  return { policy, log };
}

const tick = { type: "tick" } as const;
const open = { type: "open" } as const;
const failed = (reason = "ICE failed") => ({ type: "failed", reason }) as const;

describe("the per-pair fallback decision", () => {
  it("starts connecting on the relay, and uses the DataChannel once open", () => {
    const policy = new LinkPolicy(T, 0);
    assert.equal(policy.state, "connecting");
    assert.equal(policy.path, "relay");
    assert.deepEqual(policy.handle(open, 300), [{ kind: "state", state: "open", reason: "DataChannel open" }]);
    assert.equal(policy.path, "channel");
    assert.deepEqual(policy.handle(open, 400), [], "a repeated open changes nothing");
    assert.deepEqual(policy.handle(tick, 60_000), [], "an open channel never times out");
  });

  it("switches to the relay when no channel opened within the connect timeout", () => {
    const { policy, log } = drive([[1000, tick], [4999, tick], [5000, tick], [9000, tick]]);
    assert.deepEqual(log, [[5000, { kind: "state", state: "relay", reason: "no DataChannel opened within 5 s" }]]);
    assert.equal(policy.path, "relay");
  });

  it("asks for an ICE restart when ICE fails before the first open, keeping the first deadline", () => {
    const { log } = drive([[2000, failed()], [4000, tick], [5000, tick]]);
    assert.deepEqual(log, [
      [2000, { kind: "restart", reason: "ICE failed" }],
      [5000, { kind: "state", state: "relay", reason: "no DataChannel opened within 5 s" }],
    ]);
  });

  it("a failed channel goes to the relay at once, restarts ICE, and comes back when it recovers in time", () => {
    const { policy, log } = drive([[100, open], [10_000, failed("ICE disconnected")], [12_000, tick], [13_000, open]]);
    assert.deepEqual(log.slice(1), [
      [10_000, { kind: "state", state: "restarting", reason: "ICE disconnected" }],
      [10_000, { kind: "restart", reason: "ICE disconnected" }],
      [13_000, { kind: "state", state: "open", reason: "DataChannel open" }],
    ]);
    assert.equal(policy.path, "channel");
  });

  it("stays on the relay when the ICE restart did not recover within the timeout after the failure", () => {
    const { policy, log } = drive([[100, open], [10_000, failed()], [14_999, tick], [15_000, tick], [16_000, failed()]]);
    assert.deepEqual(log.slice(-1), [
      [15_000, { kind: "state", state: "relay", reason: "the ICE restart did not recover the DataChannel within 5 s" }],
    ]);
    assert.equal(policy.state, "relay");
    assert.equal(policy.path, "relay");
  });

  it("repeated failure reports while restarting repeat the restart request, not the state", () => {
    const { log } = drive([[100, open], [1000, failed("ICE disconnected")], [1500, failed("ICE failed")]]);
    assert.deepEqual(log.slice(1).map(([, a]) => a.kind), ["state", "restart", "restart"]);
  });

  it("uses a channel that opens after the pair went to the relay (the chosen switch-back)", () => {
    const { policy, log } = drive([[5000, tick], [7000, open]]);
    assert.deepEqual(log.map(([, a]) => (a.kind === "state" ? a.state : a.kind)), ["relay", "open"]);
    assert.equal(policy.path, "channel");
    assert.ok(policy.wasOpen);
  });

  it("refuses a timeout that is not a positive number of ms", () => {
    assert.throws(() => new LinkPolicy(0, 0), /connect timeout must be a positive number of ms, got 0/);
    assert.throws(() => new LinkPolicy(Number.NaN, 0), /got NaN/);
  });
});
