// One player's inputs: the received (confirmed) run, predictions for missing frames, and what
// the last simulation of each frame actually used, so a late input can reveal a misprediction.
import { bytesEqual, type ActionCodec } from "./action-codec";
import { FrameWindow } from "./frame-window";
import type { Frame } from "./types";

/** How a missing remote input is guessed: the player's last received input, or the default action. */
export type PredictionMode = "repeatLast" | "default";

export type AddResult = "added" | "duplicate" | "conflict" | "gap";

export class InputQueue {
  /** Highest frame f such that every input of frames <= f is known. */
  lastFrame: Frame = -1;
  private readonly confirmed = new FrameWindow<Uint8Array>(0);
  private readonly used = new FrameWindow<Uint8Array>(0);

  constructor(
    readonly codec: ActionCodec,
    readonly prediction: PredictionMode,
    readonly defaultInput: Uint8Array,
  ) {}

  /** Inputs must arrive in frame order with no gap; resends are checked against what was kept. */
  add(frame: Frame, bytes: Uint8Array): AddResult {
    if (frame <= this.lastFrame) {
      const kept = this.confirmed.get(frame);
      if (kept === undefined || bytesEqual(kept, bytes)) return "duplicate";
      return "conflict";
    }
    if (frame > this.lastFrame + 1) return "gap";
    this.confirmed.set(frame, bytes);
    this.lastFrame = frame;
    return "added";
  }

  /** The confirmed input of `frame`, if it is known and still kept. */
  confirmedAt(frame: Frame): Uint8Array | undefined {
    return frame <= this.lastFrame ? this.confirmed.get(frame) : undefined;
  }

  /** The guess for a frame past `lastFrame`. */
  predict(): Uint8Array {
    if (this.prediction === "repeatLast" && this.lastFrame >= 0) {
      return this.confirmed.get(this.lastFrame) ?? this.defaultInput;
    }
    return this.defaultInput;
  }

  /** Records the input the latest simulation of `frame` used (only needed for unconfirmed frames). */
  markUsed(frame: Frame, bytes: Uint8Array): void {
    this.used.set(frame, bytes);
  }

  /** True when `frame` was simulated with something other than `actual`. */
  usedDiffers(frame: Frame, actual: Uint8Array): boolean {
    const u = this.used.get(frame);
    return u !== undefined && !bytesEqual(u, actual);
  }

  /** Drops confirmed inputs before `confirmedBefore` and prediction records before `usedBefore`. */
  prune(confirmedBefore: Frame, usedBefore: Frame): void {
    this.confirmed.dropBefore(Math.min(confirmedBefore, this.lastFrame));
    this.used.dropBefore(usedBefore);
  }

  /** Starts over at `frame` (a session joining mid-game): nothing is known before it. */
  restartAt(frame: Frame): void {
    this.lastFrame = frame - 1;
    this.confirmed.dropBefore(frame);
    this.confirmed.truncateFrom(frame);
    this.used.dropBefore(frame);
    this.used.truncateFrom(frame);
  }

  /** Oldest frame whose confirmed input is still kept. */
  get oldestKept(): Frame {
    return this.confirmed.startFrame;
  }
}
