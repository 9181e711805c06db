// Shared vocabulary of the netcode core: frames, inputs, host requests and session events.
import type { NetcodeError } from "./errors";

/** A simulation step index. Frame f's inputs turn the state "at frame f" into the state at f + 1. */
export type Frame = number;
/** A player's index in the game, 0-based and dense (0..numPlayers-1). */
export type PlayerHandle = number;
/** A peer's id: by convention the lowest player handle that peer hosts. */
export type PeerId = number;

export const NULL_FRAME: Frame = -1;

/** A discrete action (a number) or a multi-discrete action (one number per component). */
export type Action = number | readonly number[];

/** Where an input handed to the host came from. */
export type InputStatus = "confirmed" | "predicted" | "disconnected";

export interface PlayerInput {
  readonly action: Action;
  readonly status: InputStatus;
}

/** Store a snapshot of the live state under `frame`; report its checksum when `checksum` is true. */
export interface SaveRequest {
  readonly kind: "save";
  readonly frame: Frame;
  readonly checksum: boolean;
}

/** Replace the live state with the snapshot saved under `frame`. */
export interface LoadRequest {
  readonly kind: "load";
  readonly frame: Frame;
}

/** Step the live state (which is at `frame`) once with one input per player, in player order. */
export interface AdvanceRequest {
  readonly kind: "advance";
  readonly frame: Frame;
  readonly inputs: readonly PlayerInput[];
  /** True when this frame was simulated before and is being re-simulated after a rollback or resync. */
  readonly resimulation: boolean;
}

/** Snapshots saved under frames < `before` are no longer needed and may be freed. */
export interface DiscardRequest {
  readonly kind: "discard";
  readonly before: Frame;
}

/** Serialize the snapshot saved under `frame` and hand it back with `session.provideState(frame, bytes)`. */
export interface ExportStateRequest {
  readonly kind: "exportState";
  readonly frame: Frame;
}

/** Deserialize `bytes` (a peer's confirmed state) and store it as the snapshot for `frame`. A load follows. */
export interface ImportStateRequest {
  readonly kind: "importState";
  readonly frame: Frame;
  readonly bytes: Uint8Array;
}

export type SessionRequest =
  | SaveRequest
  | LoadRequest
  | AdvanceRequest
  | DiscardRequest
  | ExportStateRequest
  | ImportStateRequest;

/** What `advanceFrame()` did. Only "advanced" moved the frame counter forward. */
export type AdvanceStatus =
  | "advanced"
  /** The session is still handshaking with its peers. */
  | "synchronizing"
  /** Running further would predict more than `maxPrediction` frames: wait for remote inputs. */
  | "predictionThreshold"
  /** The agreed episode end frame is reached; waiting for all earlier frames to be confirmed. */
  | "episodeEnding"
  /** The episode ended (an `episodeEnd` event was emitted); call `startNextEpisode()` to go on. */
  | "episodeEnded";

export interface AdvanceResult {
  readonly status: AdvanceStatus;
  /** Execute in order, even when the status is not "advanced" (rollbacks still happen while waiting). */
  readonly requests: SessionRequest[];
  /** The session's current frame after these requests are executed. */
  readonly frame: Frame;
}

export interface OutgoingPacket {
  readonly to: PeerId;
  readonly bytes: Uint8Array;
}

export type SessionEvent =
  | { readonly type: "synchronizing"; readonly peer: PeerId; readonly completed: number; readonly total: number }
  | { readonly type: "synchronized"; readonly peer: PeerId }
  /** Every peer is synchronized; frames can advance. */
  | { readonly type: "running" }
  /** Nothing heard from `peer` for `silentMs`; the session keeps running and predicts its inputs. */
  | { readonly type: "interrupted"; readonly peer: PeerId; readonly silentMs: number }
  | { readonly type: "resumed"; readonly peer: PeerId }
  /** `peer` stayed silent past the disconnect timeout; its inputs after `lastFrame` are the default action. */
  | {
      readonly type: "disconnected";
      readonly peer: PeerId;
      readonly players: readonly PlayerHandle[];
      readonly lastFrame: Frame;
    }
  /** Frame `frame` was simulated with confirmed inputs only; its record is final (emitted in frame order). */
  | { readonly type: "confirmed"; readonly frame: Frame; readonly inputs: readonly PlayerInput[] }
  /** The checksum of confirmed frame `frame` differs between this peer and `peer`. */
  | {
      readonly type: "desync";
      readonly frame: Frame;
      readonly peer: PeerId;
      readonly localChecksum: number;
      readonly remoteChecksum: number;
    }
  /** This peer asked `source` for its confirmed state. */
  | { readonly type: "resyncRequested"; readonly source: PeerId; readonly desyncFrame: Frame }
  /** This peer (the resync source) finished sending its state at `frame` to `peer`. */
  | { readonly type: "resyncSent"; readonly peer: PeerId; readonly frame: Frame }
  /** `peer`'s session restarted (a reloaded page) and is joining again; its inputs are predicted meanwhile. */
  | { readonly type: "restarted"; readonly peer: PeerId }
  /** This session (built with a rejoinId) took `source`'s state at `frame` and runs from there. */
  | { readonly type: "joined"; readonly frame: Frame; readonly source: PeerId }
  /** This peer (the join source) finished sending its state at `frame` to the joining `peer`. */
  | { readonly type: "joinSent"; readonly peer: PeerId; readonly frame: Frame }
  /** This peer loaded `source`'s confirmed state at `frame` and re-simulated from it. */
  | { readonly type: "resynced"; readonly frame: Frame; readonly source: PeerId }
  /** The peers agreed that the episode ends at `frame` (frames < `frame` belong to it). */
  | { readonly type: "episodeEnding"; readonly frame: Frame }
  /** All frames of the episode are confirmed; `frame` is the first frame not in it. */
  | { readonly type: "episodeEnd"; readonly frame: Frame }
  /** A peer sent something unusable; it was dropped and the session is unaffected. */
  | { readonly type: "protocolError"; readonly peer: PeerId; readonly error: NetcodeError };
