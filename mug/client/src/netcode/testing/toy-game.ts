// A small deterministic game with a hashable state, for synctests, simulations and the benchmark.
// Players move on a 64x64 torus and score; a shared generator mixes every input into the state,
// so any input difference changes the checksum from that frame on.
import type { ActionSpace } from "../action-codec";
import type { RollbackGame } from "../host";
import type { Frame, PlayerInput } from "../types";

/** move: 0 stay, 1 up, 2 down, 3 left, 4 right; fire: 0/1. */
export const TOY_ACTION_SPACE: ActionSpace = { kind: "multiDiscrete", nvec: [5, 2] };

const FRAME = 0;
const RNG = 1;
const FIRST_PLAYER = 2;
const FIELDS = 3;

export function fnv1a32(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export class ToyGame implements RollbackGame<Int32Array> {
  private s: Int32Array;
  /** When set, every advance adds noise to the state: a non-deterministic game for synctest. */
  nondeterministic = false;
  private noise = 0;

  constructor(
    readonly numPlayers: number,
    seed = 1,
  ) {
    this.s = new Int32Array(FIRST_PLAYER + numPlayers * FIELDS);
    this.s[RNG] = seed | 1;
    for (let p = 0; p < numPlayers; p++) {
      this.s[FIRST_PLAYER + p * FIELDS] = (p * 17) & 63;
      this.s[FIRST_PLAYER + p * FIELDS + 1] = (p * 29) & 63;
    }
  }

  get frame(): number {
    return this.s[FRAME]!;
  }

  save(): Int32Array {
    return this.s.slice();
  }

  load(state: Int32Array): void {
    this.s = state.slice();
  }

  advance(inputs: readonly PlayerInput[], frame: Frame): void {
    const s = this.s;
    if (s[FRAME] !== frame) throw new Error(`toy game: asked to advance frame ${frame}, state is at ${s[FRAME]}`);
    let rng = s[RNG]!;
    for (let p = 0; p < this.numPlayers; p++) {
      const a = inputs[p]!.action as readonly number[];
      const move = a[0]!;
      const fire = a[1]!;
      const base = FIRST_PLAYER + p * FIELDS;
      let x = s[base]!;
      let y = s[base + 1]!;
      if (move === 1) y = (y + 63) & 63;
      else if (move === 2) y = (y + 1) & 63;
      else if (move === 3) x = (x + 63) & 63;
      else if (move === 4) x = (x + 1) & 63;
      s[base] = x;
      s[base + 1] = y;
      rng ^= rng << 13;
      rng ^= rng >>> 17;
      rng ^= rng << 5;
      rng = (rng + move * 7 + fire * 131 + p * 977) | 0;
      if (fire) s[base + 2] = (s[base + 2]! + ((x ^ y ^ rng) & 15)) | 0;
    }
    s[RNG] = rng;
    s[FRAME] = frame + 1;
    if (this.nondeterministic) s[FIRST_PLAYER + 2] = (s[FIRST_PLAYER + 2]! + ++this.noise) | 0;
  }

  checksum(state: Int32Array): number {
    return fnv1a32(new Uint8Array(state.buffer, state.byteOffset, state.byteLength));
  }

  liveChecksum(): number {
    return this.checksum(this.s);
  }

  serialize(state: Int32Array): Uint8Array {
    return new Uint8Array(state.slice().buffer);
  }

  deserialize(bytes: Uint8Array): Int32Array {
    if (bytes.length !== this.s.byteLength) throw new Error(`toy game: state of ${bytes.length} bytes, expected ${this.s.byteLength}`);
    return new Int32Array(bytes.slice().buffer);
  }

  /** Starts a new episode in the live state: players back to their start, scores cleared (frame and RNG kept). */
  resetEpisode(): void {
    for (let p = 0; p < this.numPlayers; p++) {
      const base = FIRST_PLAYER + p * FIELDS;
      this.s[base] = (p * 17) & 63;
      this.s[base + 1] = (p * 29) & 63;
      this.s[base + 2] = 0;
    }
  }

  /** Flips part of the live state (a simulated desync). */
  corrupt(amount = 1): void {
    this.s[FIRST_PLAYER + 2] = (this.s[FIRST_PLAYER + 2]! + amount) | 0;
  }

  /** Applies `corrupt` to a saved snapshot as well. */
  static corruptSnapshot(state: Int32Array, amount = 1): void {
    state[FIRST_PLAYER + 2] = (state[FIRST_PLAYER + 2]! + amount) | 0;
  }
}
