import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  RELAY_MAX_EVENT_CHARS,
  RELAY_MAX_PACKET_BYTES,
  RELAY_MAX_PACKETS,
  RelayFormatError,
  fromBase64,
  packRelay,
  toBase64,
} from "../../src/p2p/wire";

function bytes(n: number, seed = 0): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
}

describe("relay base64 framing", () => {
  it("round-trips every length, including all byte values", () => {
    for (let n = 0; n < 70; n++) assert.deepEqual(fromBase64(toBase64(bytes(n, n))), bytes(n, n));
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    assert.deepEqual(fromBase64(toBase64(all)), all);
    assert.equal(toBase64(Uint8Array.from([0xfb, 0xff])), "+/8=");
  });

  it("round-trips a packet larger than the chunk String.fromCharCode takes at once", () => {
    const big = bytes(20_000, 7);
    assert.deepEqual(fromBase64(toBase64(big)), big);
  });

  it("refuses what is not base64, naming the problem", () => {
    for (const bad of ["abc", "ab=c", "a b=", "@@@@", "AAAA===="]) {
      assert.throws(() => fromBase64(bad), (e: unknown) => e instanceof RelayFormatError && /not valid base64/.test(e.message));
    }
    assert.throws(() => fromBase64(42), /must be a base64 string, got number/);
  });
});

describe("relay batches", () => {
  it("puts one tick's packets for several peers into one event", () => {
    const { events, oversize } = packRelay("g1", [
      { to: 1, bytes: bytes(10) },
      { to: 2, bytes: bytes(12) },
      { to: 1, bytes: bytes(3) },
    ]);
    assert.equal(events.length, 1);
    assert.equal(oversize.length, 0);
    assert.equal(events[0]!.game_id, "g1");
    assert.deepEqual(events[0]!.packets.map((p) => p.to), [1, 2, 1]);
    assert.deepEqual(fromBase64(events[0]!.packets[1]!.data), bytes(12));
  });

  it("splits at the server's packet count and size limits, in order", () => {
    const many = Array.from({ length: 40 }, (_, i) => ({ to: 1, bytes: bytes(20, i) }));
    const counted = packRelay("g", many).events;
    assert.deepEqual(counted.map((e) => e.packets.length), [RELAY_MAX_PACKETS, RELAY_MAX_PACKETS, 8]);
    assert.deepEqual(counted.flatMap((e) => e.packets.map((p) => fromBase64(p.data)[0])), many.map((p) => p.bytes[0]));

    const large = Array.from({ length: 16 }, (_, i) => ({ to: 2, bytes: bytes(RELAY_MAX_PACKET_BYTES, i) }));
    const sized = packRelay("g", large).events;
    assert.ok(sized.length >= 2, "16 packets of 2 kB exceed one event's 40 000 characters");
    for (const e of sized) {
      assert.ok(JSON.stringify(e).length <= 40_000, `event of ${JSON.stringify(e).length} characters`);
      assert.ok(e.packets.reduce((n, p) => n + p.data.length, 0) <= RELAY_MAX_EVENT_CHARS);
    }
    assert.equal(sized.reduce((n, e) => n + e.packets.length, 0), 16);
  });

  it("keeps packets the server would refuse out of the events", () => {
    const tooBig = { to: 1, bytes: bytes(RELAY_MAX_PACKET_BYTES + 1) };
    const empty = { to: 1, bytes: new Uint8Array(0) };
    const fine = { to: 1, bytes: bytes(RELAY_MAX_PACKET_BYTES) };
    const { events, oversize } = packRelay("g", [tooBig, fine, empty]);
    assert.deepEqual(oversize, [tooBig, empty]);
    assert.equal(events.length, 1);
    assert.equal(events[0]!.packets.length, 1);
    assert.deepEqual(packRelay("g", []).events, []);
  });
});
