// The page's part of the P2P probe (docs/matchmaking.md, "The P2P probe"): before a proposed P2P
// group plays, each page opens its DataChannels to the others exactly as for a game (the same
// PeerTransport, ICE servers and relay policy; signaling scoped by the probe's id), pings each
// partner a few times over the channel, and reports the median round trip per partner — null for
// a partner no DataChannel opened to (the transport fell back to the server relay).

import type { P2PProbe } from "../protocol";
import type { TransportKind } from "./stats";
import { PeerTransport } from "./transport";
import type { P2PConnection } from "./wire";

const PING = 0x70;
const PONG = 0x71;
/** Bytes of a probe packet: [kind][f64 send time, little-endian]. */
const PACKET_BYTES = 9;
/** A ping to each partner with an open channel, until it answered `pings` of them. */
const PING_EVERY_MS = 100;
/** After its own figures the page answers its partners' pings a while longer (they may be slower). */
const LINGER_MS = 3_000;
/** Beyond the connect timeout, how long the page waits for its pings to be answered. */
const ANSWER_SLACK_MS = 5_000;

/** Round trip per partner peer in ms (null: no DataChannel). */
export type ProbeResult = Record<number, number | null>;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function packet(kind: number, timeMs: number): Uint8Array {
  const bytes = new Uint8Array(PACKET_BYTES);
  bytes[0] = kind;
  new DataView(bytes.buffer).setFloat64(1, timeMs, true);
  return bytes;
}

/** Measures the round trips to the probe's partners; resolves with the figures (the channels close a little later). */
export async function runProbe(conn: P2PConnection, req: P2PProbe, now: () => number = () => performance.now()): Promise<ProbeResult> {
  if (!(req.pings >= 1)) throw new RangeError(`p2p_probe: pings must be at least 1, got ${req.pings}`);
  const partners = req.peers.filter((p) => p !== req.peer);
  const samples = new Map<number, number[]>(partners.map((p) => [p, []]));
  const kinds = new Map<number, TransportKind>();
  const onChannel = (peer: number): boolean => {
    const kind = kinds.get(peer);
    return kind === "direct" || kind === "turn";
  };
  const transport: PeerTransport = new PeerTransport({
    conn,
    gameId: req.probe_id,
    me: req.peer,
    peers: req.peers,
    iceServers: req.ice_servers,
    forceRelay: req.force_relay,
    connectTimeoutS: req.connect_timeout_s,
    testHooks: req.test_hooks,
    onPacket: (from, bytes) => {
      if (bytes.length !== PACKET_BYTES) return; // (not a probe packet)
      const sent = new DataView(bytes.buffer, bytes.byteOffset, PACKET_BYTES).getFloat64(1, true);
      if (bytes[0] === PING) {
        transport.send(from, packet(PONG, sent));
        transport.flush();
      } else if (bytes[0] === PONG && onChannel(from)) {
        const rtt = now() - sent;
        if (rtt >= 0 && rtt < 60_000) samples.get(from)?.push(rtt);
      }
    },
    onTransport: (peer, kind) => kinds.set(peer, kind),
  });
  const deadline = now() + req.connect_timeout_s * 1000 + ANSWER_SLACK_MS;
  await new Promise<void>((resolve) => {
    const timer = window.setInterval(() => {
      for (const p of partners) {
        if (onChannel(p) && samples.get(p)!.length < req.pings) transport.send(p, packet(PING, now()));
      }
      transport.flush();
      const settled = partners.every((p) => samples.get(p)!.length >= req.pings || kinds.get(p) === "server");
      if (settled || now() > deadline) {
        window.clearInterval(timer);
        resolve();
      }
    }, PING_EVERY_MS);
  });
  window.setTimeout(() => transport.close(), LINGER_MS);
  const result: ProbeResult = {};
  for (const p of partners) {
    const s = samples.get(p)!;
    result[p] = s.length > 0 ? Math.round(median(s) * 100) / 100 : null;
  }
  return result;
}
