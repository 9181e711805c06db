import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { WIRE_VERSION, decodeMessage, encodeMessage, type WireMessage } from "../../src/netcode";
import { ByteWriter, crc32 } from "../../src/netcode/wire/bytes";
import { HEADER_BYTES, MessageType } from "../../src/netcode/wire/messages";
import { Prng } from "../../src/netcode/testing/prng";

const rec = (...b: number[]) => Uint8Array.from(b);

const SAMPLES: WireMessage[] = [
  { type: "syncRequest", nonce: 0x01000005, configHash: 0xdeadbeef },
  { type: "syncReply", nonce: 7, configHash: 1 },
  {
    type: "input",
    senderFrame: 1234,
    ackFrame: -1,
    advantage: -1.25,
    endFrame: -1,
    episodeStart: 0,
    startFrame: 1200,
    recordSize: 2,
    records: [rec(1, 2), rec(1, 2), rec(1, 2), rec(3, 4), rec(1, 2)],
  },
  { type: "input", senderFrame: 0, ackFrame: 5, advantage: 0, endFrame: 900, episodeStart: 450, startFrame: 3, recordSize: 1, records: [] },
  { type: "ping", timeMs: 12345.5 },
  { type: "pong", timeMs: 0 },
  { type: "checksumReport", resyncCount: 2, entries: [{ frame: 30, checksum: 0xffffffff }, { frame: 60, checksum: 0 }] },
  { type: "resyncRequest", frame: 90, resyncCount: 1 },
  { type: "stateChunk", transferId: 3, frame: 120, totalBytes: 10, offset: 4, data: rec(9, 8, 7) },
  { type: "stateAck", transferId: 3, receivedBytes: 7 },
];

/** A message with a chosen type byte and body and a valid length and CRC (to reach body checks). */
function rawMessage(type: number, body: number[], version = WIRE_VERSION): Uint8Array {
  const w = new ByteWriter();
  w.u8(0x4d).u8(0x47).u8(version).u8(type).u8(0).u32(0).u16(body.length);
  for (const b of body) w.u8(b);
  return w.finishWithCrc();
}

function le32(v: number): number[] {
  return [v & 255, (v >>> 8) & 255, (v >>> 16) & 255, (v >>> 24) & 255];
}

