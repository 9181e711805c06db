// Typed errors: what a peer can cause (returned and reported, never thrown into the host) and
// what a host can do wrong (thrown, because it is a programming error in the host).

export type NetcodeErrorCode =
  /** The message ended before a field it announces. */
  | "truncated"
  /** A field holds a value the format does not allow, or bytes are left over. */
  | "malformed"
  | "badMagic"
  | "unsupportedVersion"
  | "unknownMessageType"
  /** The CRC-32 trailer does not match the bytes. */
  | "badCrc"
  /** The message belongs to another session (session tag differs). */
  | "wrongSession"
  /** The transport delivered bytes from a peer the session does not know. */
  | "unknownPeer"
  /** The header's sender is not the peer the transport says sent it. */
  | "senderMismatch"
  /** The peer was built with another player layout, action spaces or checksum interval. */
  | "configMismatch"
  /** The peer resent an input for a frame with a different value than before. */
  | "inputConflict"
  /** The peer sent inputs that do not follow the last input received from it. */
  | "inputGap"
  /** An input value is outside the player's action space. */
  | "invalidAction"
  /** The message is valid but makes no sense now (e.g. a state transfer from a non-source peer). */
  | "unexpectedMessage"
  | "stateTooLarge"
  /** A resync could not be applied (e.g. the state's frame is older than the kept input history). */
  | "resyncFailed";

export class NetcodeError extends Error {
  readonly code: NetcodeErrorCode;
  constructor(code: NetcodeErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.name = "NetcodeError";
    this.code = code;
  }
}

/** Thrown when the host misuses the API (invalid configuration, missing local input...). */
export class NetcodeUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NetcodeUsageError";
  }
}
