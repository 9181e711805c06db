// Session options with their documented defaults, and the resolved configuration a session runs on.
import type { ActionCodec } from "./action-codec";
import type { PredictionMode } from "./input-queue";
import type { TimeSyncOptions } from "./time-sync";
import type { Action, PeerId, PlayerHandle } from "./types";

export interface TimeSyncSettings {
  /** Pace frames by frame advantage. Default true. */
  readonly enabled: boolean;
  /** Frames of advantage that would change the rate by 100 %. Default 20. */
  readonly correctionFrames: number;
  /** Advantage ignored as noise, in frames. Default 0.5. */
  readonly deadbandFrames: number;
  /** Slowest rate is 1 - maxSlowdown. Default 0.3. */
  readonly maxSlowdown: number;
  /** Fastest rate is 1 + maxSpeedup (catching up after a pause). Default 3. */
  readonly maxSpeedup: number;
  /** Most frames one framesDue() call returns. Default 8. */
  readonly maxFramesPerPoll: number;
  /** Weight of a new advantage sample in its moving average. Default 0.1. */
  readonly smoothing: number;
}

export interface SessionOptions {
  /** Simulation rate; the frame clock and time-based estimates use it. Default 30. */
  readonly fps: number;
  /** Frames between reading a local input and simulating it. Default 2. */
  readonly inputDelay: number;
  /** Most frames simulated past the last confirmed one before the session stalls. Default 8. */
  readonly maxPrediction: number;
  /** Guess for a missing remote input. Default "repeatLast". */
  readonly prediction: PredictionMode;
  /** Checksums are compared for confirmed frames that are multiples of this (0: off). Default 30. */
  readonly checksumInterval: number;
  /**
   * A peer silent this long is "interrupted": its inputs are predicted and the session runs on
   * instead of stalling; its late inputs are re-simulated when it is back. Default null: as long as
   * the prediction window lasts (maxPrediction frames, 267 ms at 8 frames and 30 fps).
   */
  readonly interruptTimeoutMs: number | null;
  /** A peer silent this long is disconnected. Default 10 000 ms. */
  readonly disconnectTimeoutMs: number;
  /** Handshake round trips before a peer counts as synchronized. Default 5. */
  readonly syncRoundtrips: number;
  /** Resend a handshake request after this long without a reply. Default 200 ms. */
  readonly syncRetryMs: number;
  /** Ping period for round-trip time. Default 250 ms. */
  readonly pingIntervalMs: number;
  /** Send an input packet (repeating unacked inputs, carrying acks) at least this often. Default 50 ms. */
  readonly resendIntervalMs: number;
  /** Identifies the game; messages with another tag are rejected. Default 0. */
  readonly sessionTag: number;
  /** Confirmed inputs kept behind the confirmed frame (for re-simulating after a resync). Default 600. */
  readonly inputHistoryFrames: number;
  /** State transfer chunk size. Default 1024 bytes. */
  readonly stateChunkBytes: number;
  /** State transfer chunks in flight. Default 32. */
  readonly stateWindowChunks: number;
  /** Largest state accepted from a peer. Default 16 MiB. */
  readonly maxStateBytes: number;
  /** Repeat a resync request or an unacknowledged state window after this long. Default 250 ms. */
  readonly resyncRetryMs: number;
  /**
   * Non-zero: this session restarts a game in progress (its page reloaded) as incarnation
   * `rejoinId` (a u32 that differs from any earlier incarnation of this peer, e.g. random): it
   * takes a peer's confirmed state and plays on from that frame instead of starting at frame 0.
   * Default 0 (a new game).
   */
  readonly rejoinId: number;
  readonly timeSync: TimeSyncSettings;
}

export const DEFAULT_TIME_SYNC: TimeSyncSettings = {
  enabled: true,
  correctionFrames: 20,
  deadbandFrames: 0.5,
  maxSlowdown: 0.3,
  maxSpeedup: 3,
  maxFramesPerPoll: 8,
  smoothing: 0.1,
};

export const DEFAULT_OPTIONS: SessionOptions = {
  fps: 30,
  inputDelay: 2,
  maxPrediction: 8,
  prediction: "repeatLast",
  checksumInterval: 30,
  interruptTimeoutMs: null,
  disconnectTimeoutMs: 10_000,
  syncRoundtrips: 5,
  syncRetryMs: 200,
  pingIntervalMs: 250,
  resendIntervalMs: 50,
  sessionTag: 0,
  inputHistoryFrames: 600,
  stateChunkBytes: 1024,
  stateWindowChunks: 32,
  maxStateBytes: 16 * 1024 * 1024,
  resyncRetryMs: 250,
  rejoinId: 0,
  timeSync: DEFAULT_TIME_SYNC,
};

export interface PlayerSetup {
  readonly handle: PlayerHandle;
  readonly local: boolean;
  /** The peer hosting the player (the local peer's id for local players). */
  readonly peer: PeerId;
  readonly codec: ActionCodec;
  readonly defaultAction: Action;
  readonly defaultInput: Uint8Array;
}

export interface ResolvedConfig {
  readonly options: SessionOptions;
  /** Indexed by handle. */
  readonly players: readonly PlayerSetup[];
  readonly localPeer: PeerId;
  /** Hash of what peers must agree on (player layout, action spaces, checksum interval). */
  readonly configHash: number;
}

export function timeSyncOptions(o: SessionOptions): TimeSyncOptions {
  return { frameMs: 1000 / o.fps, ...o.timeSync };
}
