// The frame counter and the host's saved states as the session sees them: which frames are saved,
// which checksums the host reported, and the load/advance/save request sequences of (re)simulation.
import type { DiscardRequest, Frame, PlayerInput, SessionRequest } from "./types";

interface ChecksumRecord {
  /** Save requests issued for this frame. */
  requested: number;
  /** Checksums reported for this frame (in request order). */
  reported: number;
  value: number;
}

export class SyncLayer {
  /** The frame the host's live state is at. */
  currentFrame: Frame = 0;
  /** Highest frame with a saved state (-1 before the first save). */
  private savedUpTo: Frame = -1;
  /** States of frames < this were released with a discard request. */
  private discardedBefore: Frame = 0;
  private readonly checksums = new Map<Frame, ChecksumRecord>();

  /** `checksumInterval` 0 disables checksums. */
  constructor(readonly checksumInterval: number) {}

  isChecksumFrame(frame: Frame): boolean {
    return this.checksumInterval > 0 && frame > 0 && frame % this.checksumInterval === 0;
  }

  hasState(frame: Frame): boolean {
    return frame >= this.discardedBefore && frame <= this.savedUpTo;
  }

  get oldestState(): Frame {
    return this.discardedBefore;
  }

  /** Saves the live state (at currentFrame). `withChecksum` false keeps the frame's checksum record untouched. */
  save(out: SessionRequest[], withChecksum = true): void {
    const frame = this.currentFrame;
    const checksum = withChecksum && this.isChecksumFrame(frame);
    if (checksum) {
      const rec = this.checksums.get(frame);
      if (rec) rec.requested++;
      else this.checksums.set(frame, { requested: 1, reported: 0, value: 0 });
    }
    out.push({ kind: "save", frame, checksum });
    this.savedUpTo = frame;
  }

  /** Steps once: the advance of currentFrame, then the save of the resulting state. */
  advance(inputs: readonly PlayerInput[], resimulation: boolean, out: SessionRequest[]): void {
    if (this.savedUpTo < this.currentFrame) this.save(out);
    out.push({ kind: "advance", frame: this.currentFrame, inputs, resimulation });
    this.currentFrame++;
    this.save(out);
  }

  /** Load `from`, then re-simulate up to (not including) `to`; the live state ends at `to`. */
  resimulate(from: Frame, to: Frame, inputsFor: (frame: Frame) => readonly PlayerInput[], out: SessionRequest[]): number {
    if (!this.hasState(from)) throw new Error(`netcode bug: no saved state for frame ${from}`);
    out.push({ kind: "load", frame: from });
    this.currentFrame = from;
    while (this.currentFrame < to) this.advance(inputsFor(this.currentFrame), true, out);
    return to - from;
  }

  /** Makes `frame` the live frame after the host loaded it (episode end rewinds to its end frame). */
  rewindTo(frame: Frame, out: SessionRequest[]): void {
    if (!this.hasState(frame)) throw new Error(`netcode bug: no saved state for frame ${frame}`);
    out.push({ kind: "load", frame });
    this.currentFrame = frame;
  }

  /** A session joining mid-game starts at `frame`: no state before it exists (the import brings it). */
  startAt(frame: Frame): void {
    this.currentFrame = frame;
    this.savedUpTo = frame - 1;
    this.discardedBefore = frame;
    this.checksums.clear();
  }

  /** After an imported state was stored under `frame`: states and checksums >= frame are re-made. */
  adoptImported(frame: Frame): void {
    this.savedUpTo = frame;
    if (this.discardedBefore > frame) this.discardedBefore = frame;
    for (const f of [...this.checksums.keys()]) if (f >= frame) this.checksums.delete(f);
  }

  reportChecksum(frame: Frame, value: number): boolean {
    const rec = this.checksums.get(frame);
    if (!rec || rec.reported >= rec.requested) return false;
    rec.reported++;
    rec.value = value >>> 0;
    return true;
  }

  /** The checksum of the latest save of `frame`, once the host reported it. */
  checksum(frame: Frame): number | undefined {
    const rec = this.checksums.get(frame);
    return rec && rec.requested > 0 && rec.reported === rec.requested ? rec.value : undefined;
  }

  forgetChecksumsBefore(frame: Frame): void {
    for (const f of this.checksums.keys()) if (f < frame) this.checksums.delete(f);
  }

  /** Releases states of frames < `before` (never the live frame). Returns the request, or null. */
  discardBefore(before: Frame): DiscardRequest | null {
    const limit = Math.min(before, this.currentFrame);
    if (limit <= this.discardedBefore) return null;
    this.discardedBefore = limit;
    return { kind: "discard", before: limit };
  }
}
