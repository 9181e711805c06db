// What the session knows about one remote peer: connection state, handshake progress, timers,
// round-trip time and how far it has acknowledged this peer's inputs.
import type { Frame, PeerId, PlayerHandle } from "./types";

/**
 * syncing: handshake not finished. running: exchanging inputs. interrupted: silent for longer than
 * the interrupt timeout (its inputs are predicted and do not hold the session back). disconnected:
 * silent past the disconnect timeout; final. rejoining: its session restarted mid-game (a reloaded
 * page) and is joining again (its inputs are predicted and do not hold the session back until
 * they flow again).
 */
export type PeerState = "syncing" | "running" | "interrupted" | "rejoining" | "disconnected";

export interface PeerStats {
  readonly peer: PeerId;
  readonly state: PeerState;
  readonly rttMs: number;
  /** Smoothed frames this peer is ahead of that one (positive: we are ahead). */
  readonly framesAhead: number;
  readonly packetsSent: number;
  readonly packetsReceived: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly errors: number;
}

/** Unanswered sync requests or pings kept per peer (at the default intervals: 6 s and 8 s of them). */
const MAX_PENDING = 32;

export class Peer {
  state: PeerState = "syncing";
  syncCompleted = 0;
  /** When the newest sync request went out (the retry timer). */
  syncSentAtMs = Number.NEGATIVE_INFINITY;
  /**
   * Sync requests and pings sent and not answered yet (nonce or send time → send time). A reply
   * to any of them counts, not only to the newest: with a round trip longer than the retry or ping
   * interval, the newest is never the one answered, and a handshake that waited for it would
   * never finish (it did not, at 300 ms RTT, before this). Bounded: the oldest are forgotten.
   */
  readonly syncPending = new Map<number, number>();
  readonly pingsPending = new Map<number, number>();
  lastReceivedMs = 0;
  lastInputSentMs = Number.NEGATIVE_INFINITY;
  lastPingMs = Number.NEGATIVE_INFINITY;
  /** Takes `key` out of `pending` with every entry sent before it; returns its send time. */
  static answer(pending: Map<number, number>, key: number): number | undefined {
    const sentAt = pending.get(key);
    if (sentAt === undefined) return undefined;
    // (An older request answered after a newer one spent longer on the way: not a fair sample.)
    for (const [k, t] of pending) if (t <= sentAt) pending.delete(k);
    return sentAt;
  }

  /** Notes a request sent at `nowMs`, forgetting the oldest beyond MAX_PENDING. */
  static remember(pending: Map<number, number>, key: number, nowMs: number): void {
    pending.set(key, nowMs);
    while (pending.size > MAX_PENDING) pending.delete(pending.keys().next().value!);
  }
  private rtt = 0;
  private rttSamples = 0;
  /** Highest frame of this peer's local inputs the remote peer acknowledged. */
  ackedLocal: Frame = -1;
  /** False after the remote restarted, until its first input packet says what it holds of ours
   * (until then input packets to it carry acks and timing but no inputs). */
  ackKnown = true;
  /** The highest `senderFrame` of its input packets (reset when it restarts). */
  newestSenderFrame: Frame = -1;
  /** The incarnation of the remote's session that last sent a joinRequest (0: none). */
  joinId = 0;
  /** Frame after which the remote's players get the default input (set when it disconnects). */
  disconnectFrame: Frame = -1;
  /** The remote's resync count served by the last completed transfer to it (source side). */
  servedResyncCount = 0;
  packetsSent = 0;
  packetsReceived = 0;
  bytesSent = 0;
  bytesReceived = 0;
  errors = 0;

  constructor(
    readonly id: PeerId,
    /** The remote's players, in handle order. */
    readonly players: readonly PlayerHandle[],
    /** Bytes of one frame record: the encoded inputs of all its players. */
    readonly recordSize: number,
  ) {}

  get rttMs(): number {
    return this.rtt;
  }

  /** Exponential moving average; the first sample is taken as is. */
  addRttSample(ms: number): void {
    if (!(ms >= 0) || ms > 60_000) return;
    this.rtt = this.rttSamples === 0 ? ms : this.rtt + (ms - this.rtt) * 0.125;
    this.rttSamples++;
  }

  /** Exchanging inputs (running, interrupted or rejoining). */
  get active(): boolean {
    return this.state === "running" || this.state === "interrupted" || this.state === "rejoining";
  }

  /** Its inputs are predicted instead of waited for (it does not hold the prediction window). */
  get predicted(): boolean {
    return this.state === "interrupted" || this.state === "rejoining";
  }

  get connected(): boolean {
    return this.state !== "disconnected";
  }
}
