// Test-only network conditions applied by the page to its own outgoing packets: Chrome's network
// emulation does not touch DataChannels, so latency, jitter and loss are injected here, on both
// paths (DataChannel and server relay). Configured by `window.mugTest.p2p` and only read when the
// game's `test_hooks` is on (MUG_P2P_TEST_HOOKS=1 on the server). Pure: a seeded PRNG and the
// caller's clock, so a test replays the same drops and delays.

import { Prng } from "../netcode/testing/prng";

export interface Conditions {
  /** Delay added to every outgoing packet, one way (both peers add theirs: RTT grows by 2 × latencyMs). */
  latencyMs: number;
  /** Each packet's delay varies uniformly within ±jitterMs (never below 0); packets may reorder. */
  jitterMs: number;
  /** Share of outgoing packets dropped, in [0, 1]. */
  loss: number;
  /** Seed of the PRNG behind loss and jitter. */
  seed: number;
}

export interface TestSettings {
  conditions: Conditions;
  /** DataChannels are never opened: every packet takes the server relay. */
  blockDataChannels: boolean;
}

export const NO_CONDITIONS: Conditions = { latencyMs: 0, jitterMs: 0, loss: 0, seed: 1 };

/** Reads `window.mugTest.p2p` (any object or undefined); throws naming the field that is wrong. */
export function parseTestSettings(raw: unknown): TestSettings {
  if (raw === undefined || raw === null) return { conditions: { ...NO_CONDITIONS }, blockDataChannels: false };
  if (typeof raw !== "object" || Array.isArray(raw)) {
    throw new TypeError(`window.mugTest.p2p must be an object, got ${JSON.stringify(raw)}`);
  }
  const obj = raw as Record<string, unknown>;
  const known = new Set(["latencyMs", "jitterMs", "loss", "seed", "blockDataChannels"]);
  for (const key of Object.keys(obj)) {
    if (!known.has(key)) throw new TypeError(`window.mugTest.p2p.${key} is not a setting (known: ${[...known].join(", ")})`);
  }
  const num = (key: string, fallback: number, max = Infinity): number => {
    const value = obj[key];
    if (value === undefined) return fallback;
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || value > max) {
      throw new RangeError(`window.mugTest.p2p.${key} must be a number in [0, ${max}], got ${JSON.stringify(value)}`);
    }
    return value;
  };
  const seed = num("seed", 1, 2 ** 32 - 1);
  if (!Number.isInteger(seed)) throw new RangeError(`window.mugTest.p2p.seed must be an integer, got ${seed}`);
  const block = obj.blockDataChannels ?? false;
  if (typeof block !== "boolean") {
    throw new TypeError(`window.mugTest.p2p.blockDataChannels must be a boolean, got ${JSON.stringify(block)}`);
  }
  return {
    conditions: { latencyMs: num("latencyMs", 0), jitterMs: num("jitterMs", 0), loss: num("loss", 0, 1), seed },
    blockDataChannels: block,
  };
}

interface Queued<T> {
  at: number;
  order: number;
  item: T;
}

/** Drops and delays items by the configured conditions; the owner delivers what `takeDue` returns. */
export class Conditioner<T> {
  private conditions: Conditions = { ...NO_CONDITIONS };
  private rng = new Prng(NO_CONDITIONS.seed);
  private queue: Queued<T>[] = []; // sorted by (at, order)
  private order = 0;
  submitted = 0;
  dropped = 0;

  constructor(conditions: Conditions = NO_CONDITIONS) {
    this.configure(conditions);
  }

  /** New conditions apply to packets submitted from now on; the PRNG restarts only when the seed changes. */
  configure(conditions: Conditions): void {
    if (conditions.seed !== this.conditions.seed) this.rng = new Prng(conditions.seed);
    this.conditions = { ...conditions };
  }

  get active(): boolean {
    const c = this.conditions;
    return c.latencyMs > 0 || c.jitterMs > 0 || c.loss > 0;
  }

  /** "dropped", "now" (deliver it yourself, right away) or "queued" (it comes out of takeDue later). */
  submit(item: T, now: number): "dropped" | "now" | "queued" {
    this.submitted++;
    const c = this.conditions;
    if (c.loss > 0 && this.rng.next() < c.loss) {
      this.dropped++;
      return "dropped";
    }
    let delay = c.latencyMs;
    if (c.jitterMs > 0) delay += (this.rng.next() * 2 - 1) * c.jitterMs;
    delay = Math.max(0, delay);
    if (delay === 0 && this.queue.length === 0) return "now";
    const entry = { at: now + delay, order: this.order++, item };
    let i = this.queue.length;
    while (i > 0 && this.queue[i - 1]!.at > entry.at) i--;
    this.queue.splice(i, 0, entry);
    return "queued";
  }

  /** The items whose time has come, earliest first. */
  takeDue(now: number): T[] {
    let n = 0;
    while (n < this.queue.length && this.queue[n]!.at <= now) n++;
    return this.queue.splice(0, n).map((q) => q.item);
  }

  /** When the next queued item is due (null when none is queued). */
  nextDueAt(): number | null {
    return this.queue[0]?.at ?? null;
  }

  get queued(): number {
    return this.queue.length;
  }
}