describe("wire format", () => {
  it("round-trips every message type", () => {
    for (const m of SAMPLES) {
      const bytes = encodeMessage(2, 0xabcdef01, m);
      const d = decodeMessage(bytes);
      assert.ok(d.ok, d.ok ? "" : d.error.message);
      assert.equal(d.envelope.sender, 2);
      assert.equal(d.envelope.sessionTag, 0xabcdef01);
      assert.deepEqual(d.envelope.message, m);
    }
  });

  it("run-length encodes repeated inputs", () => {
    const records = Array.from({ length: 300 }, () => rec(7));
    const bytes = encodeMessage(0, 0, { type: "input", senderFrame: 0, ackFrame: -1, advantage: 0, endFrame: -1, episodeStart: 0, startFrame: 0, recordSize: 1, records });
    // 300 identical frames: two runs (255 + 45) of 2 bytes each.
    assert.ok(bytes.length < HEADER_BYTES + 26 + 4 + 4 + 1, `${bytes.length} bytes`);
    const d = decodeMessage(bytes);
    assert.ok(d.ok && d.envelope.message.type === "input" && d.envelope.message.records.length === 300);
  });

  it("rejects every truncation of every message with an error, never an exception", () => {
    for (const m of SAMPLES) {
      const bytes = encodeMessage(1, 0, m);
      for (let n = 0; n < bytes.length; n++) {
        const d = decodeMessage(bytes.subarray(0, n));
        assert.equal(d.ok, false, `${m.type} truncated to ${n} bytes was accepted`);
        if (!d.ok) assert.ok(["truncated", "badMagic"].includes(d.error.code), d.error.code);
      }
    }
  });

  it("rejects any single corrupted byte", () => {
    for (const m of SAMPLES) {
      const bytes = encodeMessage(1, 0, m);
      for (let i = 0; i < bytes.length; i++) {
        for (const flip of [0x01, 0x80, 0xff]) {
          const bad = bytes.slice();
          bad[i] = bad[i]! ^ flip;
          assert.equal(decodeMessage(bad).ok, false, `${m.type}: byte ${i} ^ ${flip} accepted`);
        }
      }
    }
  });

  it("survives random garbage", () => {
    const rng = new Prng(99);
    for (let i = 0; i < 5000; i++) {
      const len = rng.int(64);
      const b = new Uint8Array(len);
      for (let k = 0; k < len; k++) b[k] = rng.int(256);
      if (len > 2 && rng.chance(0.5)) {
        b[0] = 0x4d;
        b[1] = 0x47;
        b[2] = WIRE_VERSION;
      }
      assert.equal(decodeMessage(b).ok, false);
    }
  });

  it("names the problem: magic, version, type, CRC, trailing bytes", () => {
    const good = encodeMessage(0, 0, { type: "ping", timeMs: 1 });
    const code = (b: Uint8Array) => {
      const d = decodeMessage(b);
      return d.ok ? "ok" : d.error.code;
    };
    assert.equal(code(Uint8Array.of(0x4d, 0x48, 1, 0, 0)), "badMagic");
    assert.equal(code(rawMessage(MessageType.ping, [0, 0, 0, 0, 0, 0, 0, 0], WIRE_VERSION + 1)), "unsupportedVersion");
    // (Version 1 had no episodeStart in input messages: a page from before it is told so.)
    assert.equal(code(rawMessage(MessageType.ping, [0, 0, 0, 0, 0, 0, 0, 0], 1)), "unsupportedVersion");
    assert.equal(code(rawMessage(200, [])), "unknownMessageType");
    const badCrc = good.slice();
    badCrc[badCrc.length - 1] = badCrc[badCrc.length - 1]! ^ 1;
    assert.equal(code(badCrc), "badCrc");
    const longer = new Uint8Array(good.length + 1);
    longer.set(good);
    assert.equal(code(longer), "malformed");
    assert.equal(code(rawMessage(MessageType.ping, [0, 0, 0, 0, 0, 0, 0, 0, 1])), "malformed");
    assert.equal(code(rawMessage(MessageType.ping, [0, 0, 0, 0])), "truncated");
    assert.equal(decodeMessage(new Uint8Array(0)).ok, false);
  });

  it("rejects structurally invalid bodies that carry a valid CRC", () => {
    const code = (type: number, body: number[]) => {
      const d = decodeMessage(rawMessage(type, body));
      return d.ok ? "ok" : d.error.code;
    };
    const inputHead = (count: number, recordSize: number) => [
      ...le32(10), ...le32(5), 0, 0, ...le32(0xffffffff), ...le32(0), ...le32(0), count & 255, count >> 8, recordSize & 255, recordSize >> 8,
    ];
    assert.equal(code(MessageType.input, [...inputHead(2, 1), 2, 7]), "ok");
    assert.equal(code(MessageType.input, [...inputHead(2, 1), 0, 7]), "malformed"); // zero-length run
    assert.equal(code(MessageType.input, [...inputHead(2, 1), 3, 7]), "malformed"); // runs exceed count
    assert.equal(code(MessageType.input, [...inputHead(2, 1), 1, 7]), "truncated"); // runs stop short
    assert.equal(code(MessageType.input, [...inputHead(2, 0)]), "malformed"); // zero record size
    assert.equal(code(MessageType.input, [...inputHead(5000, 1)]), "malformed"); // too many frames
    const ack = [...le32(10), ...le32(0xfffffffe)]; // ackFrame -2
    assert.equal(code(MessageType.input, [...ack, 0, 0, ...le32(0xffffffff), ...le32(0), ...le32(0), 0, 0, 1, 0]), "malformed");
    const endAt = (end: number, start: number) => [...le32(10), ...le32(5), 0, 0, ...le32(end), ...le32(start), ...le32(0), 0, 0, 1, 0];
    assert.equal(code(MessageType.input, endAt(90, 30)), "ok");
    assert.equal(code(MessageType.input, endAt(30, 30)), "malformed"); // an episode that ends where it starts
    assert.equal(code(MessageType.input, endAt(0xffffffff, 0x80000000)), "malformed"); // start out of range
    assert.equal(code(MessageType.stateChunk, [1, 0, ...le32(5), ...le32(4), ...le32(2), 3, 0, 1, 2, 3]), "malformed"); // past the end
    assert.equal(code(MessageType.checksumReport, [0, 0, 200]), "malformed"); // too many entries
    assert.equal(code(MessageType.ping, [0, 0, 0, 0, 0, 0, 0xf8, 0x7f]), "malformed"); // NaN time
  });

  it("uses the IEEE CRC-32", () => {
    assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  });
});
