// The shapes of the P2P Socket.IO messages (as in the session contract, mirrored by the server's
// mug/server/web/messages.py) and the relay's base64 framing. The transport is written against
// these structural types rather than the generated messages.ts, so the page, a test harness and
// a signaling stand-in can all drive it; `Connection` satisfies `P2PConnection`.

import type { Json } from "../protocol";

export type SignalKind = "offer" | "answer" | "candidate" | "restart";

export interface Signal {
  kind: SignalKind;
  data: Json;
}

/** Page → server `p2p_signal`: forwarded to peer `to` of the game. */
export interface SignalOut {
  game_id: string;
  to: number;
  signal: Signal;
}

/** Server → page `p2p_signal`. */
export interface SignalIn {
  game_id: string;
  from: number;
  signal: Signal;
}

/** Page → server `p2p_relay`: each packet forwarded to its `to`. */
export interface RelayOut {
  game_id: string;
  packets: { to: number; data: string }[];
}

/** Server → page `p2p_relay`. */
export interface RelayIn {
  game_id: string;
  from: number;
  data: string[];
}

/** What the transport needs of the page's connection (`Connection` has all of it). */
export interface P2PConnection {
  send(event: "p2p_signal", payload: SignalOut): void;
  send(event: "p2p_relay", payload: RelayOut): void;
  readonly socket: {
    // Socket.IO's own listener type (any arguments), so `Connection.socket` fits.
    on(event: string, listener: (...args: any[]) => void): unknown;
    off(event: string, listener: (...args: any[]) => void): unknown;
  };
}

/** The server's limits for one `p2p_relay` event (mug/server/web/protocol.py, messages.py): 1–16
 * packets of 1–2048 bytes each, the whole event ≤ 40 000 characters. */
export const RELAY_MAX_PACKETS = 16;
export const RELAY_MAX_PACKET_BYTES = 2048;
/** Base64 characters per event, leaving room under the 40 000 limit for the JSON around them. */
export const RELAY_MAX_EVENT_CHARS = 36_000;
const RELAY_PACKET_OVERHEAD = 32; // {"to":N,"data":""}, plus the game id spread over the packets

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Standard base64 (with padding) of `bytes`; btoa exists in browsers, workers and Node ≥ 16. */
export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  // Chunks keep String.fromCharCode's argument list short for large packets.
  for (let i = 0; i < bytes.length; i += 0x2000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x2000));
  }
  return btoa(binary);
}

/** The bytes of a base64 string; throws a RelayFormatError naming the problem for anything else. */
export function fromBase64(text: unknown): Uint8Array {
  if (typeof text !== "string") throw new RelayFormatError(`relay packet must be a base64 string, got ${typeof text}`);
  if (!BASE64.test(text)) throw new RelayFormatError(`relay packet is not valid base64 (${text.length} characters)`);
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export class RelayFormatError extends Error {
  override name = "RelayFormatError";
}

export interface OutgoingPacket {
  to: number;
  bytes: Uint8Array;
}

/** Splits one tick's relay packets into as few `p2p_relay` payloads as the server's limits allow
 * (normally one). Packets the relay cannot carry (empty, or over 2048 bytes) are returned in
 * `oversize` and not sent: the server would refuse the whole event for them. */
export function packRelay(
  gameId: string,
  packets: readonly OutgoingPacket[],
): { events: RelayOut[]; oversize: OutgoingPacket[] } {
  const events: RelayOut[] = [];
  const oversize: OutgoingPacket[] = [];
  let current: RelayOut | null = null;
  let chars = 0;
  for (const packet of packets) {
    if (packet.bytes.length === 0 || packet.bytes.length > RELAY_MAX_PACKET_BYTES) {
      oversize.push(packet);
      continue;
    }
    const data = toBase64(packet.bytes);
    const size = data.length + RELAY_PACKET_OVERHEAD;
    if (!current || current.packets.length >= RELAY_MAX_PACKETS || chars + size > RELAY_MAX_EVENT_CHARS) {
      current = { game_id: gameId, packets: [] };
      events.push(current);
      chars = 0;
    }
    current.packets.push({ to: packet.to, data });
    chars += size;
  }
  return { events, oversize };
}
