// The binary, versioned wire format: one header, one body per message type, a CRC-32 trailer.
// Byte-by-byte layout: docs/netcode.md, section "Wire format".
import { NetcodeError } from "../errors";
import type { Frame, PeerId } from "../types";
import { ByteReader, ByteWriter, TruncatedInput, crc32 } from "./bytes";

/** "MG" */
export const WIRE_MAGIC_0 = 0x4d;
export const WIRE_MAGIC_1 = 0x47;
export const WIRE_VERSION = 2;
export const HEADER_BYTES = 11;
export const CRC_BYTES = 4;
export const MAX_BODY_BYTES = 0xffff;
/** An input message never carries more frames than this (the rest goes in the next one). */
export const MAX_FRAMES_PER_INPUT = 1024;
export const MAX_CHECKSUM_ENTRIES = 32;
export const MAX_STATE_CHUNK = 16 * 1024;
/** Advantage is sent in hundredths of a frame, clamped to what an int16 holds. */
export const ADVANTAGE_SCALE = 100;

export const MessageType = {
  syncRequest: 1,
  syncReply: 2,
  input: 3,
  ping: 4,
  pong: 5,
  checksumReport: 6,
  resyncRequest: 7,
  stateChunk: 8,
  stateAck: 9,
  joinRequest: 10,
} as const;

export interface SyncMessage {
  readonly type: "syncRequest" | "syncReply";
  readonly nonce: number;
  readonly configHash: number;
}

export interface InputMessage {
  readonly type: "input";
  /** The sender's current frame when it sent this. */
  readonly senderFrame: Frame;
  /** Highest frame up to which the sender holds every input of the receiver's players (-1: none). */
  readonly ackFrame: Frame;
  /** The sender's estimate of how many frames it is ahead of the receiver. */
  readonly advantage: number;
  /** The episode end frame the sender agreed to, or -1. */
  readonly endFrame: Frame;
  /**
   * The first frame of the episode `endFrame` ends (the sender's previous agreed end, 0 at first).
   * A proposal still in flight when its episode ended must not end the next one: the receiver
   * takes `endFrame` only when this is where its own current episode started.
   */
  readonly episodeStart: Frame;
  /** Frame of records[0]. */
  readonly startFrame: Frame;
  /** Bytes per frame record: the encoded inputs of all the sender's players, in handle order. */
  readonly recordSize: number;
  readonly records: readonly Uint8Array[];
}

export interface PingMessage {
  readonly type: "ping" | "pong";
  readonly timeMs: number;
}

export interface ChecksumEntry {
  readonly frame: Frame;
  readonly checksum: number;
}

export interface ChecksumReportMessage {
  readonly type: "checksumReport";
  /** How many resyncs the sender has applied; a report older than a resync is stale. */
  readonly resyncCount: number;
  readonly entries: readonly ChecksumEntry[];
}

export interface ResyncRequestMessage {
  readonly type: "resyncRequest";
  /** The checksum frame where the sender saw the mismatch. */
  readonly frame: Frame;
  /** The sender's resync count when it asked; the source ignores requests already served. */
  readonly resyncCount: number;
}

export interface StateChunkMessage {
  readonly type: "stateChunk";
  readonly transferId: number;
  readonly frame: Frame;
  readonly totalBytes: number;
  readonly offset: number;
  readonly data: Uint8Array;
}

export interface StateAckMessage {
  readonly type: "stateAck";
  readonly transferId: number;
  /** Bytes received contiguously from offset 0. */
  readonly receivedBytes: number;
}

/**
 * From a peer whose session restarted mid-game (its page reloaded): "I am back, as a new
 * incarnation `joinId`". Sent to every peer, repeatedly until the join is done; `wantState` asks
 * the receiver (the join source) for its confirmed state.
 */
export interface JoinRequestMessage {
  readonly type: "joinRequest";
  readonly joinId: number;
  readonly configHash: number;
  readonly wantState: boolean;
}

export type WireMessage =
  | SyncMessage
  | JoinRequestMessage
  | InputMessage
  | PingMessage
  | ChecksumReportMessage
  | ResyncRequestMessage
  | StateChunkMessage
  | StateAckMessage;

export interface Envelope {
  readonly sender: PeerId;
  readonly sessionTag: number;
  readonly message: WireMessage;
}

