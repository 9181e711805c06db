// Bounds-checked little-endian byte writer/reader and CRC-32 for the wire codec.

/** Thrown by ByteReader when a field runs past the end; the codec turns it into a "truncated" error. */
export class TruncatedInput extends Error {
  constructor() {
    super("message truncated");
  }
}

export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;

  constructor(initialSize = 64) {
    this.buf = new Uint8Array(initialSize);
    this.view = new DataView(this.buf.buffer);
  }

  get length(): number {
    return this.pos;
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): this {
    this.reserve(1);
    this.buf[this.pos++] = v;
    return this;
  }
  u16(v: number): this {
    this.reserve(2);
    this.view.setUint16(this.pos, v, true);
    this.pos += 2;
    return this;
  }
  i16(v: number): this {
    this.reserve(2);
    this.view.setInt16(this.pos, v, true);
    this.pos += 2;
    return this;
  }
  u32(v: number): this {
    this.reserve(4);
    this.view.setUint32(this.pos, v >>> 0, true);
    this.pos += 4;
    return this;
  }
  i32(v: number): this {
    this.reserve(4);
    this.view.setInt32(this.pos, v, true);
    this.pos += 4;
    return this;
  }
  f64(v: number): this {
    this.reserve(8);
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.reserve(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  /** Overwrites a u16 written earlier (e.g. a length known only at the end). */
  patchU16(at: number, v: number): void {
    this.view.setUint16(at, v, true);
  }

  /** A right-sized copy of everything written so far. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }

  /** Appends the CRC-32 of everything written so far and returns a right-sized copy. */
  finishWithCrc(): Uint8Array {
    this.u32(crc32(this.buf, 0, this.pos));
    return this.buf.slice(0, this.pos);
  }
}

export class ByteReader {
  private readonly view: DataView;
  private pos: number;
  private readonly end: number;

  constructor(private readonly buf: Uint8Array, start = 0, end = buf.length) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = start;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number): number {
    if (this.pos + n > this.end) throw new TruncatedInput();
    const at = this.pos;
    this.pos += n;
    return at;
  }

  u8(): number {
    return this.buf[this.need(1)]!;
  }
  u16(): number {
    return this.view.getUint16(this.need(2), true);
  }
  i16(): number {
    return this.view.getInt16(this.need(2), true);
  }
  u32(): number {
    return this.view.getUint32(this.need(4), true);
  }
  i32(): number {
    return this.view.getInt32(this.need(4), true);
  }
  f64(): number {
    return this.view.getFloat64(this.need(8), true);
  }
  /** A copy, so later mutation of the received buffer cannot reach session state. */
  bytes(n: number): Uint8Array {
    const at = this.need(n);
    return this.buf.slice(at, at + n);
  }
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE 802.3, the one zlib and PNG use) of buf[start, end). */
export function crc32(buf: Uint8Array, start = 0, end = buf.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** FNV-1a 32-bit hash of a string's UTF-16 code units (used for the configuration hash). */
export function fnv1aString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
