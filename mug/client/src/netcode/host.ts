// Executes a session's requests against an in-process game (a JS game, the tests, the benchmark).
// The Pyodide worker host does the same across a worker boundary.
import type { Frame, PlayerInput, SessionRequest } from "./types";

/** A deterministic game whose whole state can be snapshotted and restored. */
export interface RollbackGame<S> {
  /** A snapshot of the live state that later steps cannot change. */
  save(): S;
  /** Makes a snapshot the live state (the snapshot must stay reusable). */
  load(state: S): void;
  /** One deterministic step with one input per player. */
  advance(inputs: readonly PlayerInput[], frame: Frame): void;
  /** A 32-bit checksum of a snapshot. */
  checksum(state: S): number;
  serialize(state: S): Uint8Array;
  deserialize(bytes: Uint8Array): S;
}

/** The session methods a host calls back while executing requests. */
export interface RequestReceiver {
  reportChecksum(frame: Frame, checksum: number): void;
  provideState?(frame: Frame, bytes: Uint8Array): void;
}

export class InProcessHost<S> {
  /** Saved snapshots by frame. */
  readonly states = new Map<Frame, S>();
  /** advance requests executed (first simulations and re-simulations). */
  advances = 0;
  resimulatedFrames = 0;

  constructor(
    readonly game: RollbackGame<S>,
    private readonly session: RequestReceiver,
  ) {}

  execute(requests: readonly SessionRequest[]): void {
    for (const r of requests) {
      switch (r.kind) {
        case "save": {
          const state = this.game.save();
          this.states.set(r.frame, state);
          if (r.checksum) this.session.reportChecksum(r.frame, this.game.checksum(state));
          break;
        }
        case "load": {
          const state = this.states.get(r.frame);
          if (state === undefined) throw new Error(`host: no saved state for frame ${r.frame}`);
          this.game.load(state);
          break;
        }
        case "advance":
          this.game.advance(r.inputs, r.frame);
          this.advances++;
          if (r.resimulation) this.resimulatedFrames++;
          break;
        case "discard":
          for (const f of this.states.keys()) if (f < r.before) this.states.delete(f);
          break;
        case "exportState": {
          const state = this.states.get(r.frame);
          if (state === undefined) throw new Error(`host: no saved state to export for frame ${r.frame}`);
          this.session.provideState?.(r.frame, this.game.serialize(state));
          break;
        }
        case "importState":
          this.states.set(r.frame, this.game.deserialize(r.bytes));
          break;
      }
    }
  }
}
