// Public API of the rollback netcode core (pure TypeScript: no DOM, RTC, worker or Pyodide).
export { ActionCodec, type ActionSpace } from "./action-codec";
export { DEFAULT_OPTIONS, DEFAULT_TIME_SYNC, type SessionOptions, type TimeSyncSettings } from "./config";
export { NetcodeError, NetcodeUsageError, type NetcodeErrorCode } from "./errors";
export { InProcessHost, type RequestReceiver, type RollbackGame } from "./host";
export type { PredictionMode } from "./input-queue";
export { P2PSession, type SessionState, type SessionStats } from "./p2p-session";
export type { PeerState, PeerStats } from "./peer";
export {
  MAX_PLAYERS,
  MIN_P2P_PLAYERS,
  SessionBuilder,
  type PlayerOptions,
  type RemotePlayerOptions,
  type SessionOptionsInput,
} from "./session-builder";
export { SyncTestSession, type SyncTestMismatch } from "./synctest-session";
export * from "./types";
export { WIRE_VERSION, decodeMessage, encodeMessage, type DecodeResult, type Envelope, type WireMessage } from "./wire/messages";
