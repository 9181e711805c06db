// Seeded sampling with results bit-identical to mug/policies/sampling.py (see docs/policies.md).
// Only float64 + - * /, Math.floor and exact powers of two are used: Math.exp and Python's math.exp
// may differ in the last bit, so neither side uses them.

const MASK64 = (1n << 64n) - 1n;
const PCG_MULTIPLIER = 6364136223846793005n;
const FNV32_OFFSET = 0x811c9dc5;
const FNV32_PRIME = 0x01000193;

const INV_LN2 = 1.4426950408889634;
const LN2_HI = 6.9314718036912381649e-1; // 0x3FE62E42FEE00000
const LN2_LO = 1.90821492927058770002e-10;
const EXP_UNDERFLOW = -708.0;
const EXP_TERMS = 13;

/** PCG-XSH-RR 64/32 (the PCG paper's pcg32), seeded like pcg32_srandom_r(initstate, initseq). */
export class Pcg32 {
  private state = 0n;
  private inc = 1n;

  constructor(initstate: bigint, initseq: bigint) {
    this.inc = BigInt.asUintN(64, (initseq << 1n) | 1n);
    this.state = 0n;
    this.nextU32();
    this.state = BigInt.asUintN(64, this.state + BigInt.asUintN(64, initstate));
    this.nextU32();
  }

  nextU32(): number {
    const old = this.state;
    this.state = (old * PCG_MULTIPLIER + this.inc) & MASK64;
    const xorshifted = Number(BigInt.asUintN(32, ((old >> 18n) ^ old) >> 27n));
    const rot = Number(old >> 59n);
    return ((xorshifted >>> rot) | (xorshifted << (-rot & 31))) >>> 0;
  }

  /** A float in [0, 1): nextU32() / 2**32 (exact in float64). */
  uniform(): number {
    return this.nextU32() / 4294967296;
  }

  getState(): [bigint, bigint] {
    return [this.state, this.inc];
  }

  setState([state, inc]: readonly [bigint, bigint]): void {
    this.state = BigInt.asUintN(64, state);
    this.inc = BigInt.asUintN(64, inc);
  }
}

/** 32-bit FNV-1a over the UTF-8 bytes of text. */
export function fnv1a32(text: string): number {
  let h = FNV32_OFFSET;
  for (const byte of new TextEncoder().encode(text)) {
    h = Math.imul(h ^ byte, FNV32_PRIME) >>> 0;
  }
  return h >>> 0;
}

/** An episode seed as the unsigned 64-bit PCG state (seed mod 2**64, as Python's seed & (2**64-1)). */
export function seedBits(seed: number | bigint): bigint {
  if (typeof seed === "number") {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer or a bigint, got ${seed}`);
    return BigInt.asUintN(64, BigInt(seed));
  }
  return BigInt.asUintN(64, seed);
}

/** The sampling RNG of one agent for one episode: stream fnv1a32(agentId), state from the seed. */
export function agentRng(seed: number | bigint, agentId: string): Pcg32 {
  return new Pcg32(seedBits(seed), BigInt(fnv1a32(agentId)));
}

const POW2 = new Float64Array(1);
const POW2_BITS = new BigUint64Array(POW2.buffer);

/** 2**k for -1022 <= k <= 0, built from its bit pattern (exact). */
function pow2(k: number): number {
  POW2_BITS[0] = BigInt(k + 1023) << 52n;
  return POW2[0]!;
}

/** e**x for x <= 0 from float64 + - * / only; x < -708 (and -Infinity) gives 0. Same bits as Python. */
export function exp64(x: number): number {
  if (Number.isNaN(x) || x > 0) throw new RangeError(`exp64 takes x <= 0, got ${x}`);
  if (x < EXP_UNDERFLOW) return 0;
  const k = Math.floor(x * INV_LN2 + 0.5);
  const r = x - k * LN2_HI - k * LN2_LO;
  let p = 1.0;
  for (let n = EXP_TERMS; n > 0; n--) p = 1.0 + (p * r) / n;
  return p * pow2(k);
}

/** Probabilities from logits in float64: exp64(l - max) / sum, summed left to right. -Infinity gives 0. */
export function softmax(logits: ArrayLike<number>): number[] {
  const n = logits.length;
  if (n === 0) throw new RangeError("softmax of an empty logit vector");
  let m = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = logits[i]!;
    if (Number.isNaN(v) || v === Infinity) throw new RangeError(`logits must be finite or -Infinity, got ${v}`);
    if (v > m) m = v;
  }
  if (m === -Infinity) throw new RangeError("every logit is -Infinity");
  const exps: number[] = new Array<number>(n);
  let total = 0.0;
  for (let i = 0; i < n; i++) {
    exps[i] = exp64(logits[i]! - m);
    total += exps[i]!;
  }
  for (let i = 0; i < n; i++) exps[i] = exps[i]! / total;
  return exps;
}

/** The first index whose running sum of probabilities exceeds u; if rounding leaves the sum at or
 * below u, the last index with a non-zero probability. */
export function sampleIndex(probabilities: ArrayLike<number>, u: number): number {
  let running = 0.0;
  let last = -1;
  for (let i = 0; i < probabilities.length; i++) {
    const p = probabilities[i]!;
    running += p;
    if (p > 0) last = i;
    if (u < running) return i;
  }
  if (last < 0) throw new RangeError("no action has a non-zero probability");
  return last;
}