export type DecodeResult = { readonly ok: true; readonly envelope: Envelope } | { readonly ok: false; readonly error: NetcodeError };

function writeBody(w: ByteWriter, m: WireMessage): void {
  switch (m.type) {
    case "syncRequest":
    case "syncReply":
      w.u32(m.nonce).u32(m.configHash);
      return;
    case "input": {
      w.u32(m.senderFrame).i32(m.ackFrame);
      const adv = Math.max(-32768, Math.min(32767, Math.round(m.advantage * ADVANTAGE_SCALE)));
      w.i16(adv).i32(m.endFrame).u32(m.episodeStart).u32(m.startFrame).u16(m.records.length).u16(m.recordSize);
      // Run-length encoding: [run length u8 (1..255)][record bytes], repeated.
      let i = 0;
      while (i < m.records.length) {
        const rec = m.records[i]!;
        let run = 1;
        while (run < 255 && i + run < m.records.length && sameBytes(m.records[i + run]!, rec)) run++;
        w.u8(run).bytes(rec);
        i += run;
      }
      return;
    }
    case "ping":
    case "pong":
      w.f64(m.timeMs);
      return;
    case "checksumReport":
      w.u16(m.resyncCount).u8(m.entries.length);
      for (const e of m.entries) w.u32(e.frame).u32(e.checksum);
      return;
    case "resyncRequest":
      w.u32(m.frame).u16(m.resyncCount);
      return;
    case "stateChunk":
      w.u16(m.transferId).u32(m.frame).u32(m.totalBytes).u32(m.offset).u16(m.data.length).bytes(m.data);
      return;
    case "stateAck":
      w.u16(m.transferId).u32(m.receivedBytes);
      return;
    case "joinRequest":
      w.u32(m.joinId).u32(m.configHash).u8(m.wantState ? 1 : 0);
      return;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Encodes a message; throws RangeError if the caller built one the format cannot hold (a local bug). */
export function encodeMessage(sender: PeerId, sessionTag: number, message: WireMessage): Uint8Array {
  const w = new ByteWriter(64);
  w.u8(WIRE_MAGIC_0).u8(WIRE_MAGIC_1).u8(WIRE_VERSION).u8(MessageType[message.type]).u8(sender).u32(sessionTag).u16(0);
  writeBody(w, message);
  const bodyLength = w.length - HEADER_BYTES;
  if (bodyLength > MAX_BODY_BYTES) throw new RangeError(`message body of ${bodyLength} bytes exceeds ${MAX_BODY_BYTES}`);
  w.patchU16(9, bodyLength);
  return w.finishWithCrc();
}

const TYPE_NAMES: ReadonlyMap<number, WireMessage["type"]> = new Map(
  Object.entries(MessageType).map(([name, id]) => [id, name as WireMessage["type"]]),
);

function fail(code: NetcodeError["code"], message: string): DecodeResult {
  return { ok: false, error: new NetcodeError(code, message) };
}

/** Decodes and validates one message. Never throws: every problem becomes a typed error. */
export function decodeMessage(bytes: Uint8Array): DecodeResult {
  if (!(bytes instanceof Uint8Array)) return fail("malformed", "message is not a byte array");
  if (bytes.length < 3) return fail("truncated", `${bytes.length} bytes is shorter than any header`);
  if (bytes[0] !== WIRE_MAGIC_0 || bytes[1] !== WIRE_MAGIC_1) return fail("badMagic", "not a MUG netcode message");
  if (bytes[2] !== WIRE_VERSION) return fail("unsupportedVersion", `wire version ${bytes[2]}, this peer speaks ${WIRE_VERSION}`);
  if (bytes.length < HEADER_BYTES + CRC_BYTES) return fail("truncated", `${bytes.length} bytes is shorter than header + CRC`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bodyLength = view.getUint16(9, true);
  const expected = HEADER_BYTES + bodyLength + CRC_BYTES;
  if (bytes.length < expected) return fail("truncated", `header announces ${expected} bytes, got ${bytes.length}`);
  if (bytes.length > expected) return fail("malformed", `header announces ${expected} bytes, got ${bytes.length}`);
  const crc = view.getUint32(bytes.length - CRC_BYTES, true);
  if (crc !== crc32(bytes, 0, bytes.length - CRC_BYTES)) return fail("badCrc", "CRC-32 mismatch");
  const typeName = TYPE_NAMES.get(bytes[3]!);
  if (typeName === undefined) return fail("unknownMessageType", `message type ${bytes[3]}`);
  const sender = bytes[4]!;
  const sessionTag = view.getUint32(5, true);
  const r = new ByteReader(bytes, HEADER_BYTES, HEADER_BYTES + bodyLength);
  try {
    const message = readBody(r, typeName);
    if (typeof message === "string") return fail("malformed", `${typeName}: ${message}`);
    if (r.remaining !== 0) return fail("malformed", `${typeName}: ${r.remaining} unexpected trailing bytes`);
    return { ok: true, envelope: { sender, sessionTag, message } };
  } catch (e) {
    if (e instanceof TruncatedInput) return fail("truncated", `${typeName} body ends early`);
    throw e;
  }
}

/** Returns the message, or a string describing why it is malformed. */
function readBody(r: ByteReader, type: WireMessage["type"]): WireMessage | string {
  switch (type) {
    case "syncRequest":
    case "syncReply":
      return { type, nonce: r.u32(), configHash: r.u32() };
    case "input": {
      const senderFrame = r.u32();
      const ackFrame = r.i32();
      const advantage = r.i16() / ADVANTAGE_SCALE;
      const endFrame = r.i32();
      const episodeStart = r.u32();
      const startFrame = r.u32();
      const count = r.u16();
      const recordSize = r.u16();
      if (senderFrame > 0x7fffffff || startFrame > 0x7fffffff || episodeStart > 0x7fffffff) return "frame number out of range";
      if (endFrame >= 0 && endFrame <= episodeStart) return "episode end not after its start";
      if (ackFrame < -1 || endFrame < -1) return "negative frame";
      if (count > MAX_FRAMES_PER_INPUT) return `${count} frames exceeds ${MAX_FRAMES_PER_INPUT}`;
      if (recordSize < 1) return "zero record size";
      if (startFrame + count > 0x7fffffff) return "frame number out of range";
      const records: Uint8Array[] = [];
      while (records.length < count) {
        const run = r.u8();
        if (run === 0) return "zero-length run";
        if (records.length + run > count) return "runs exceed the frame count";
        const rec = r.bytes(recordSize);
        for (let k = 0; k < run; k++) records.push(rec);
      }
      return { type, senderFrame, ackFrame, advantage, endFrame, episodeStart, startFrame, recordSize, records };
    }
    case "ping":
    case "pong": {
      const timeMs = r.f64();
      if (!Number.isFinite(timeMs)) return "time is not finite";
      return { type, timeMs };
    }
    case "checksumReport": {
      const resyncCount = r.u16();
      const n = r.u8();
      if (n > MAX_CHECKSUM_ENTRIES) return `${n} entries exceeds ${MAX_CHECKSUM_ENTRIES}`;
      const entries: ChecksumEntry[] = [];
      for (let i = 0; i < n; i++) {
        const frame = r.u32();
        const checksum = r.u32();
        if (frame > 0x7fffffff) return "frame number out of range";
        entries.push({ frame, checksum });
      }
      return { type, resyncCount, entries };
    }
    case "resyncRequest": {
      const frame = r.u32();
      const resyncCount = r.u16();
      if (frame > 0x7fffffff) return "frame number out of range";
      return { type, frame, resyncCount };
    }
    case "stateChunk": {
      const transferId = r.u16();
      const frame = r.u32();
      const totalBytes = r.u32();
      const offset = r.u32();
      const len = r.u16();
      if (frame > 0x7fffffff) return "frame number out of range";
      if (len > MAX_STATE_CHUNK) return `chunk of ${len} bytes exceeds ${MAX_STATE_CHUNK}`;
      if (offset + len > totalBytes) return "chunk extends past the state's length";
      if (len === 0 && totalBytes !== 0) return "empty chunk";
      return { type, transferId, frame, totalBytes, offset, data: r.bytes(len) };
    }
    case "stateAck":
      return { type, transferId: r.u16(), receivedBytes: r.u32() };
    case "joinRequest": {
      const joinId = r.u32();
      const configHash = r.u32();
      const flags = r.u8();
      if (flags > 1) return `unknown flags ${flags}`;
      return { type, joinId, configHash, wantState: flags === 1 };
    }
  }
}
