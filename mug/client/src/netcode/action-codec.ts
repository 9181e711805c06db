// Packs a discrete or multi-discrete action into the fewest whole bytes (bit-packed, LSB first).
import { NetcodeUsageError } from "./errors";
import type { Action } from "./types";

/** Gymnasium's Discrete(n, start) and MultiDiscrete(nvec, start). */
export type ActionSpace =
  | { readonly kind: "discrete"; readonly n: number; readonly start?: number }
  | { readonly kind: "multiDiscrete"; readonly nvec: readonly number[]; readonly start?: readonly number[] };

export const MAX_COMPONENT_N = 2 ** 31;
export const MAX_COMPONENTS = 64;
export const MAX_INPUT_BYTES = 64;

function bitsFor(n: number): number {
  let bits = 0;
  while (2 ** bits < n) bits++;
  return bits;
}

export class ActionCodec {
  readonly space: ActionSpace;
  /** Encoded size in bytes (at least 1). */
  readonly size: number;
  private readonly ns: number[];
  private readonly starts: number[];
  private readonly bits: number[];
  private readonly multi: boolean;

  constructor(space: ActionSpace) {
    this.space = space;
    if (space.kind === "discrete") {
      this.multi = false;
      this.ns = [space.n];
      this.starts = [space.start ?? 0];
    } else if (space.kind === "multiDiscrete") {
      this.multi = true;
      this.ns = [...space.nvec];
      this.starts = space.start ? [...space.start] : this.ns.map(() => 0);
      if (this.ns.length < 1 || this.ns.length > MAX_COMPONENTS) {
        throw new NetcodeUsageError(`multiDiscrete needs 1..${MAX_COMPONENTS} components, got ${this.ns.length}`);
      }
      if (this.starts.length !== this.ns.length) {
        throw new NetcodeUsageError("multiDiscrete start must have one entry per component");
      }
    } else {
      throw new NetcodeUsageError(`unknown action space kind ${JSON.stringify((space as { kind: unknown }).kind)}`);
    }
    for (const n of this.ns) {
      if (!Number.isInteger(n) || n < 1 || n > MAX_COMPONENT_N) {
        throw new NetcodeUsageError(`action space sizes must be integers in 1..2^31, got ${n}`);
      }
    }
    for (const s of this.starts) {
      if (!Number.isSafeInteger(s)) throw new NetcodeUsageError(`action space start must be an integer, got ${s}`);
    }
    this.bits = this.ns.map(bitsFor);
    const totalBits = this.bits.reduce((a, b) => a + b, 0);
    this.size = Math.max(1, Math.ceil(totalBits / 8));
    if (this.size > MAX_INPUT_BYTES) {
      throw new NetcodeUsageError(`an encoded action may take at most ${MAX_INPUT_BYTES} bytes, this one takes ${this.size}`);
    }
  }

  /** Canonical text used in the configuration hash peers compare during the handshake. */
  describe(): string {
    return `${this.multi ? "md" : "d"}(${this.ns.join(",")};${this.starts.join(",")})`;
  }

  /** Throws NetcodeUsageError when `action` is not in the space. */
  encode(action: Action): Uint8Array {
    const out = new Uint8Array(this.size);
    this.encodeInto(action, out, 0);
    return out;
  }

  encodeInto(action: Action, out: Uint8Array, offset: number): void {
    const values = this.componentsOf(action);
    out.fill(0, offset, offset + this.size);
    let pos = offset * 8;
    for (let i = 0; i < values.length; i++) {
      let v = values[i]! - this.starts[i]!;
      let b = this.bits[i]!;
      while (b > 0) {
        const off = pos & 7;
        const take = Math.min(8 - off, b);
        out[pos >> 3] = out[pos >> 3]! | ((v & ((1 << take) - 1)) << off);
        v = Math.floor(v / 2 ** take);
        b -= take;
        pos += take;
      }
    }
  }

  /** Decodes without validation; use `isValid` on untrusted bytes first. */
  decode(bytes: Uint8Array, offset = 0): Action {
    if (!this.multi) return this.component(bytes, offset * 8, 0) + this.starts[0]!;
    const out: number[] = new Array<number>(this.ns.length);
    let pos = offset * 8;
    for (let i = 0; i < this.ns.length; i++) {
      out[i] = this.component(bytes, pos, i) + this.starts[i]!;
      pos += this.bits[i]!;
    }
    return out;
  }

  /** True when every component is below its n and the padding bits are zero. */
  isValid(bytes: Uint8Array, offset = 0): boolean {
    if (offset + this.size > bytes.length) return false;
    let pos = offset * 8;
    for (let i = 0; i < this.ns.length; i++) {
      if (this.component(bytes, pos, i) >= this.ns[i]!) return false;
      pos += this.bits[i]!;
    }
    const end = (offset + this.size) * 8;
    for (; pos < end; pos++) if ((bytes[pos >> 3]! >> (pos & 7)) & 1) return false;
    return true;
  }

  private component(bytes: Uint8Array, pos: number, i: number): number {
    let b = this.bits[i]!;
    let v = 0;
    let scale = 1;
    while (b > 0) {
      const off = pos & 7;
      const take = Math.min(8 - off, b);
      v += ((bytes[pos >> 3]! >> off) & ((1 << take) - 1)) * scale;
      scale *= 2 ** take;
      b -= take;
      pos += take;
    }
    return v;
  }

  private componentsOf(action: Action): readonly number[] {
    let values: readonly number[];
    if (this.multi) {
      if (!Array.isArray(action) || action.length !== this.ns.length) {
        throw new NetcodeUsageError(`expected a multi-discrete action of ${this.ns.length} numbers, got ${String(action)}`);
      }
      values = action;
    } else {
      if (typeof action !== "number") throw new NetcodeUsageError(`expected a discrete action (number), got ${String(action)}`);
      values = [action];
    }
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      const lo = this.starts[i]!;
      if (!Number.isInteger(v) || v < lo || v >= lo + this.ns[i]!) {
        throw new NetcodeUsageError(`action component ${i} = ${v} is outside [${lo}, ${lo + this.ns[i]! - 1}]`);
      }
    }
    return values;
  }
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
