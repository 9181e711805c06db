// Frame advantage and pacing: estimates how many frames this peer runs ahead of each other peer and
// turns that into a smooth frame rate (slower when ahead, faster when behind) instead of stalls.
import type { Frame, PeerId } from "./types";

export interface TimeSyncOptions {
  /** Nominal frame duration in ms (1000 / fps). */
  readonly frameMs: number;
  /** When false the frame clock runs at the nominal rate whatever the advantage. */
  readonly enabled: boolean;
  /** Advantage (frames) that changes the rate by 100 %: rate = 1 - ahead / correctionFrames. */
  readonly correctionFrames: number;
  /** Advantage below this (frames, absolute) is left alone. */
  readonly deadbandFrames: number;
  /** The rate never drops below 1 - maxSlowdown. */
  readonly maxSlowdown: number;
  /** The rate never rises above 1 + maxSpeedup (catching up after a pause). */
  readonly maxSpeedup: number;
  /** Upper bound of frames one framesDue() call may ask for. */
  readonly maxFramesPerPoll: number;
  /** Weight of a new advantage sample in the moving average (0..1]. */
  readonly smoothing: number;
}

/** A sample this far (frames) from the average replaces it instead of being averaged in. */
const JUMP_FRAMES = 3;

interface PeerTiming {
  remoteFrame: Frame;
  receivedAtMs: number;
  ahead: number;
  samples: number;
}

/** Per-peer frame advantage, estimated from the frame number and advantage each peer reports. */
export class FrameAdvantage {
  private readonly peers = new Map<PeerId, PeerTiming>();

  constructor(private readonly options: TimeSyncOptions) {}

  /** Where `peer` probably is now, extrapolated from its last report at the nominal rate. */
  private remoteFrameNow(t: PeerTiming, nowMs: number, rttMs: number): number {
    return t.remoteFrame + (nowMs - t.receivedAtMs + rttMs / 2) / this.options.frameMs;
  }

  /**
   * A peer said it was at `remoteFrame` and `remoteAdvantage` frames ahead of us when it sent this.
   * `myFrame` is our frame now.
   */
  sample(peer: PeerId, remoteFrame: Frame, remoteAdvantage: number, myFrame: number, nowMs: number, rttMs: number): void {
    let t = this.peers.get(peer);
    if (!t) {
      t = { remoteFrame, receivedAtMs: nowMs, ahead: 0, samples: 0 };
      this.peers.set(peer, t);
    }
    t.remoteFrame = remoteFrame;
    t.receivedAtMs = nowMs;
    const local = myFrame - this.remoteFrameNow(t, nowMs, rttMs);
    // Both sides measure the same gap with opposite signs; averaging cancels a one-sided latency error.
    const ahead = (local - remoteAdvantage) / 2;
    // Average out jitter, but follow a real jump (a pause, a catch-up) at once instead of lagging behind it.
    const jump = Math.abs(ahead - t.ahead) > JUMP_FRAMES;
    t.ahead = t.samples === 0 || jump ? ahead : t.ahead + (ahead - t.ahead) * this.options.smoothing;
    t.samples++;
  }

  /** How far ahead of `peer` we are by our own measurement (sent to that peer). */
  localAdvantage(peer: PeerId, myFrame: number, nowMs: number, rttMs: number): number {
    const t = this.peers.get(peer);
    return t ? myFrame - this.remoteFrameNow(t, nowMs, rttMs) : 0;
  }

  /** The smoothed advantage over `peer` (positive: we are ahead). */
  aheadOf(peer: PeerId): number {
    return this.peers.get(peer)?.ahead ?? 0;
  }

  /** The largest advantage over the given peers (0 with none). Positive means we should slow down. */
  framesAhead(peers: Iterable<PeerId>): number {
    let worst: number | null = null;
    for (const p of peers) {
      const t = this.peers.get(p);
      if (!t || t.samples === 0) continue;
      worst = worst === null ? t.ahead : Math.max(worst, t.ahead);
    }
    return worst ?? 0;
  }

  forget(peer: PeerId): void {
    this.peers.delete(peer);
  }
}

/** Turns elapsed time and the current advantage into a number of frames to run now. */
export class FrameClock {
  private lastMs: number | null = null;
  private budget = 0;
  /** The rate used by the last framesDue() call (1 = nominal fps). */
  rate = 1;

  constructor(private readonly options: TimeSyncOptions) {}

  rateFor(framesAhead: number): number {
    const o = this.options;
    if (!o.enabled || Math.abs(framesAhead) <= o.deadbandFrames) return 1;
    const excess = framesAhead - Math.sign(framesAhead) * o.deadbandFrames;
    return Math.min(1 + o.maxSpeedup, Math.max(1 - o.maxSlowdown, 1 - excess / o.correctionFrames));
  }

  /** Frames to run now. The first call starts the clock and returns 1. */
  framesDue(nowMs: number, framesAhead: number): number {
    this.rate = this.rateFor(framesAhead);
    if (this.lastMs === null) {
      this.lastMs = nowMs;
      return 1;
    }
    const dt = Math.max(0, nowMs - this.lastMs);
    this.lastMs = nowMs;
    this.budget += (dt / this.options.frameMs) * this.rate;
    // A late tick may run two frames; only catching up (rate > 1) may run more.
    const cap = this.rate > 1 ? this.options.maxFramesPerPoll : Math.min(2, this.options.maxFramesPerPoll);
    if (this.budget > cap) this.budget = cap;
    const due = Math.floor(this.budget);
    this.budget -= due;
    return due;
  }

  /** Progress towards the next frame, 0..1 (for interpolating rendering). */
  get fraction(): number {
    return Math.min(1, this.budget);
  }
}
