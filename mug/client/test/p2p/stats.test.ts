import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { candidateAddress, channelKind, isLoopbackCandidate, selectedPair } from "../../src/p2p/stats";

// Shapes as Chromium's getStats() reports them (only the fields read).
const chromiumRelay = [
  { id: "T01", type: "transport", selectedCandidatePairId: "CP2" },
  { id: "CP1", type: "candidate-pair", localCandidateId: "L1", remoteCandidateId: "R1", state: "failed" },
  { id: "CP2", type: "candidate-pair", localCandidateId: "L2", remoteCandidateId: "R2", state: "succeeded", nominated: true, currentRoundTripTime: 0.0015 },
  { id: "L1", type: "local-candidate", candidateType: "host", address: "10.0.0.5" },
  { id: "L2", type: "local-candidate", candidateType: "relay", address: "127.0.0.1" },
  { id: "R1", type: "remote-candidate", candidateType: "srflx", address: "1.2.3.4" },
  { id: "R2", type: "remote-candidate", candidateType: "relay", address: "127.0.0.1" },
];

describe("the selected candidate pair", () => {
  it("is the one the transport names, with both candidate types and the RTT in ms", () => {
    const pair = selectedPair(chromiumRelay);
    assert.deepEqual(pair, {
      localType: "relay",
      remoteType: "relay",
      localAddress: "127.0.0.1",
      remoteAddress: "127.0.0.1",
      rttMs: 1.5,
    });
    assert.equal(channelKind(pair), "turn");
  });

  it("falls back to a pair flagged selected, or nominated and succeeded", () => {
    const older = chromiumRelay.filter((s) => s.type !== "transport");
    assert.equal(selectedPair(older)?.localType, "relay");
    const flagged = [
      { id: "P", type: "candidate-pair", selected: true, localCandidateId: "a", remoteCandidateId: "b" },
      { id: "a", type: "local-candidate", candidateType: "host", ip: "192.168.1.2" },
      { id: "b", type: "remote-candidate", candidateType: "prflx" },
    ];
    const pair = selectedPair(flagged);
    assert.equal(pair?.localAddress, "192.168.1.2");
    assert.equal(pair?.rttMs, null);
    assert.equal(channelKind(pair), "direct");
  });

  it("is null before ICE selected one; a relay on either side makes the channel TURN", () => {
    assert.equal(selectedPair([{ id: "T", type: "transport" }]), null);
    assert.equal(channelKind(null), "direct");
    const half = { localType: "srflx", remoteType: "relay", localAddress: null, remoteAddress: null, rttMs: null } as const;
    assert.equal(channelKind(half), "turn");
  });
});

describe("loopback-only candidates (test mode)", () => {
  it("reads the address of a candidate line", () => {
    const relay = "candidate:1 1 udp 41885439 127.0.0.1 50123 typ relay raddr 127.0.0.1 rport 49152 generation 0";
    assert.equal(candidateAddress(relay), "127.0.0.1");
    assert.equal(candidateAddress(`a=${relay}`), "127.0.0.1");
    assert.equal(candidateAddress("nonsense"), null);
    assert.ok(isLoopbackCandidate(relay));
  });

  it("drops the machine's outward addresses and mDNS names", () => {
    assert.ok(!isLoopbackCandidate("candidate:2 1 udp 2122260223 172.17.0.2 40000 typ host generation 0"));
    assert.ok(!isLoopbackCandidate("candidate:3 1 udp 2122260223 3f1e0a4e-6c3f-4b2e.local 40000 typ host"));
    assert.ok(!isLoopbackCandidate("candidate:4 1 udp 1 127.0.0.1.evil.example 1 typ host"));
    assert.ok(!isLoopbackCandidate(""));
  });
});
