// A simulated lossy network on a virtual clock: latency, jitter, loss, duplication, reordering and
// outages, all drawn from a seeded generator so every run is reproducible.
import type { PeerId } from "../types";
import { Prng } from "./prng";

export interface LinkConditions {
  /** One-way base latency. */
  readonly latencyMs: number;
  /** Each packet's latency is drawn uniformly from latency ± jitter (never below 0). */
  readonly jitterMs: number;
  /** Probability a packet is dropped. */
  readonly loss: number;
  /** Probability a packet is delivered twice (the copy with its own latency). */
  readonly duplicate: number;
  /** Probability a packet is held back by an extra delay (so later ones overtake it). */
  readonly reorder: number;
  /** Upper bound of that extra delay. */
  readonly reorderExtraMs: number;
}

export const PERFECT_LINK: LinkConditions = { latencyMs: 0, jitterMs: 0, loss: 0, duplicate: 0, reorder: 0, reorderExtraMs: 0 };

export interface Delivery {
  readonly from: PeerId;
  readonly to: PeerId;
  readonly bytes: Uint8Array;
}

interface InFlight extends Delivery {
  readonly at: number;
  readonly seq: number;
}

interface Outage {
  readonly peer: PeerId;
  readonly fromMs: number;
  readonly toMs: number;
}

export class SimNetwork {
  private readonly rng: Prng;
  private readonly links = new Map<string, LinkConditions>();
  private readonly outages: Outage[] = [];
  private heap: InFlight[] = [];
  private seq = 0;
  sent = 0;
  dropped = 0;
  duplicated = 0;
  delivered = 0;

  constructor(
    seed: number,
    private readonly defaults: LinkConditions,
  ) {
    this.rng = new Prng(seed);
  }

  setLink(from: PeerId, to: PeerId, conditions: LinkConditions): void {
    this.links.set(`${from}>${to}`, conditions);
  }

  /** Everything sent to or from `peer` during [fromMs, toMs) is lost. */
  addOutage(peer: PeerId, fromMs: number, toMs: number): void {
    this.outages.push({ peer, fromMs, toMs });
  }

  private down(peer: PeerId, nowMs: number): boolean {
    return this.outages.some((o) => o.peer === peer && nowMs >= o.fromMs && nowMs < o.toMs);
  }

  send(from: PeerId, to: PeerId, bytes: Uint8Array, nowMs: number): void {
    this.sent++;
    const c = this.links.get(`${from}>${to}`) ?? this.defaults;
    if (this.down(from, nowMs) || this.down(to, nowMs) || this.rng.chance(c.loss)) {
      this.dropped++;
      return;
    }
    const copies = this.rng.chance(c.duplicate) ? 2 : 1;
    if (copies === 2) this.duplicated++;
    for (let i = 0; i < copies; i++) {
      let delay = c.latencyMs + (c.jitterMs > 0 ? (this.rng.next() * 2 - 1) * c.jitterMs : 0);
      if (this.rng.chance(c.reorder)) delay += this.rng.next() * c.reorderExtraMs;
      this.push({ from, to, bytes: bytes.slice(), at: nowMs + Math.max(0, delay), seq: this.seq++ });
    }
  }

  /** Packets whose arrival time is <= nowMs, in arrival order. Packets arriving into an outage are lost. */
  deliver(nowMs: number): Delivery[] {
    const out: Delivery[] = [];
    while (this.heap.length > 0 && this.heap[0]!.at <= nowMs) {
      const p = this.pop();
      if (this.down(p.to, p.at)) {
        this.dropped++;
        continue;
      }
      this.delivered++;
      out.push({ from: p.from, to: p.to, bytes: p.bytes });
    }
    return out;
  }

  get inFlight(): number {
    return this.heap.length;
  }

  private less(a: InFlight, b: InFlight): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private push(p: InFlight): void {
    const h = this.heap;
    h.push(p);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private pop(): InFlight {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}
