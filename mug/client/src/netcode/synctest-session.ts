// GGPO's synctest: every frame, roll back `checkDistance` frames and re-simulate, then compare the
// re-simulated checksums with the first ones. Any difference means the game is not deterministic
// or its save/load misses part of the state. All players are local; nothing goes on the network.
import type { ActionCodec } from "./action-codec";
import { NetcodeUsageError } from "./errors";
import { InputQueue } from "./input-queue";
import { SyncLayer } from "./sync-layer";
import type { Action, AdvanceResult, Frame, PlayerHandle, PlayerInput, SessionRequest } from "./types";

export interface SyncTestConfig {
  readonly codecs: readonly ActionCodec[];
  readonly defaultInputs: readonly Uint8Array[];
  readonly checkDistance: number;
  readonly inputDelay: number;
}

export interface SyncTestMismatch {
  readonly frame: Frame;
  readonly first: number;
  readonly resimulated: number;
}

export class SyncTestSession {
  readonly checkDistance: number;
  readonly inputDelay: number;
  readonly numPlayers: number;
  /** Every checksum difference seen so far (empty means the game passed). */
  readonly mismatches: SyncTestMismatch[] = [];
  /** Frames re-simulated so far. */
  resimulatedFrames = 0;
  private readonly sync = new SyncLayer(1);
  private readonly queues: InputQueue[];
  private readonly pending: (Uint8Array | undefined)[];
  private readonly firstChecksums = new Map<Frame, number>();

  constructor(private readonly config: SyncTestConfig) {
    this.checkDistance = config.checkDistance;
    this.inputDelay = config.inputDelay;
    this.numPlayers = config.codecs.length;
    this.queues = config.codecs.map((c, i) => new InputQueue(c, "default", config.defaultInputs[i]!));
    this.pending = config.codecs.map(() => undefined);
    for (const q of this.queues) for (let f = 0; f < this.inputDelay; f++) q.add(f, q.defaultInput);
  }

  get currentFrame(): Frame {
    return this.sync.currentFrame;
  }

  addLocalInput(player: PlayerHandle, action: Action): void {
    const codec = this.config.codecs[player];
    if (!codec) throw new NetcodeUsageError(`player ${player} does not exist`);
    this.pending[player] = codec.encode(action);
  }

  advanceFrame(): AdvanceResult {
    const requests: SessionRequest[] = [];
    const frame = this.sync.currentFrame;
    for (let p = 0; p < this.numPlayers; p++) {
      const bytes = this.pending[p];
      if (!bytes) throw new NetcodeUsageError(`no local input for player ${p} at frame ${frame}`);
      this.queues[p]!.add(frame + this.inputDelay, bytes);
      this.pending[p] = undefined;
    }
    const back = Math.min(this.checkDistance, frame);
    if (back > 0) {
      this.resimulatedFrames += this.sync.resimulate(frame - back, frame, (f) => this.inputsFor(f), requests);
    }
    this.sync.advance(this.inputsFor(frame), false, requests);
    const discard = this.sync.discardBefore(frame + 1 - this.checkDistance);
    if (discard) requests.push(discard);
    for (const f of this.firstChecksums.keys()) if (f < frame - this.checkDistance) this.firstChecksums.delete(f);
    this.sync.forgetChecksumsBefore(frame - this.checkDistance);
    for (const q of this.queues) q.prune(frame - this.checkDistance, frame - this.checkDistance);
    return { status: "advanced", requests, frame: this.sync.currentFrame };
  }

  /** The host reports the checksum of each save; re-simulated ones are compared with the first. */
  reportChecksum(frame: Frame, checksum: number): void {
    if (!this.sync.reportChecksum(frame, checksum)) return;
    const value = checksum >>> 0;
    const first = this.firstChecksums.get(frame);
    if (first === undefined) this.firstChecksums.set(frame, value);
    else if (first !== value) this.mismatches.push({ frame, first, resimulated: value });
  }

  private inputsFor(frame: Frame): PlayerInput[] {
    return this.queues.map((q) => ({ action: q.codec.decode(q.confirmedAt(frame)!), status: "confirmed" as const }));
  }
}
