// Reliable transfer of one serialized state over an unreliable channel: fixed-size chunks sent in a
// window, a cumulative ack, and a resend from the acked offset when acks stop coming.
import type { StateAckMessage, StateChunkMessage } from "./wire/messages";
import type { Frame, PeerId } from "./types";

export class StateSender {
  private acked = 0;
  private next = 0;
  private lastProgressMs: number;
  done = false;

  constructor(
    readonly peer: PeerId,
    readonly transferId: number,
    readonly frame: Frame,
    private readonly bytes: Uint8Array,
    private readonly chunkBytes: number,
    private readonly windowChunks: number,
    nowMs: number,
  ) {
    this.lastProgressMs = nowMs;
  }

  /** Returns true when the receiver has everything. */
  onAck(receivedBytes: number, nowMs: number): boolean {
    if (receivedBytes > this.acked && receivedBytes <= this.bytes.length) {
      this.acked = receivedBytes;
      this.lastProgressMs = nowMs;
      if (this.next < this.acked) this.next = this.acked;
    }
    if (this.acked === this.bytes.length) this.done = true;
    return this.done;
  }

  /** Chunks to send now: new ones inside the window, or a resend from the acked offset after `resendMs`. */
  chunks(nowMs: number, resendMs: number): StateChunkMessage[] {
    if (this.done) return [];
    if (nowMs - this.lastProgressMs >= resendMs) {
      this.next = this.acked;
      this.lastProgressMs = nowMs;
    }
    const out: StateChunkMessage[] = [];
    if (this.bytes.length === 0) {
      // An empty state is still announced by one empty chunk.
      if (this.next === 0) {
        out.push(this.chunk(0, 0));
        this.next = 1;
      }
      return out;
    }
    const windowEnd = Math.min(this.bytes.length, this.acked + this.windowChunks * this.chunkBytes);
    while (this.next < windowEnd) {
      const len = Math.min(this.chunkBytes, this.bytes.length - this.next);
      out.push(this.chunk(this.next, len));
      this.next += len;
    }
    return out;
  }

  private chunk(offset: number, len: number): StateChunkMessage {
    return {
      type: "stateChunk",
      transferId: this.transferId,
      frame: this.frame,
      totalBytes: this.bytes.length,
      offset,
      data: this.bytes.subarray(offset, offset + len),
    };
  }
}

export class StateReceiver {
  private readonly buffer: Uint8Array;
  private received = 0;
  private readonly parts = new Map<number, number>();

  constructor(
    readonly source: PeerId,
    readonly transferId: number,
    readonly frame: Frame,
    readonly totalBytes: number,
  ) {
    this.buffer = new Uint8Array(totalBytes);
  }

  /** False when the chunk does not belong to this transfer. */
  matches(m: StateChunkMessage): boolean {
    return m.transferId === this.transferId && m.frame === this.frame && m.totalBytes === this.totalBytes;
  }

  /** Stores a chunk (any order); returns true once every byte arrived. */
  onChunk(m: StateChunkMessage): boolean {
    if (m.offset >= this.received && !this.parts.has(m.offset)) {
      this.buffer.set(m.data, m.offset);
      this.parts.set(m.offset, m.data.length);
      let len = this.parts.get(this.received);
      while (len !== undefined && len > 0) {
        this.parts.delete(this.received);
        this.received += len;
        len = this.parts.get(this.received);
      }
    }
    return this.complete;
  }

  get complete(): boolean {
    return this.received === this.totalBytes;
  }

  get bytes(): Uint8Array {
    return this.buffer;
  }

  ack(): StateAckMessage {
    return { type: "stateAck", transferId: this.transferId, receivedBytes: this.received };
  }
}
