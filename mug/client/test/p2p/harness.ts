// Test-only page entry for tests/e2e/test_p2p_transport.py: one PeerTransport on a real Connection
// (Socket.IO) to the test's signaling stand-in, driven from Playwright through `window.p2pTest`.
// Not part of the app bundle; the test bundles it with esbuild.

import { Connection } from "../../src/connection";
import { PeerTransport, type PeerStats, type TransportDetail, type TransportKind } from "../../src/p2p";

interface StartOptions {
  gameId: string;
  me: number;
  peers: number[];
  iceServers: RTCIceServer[];
  forceRelay: boolean;
  connectTimeoutS: number;
  testHooks: boolean;
  /** Peers whose packets are sent straight back (for round-trip measurements). */
  echo?: boolean;
}

interface Received {
  from: number;
  seq: number;
  t: number;
}

const TICK_MS = 33; // the game view flushes once per frame at 30 fps

const state = {
  joined: false,
  startedAt: 0,
  received: [] as Received[],
  echoes: [] as { seq: number; rttMs: number }[],
  transports: {} as Record<number, TransportKind>,
  changes: [] as { peer: number; transport: TransportKind; detail: TransportDetail; t: number }[],
  sentAt: new Map<number, number>(),
  transport: null as PeerTransport | null,
  echo: false,
};

const conn = new Connection();
conn.socket.on("connect", () => {
  const params = new URLSearchParams(location.search);
  conn.socket.emit("hello", { game_id: params.get("game"), peer: Number(params.get("peer")) }, () => {
    conn.markJoined();
    state.joined = true;
  });
});

function packet(seq: number, size: number, echo: boolean): Uint8Array {
  const bytes = new Uint8Array(Math.max(size, 5));
  new DataView(bytes.buffer).setUint32(0, seq);
  bytes[4] = echo ? 1 : 0;
  return bytes;
}

const api = {
  get joined() {
    return state.joined;
  },
  start(opts: StartOptions): void {
    state.echo = opts.echo ?? false;
    state.startedAt = performance.now();
    const transport = new PeerTransport({
      conn,
      gameId: opts.gameId,
      me: opts.me,
      peers: opts.peers,
      iceServers: opts.iceServers,
      forceRelay: opts.forceRelay,
      connectTimeoutS: opts.connectTimeoutS,
      testHooks: opts.testHooks,
      onPacket: (from, bytes) => {
        const seq = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0);
        if (bytes[4] === 1) {
          // An echo of ours coming back.
          const sent = state.sentAt.get(seq);
          if (sent !== undefined) state.echoes.push({ seq, rttMs: performance.now() - sent });
          return;
        }
        state.received.push({ from, seq, t: performance.now() });
        if (state.echo) transport.send(from, packet(seq, bytes.length, true));
      },
      onTransport: (peer, kind, detail) => {
        state.transports[peer] = kind;
        state.changes.push({ peer, transport: kind, detail, t: performance.now() - state.startedAt });
      },
    });
    state.transport = transport;
    setInterval(() => transport.flush(), TICK_MS);
  },
  /** Sends `count` packets to `to`, `perTick` of them per tick, numbered from `first`. */
  async sendMany(to: number, count: number, perTick = 2, size = 40, first = 0): Promise<void> {
    const transport = state.transport!;
    for (let i = 0; i < count; i++) {
      const seq = first + i;
      state.sentAt.set(seq, performance.now());
      transport.send(to, packet(seq, size, false));
      if ((i + 1) % perTick === 0) await new Promise((r) => setTimeout(r, TICK_MS));
    }
  },
  received(from: number): number {
    return state.received.filter((r) => r.from === from).length;
  },
  get echoes() {
    return state.echoes;
  },
  get transports() {
    return state.transports;
  },
  get changes() {
    return state.changes;
  },
  get counters() {
    return state.transport?.counters ?? null;
  },
  stats(): Promise<PeerStats[]> {
    return state.transport!.stats();
  },
  close(): void {
    state.transport?.close();
  },
};

(window as unknown as { p2pTest: typeof api }).p2pTest = api;
