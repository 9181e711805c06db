// The page's P2P transport: moves the netcode's packets between this peer and every other peer of
// a P2P game. Per peer it uses the WebRTC DataChannel while that is open, else the server relay
// (`p2p_relay`, batched: one event per tick for all of the tick's packets). The worker's netcode
// tolerates loss, duplication and reordering, so switching paths mid-game needs no handshake.
//
// Pieces: mesh.ts (RTCPeerConnection glue), fallback.ts (the pure path decision), conditioner.ts
// (test-only latency/jitter/loss), stats.ts (the selected candidate pair), wire.ts (messages and
// base64). The page's game view creates one PeerTransport per game and calls flush() once per tick.

import { Conditioner, parseTestSettings, type TestSettings } from "./conditioner";
import { LinkPolicy, type LinkAction } from "./fallback";
import { PeerLink } from "./mesh";
import { channelKind, selectedPair, type CandidateType, type SelectedPair, type TransportKind } from "./stats";
import {
  fromBase64,
  packRelay,
  type OutgoingPacket,
  type P2PConnection,
  type RelayIn,
  type SignalIn,
} from "./wire";

export interface PeerTransportOptions {
  /** The page's Socket.IO connection (signaling and relay). */
  conn: P2PConnection;
  gameId: string;
  /** This page's peer index. */
  me: number;
  /** The game's peer indices (this page's own index may be included; it is skipped). */
  peers: number[];
  iceServers: RTCIceServer[];
  /** Relay candidates only (`iceTransportPolicy: "relay"`): every DataChannel goes through TURN. */
  forceRelay: boolean;
  /** No DataChannel within this time (or none back within it after a failure) → the server relay. */
  connectTimeoutS: number;
  /** The game's test_hooks: loopback-only candidates and `window.mugTest.p2p` conditions. */
  testHooks: boolean;
  onPacket(from: number, bytes: Uint8Array): void;
  /** A pair's transport changed ("connecting" → "turn", "direct" → "server", ...), with why. */
  onTransport(peer: number, transport: TransportKind, detail: TransportDetail): void;
  /** Clock in ms (default performance.now). */
  now?: () => number;
}

export interface TransportDetail {
  /** Why the transport changed, in words (for logs and records). */
  reason: string;
  /** For a DataChannel: this side's candidate type in the selected pair ("relay" through TURN); else null. */
  candidateType: CandidateType | null;
  /** For a DataChannel: the other side's candidate type in the selected pair; else null. */
  remoteCandidateType: CandidateType | null;
}

export interface PeerStats {
  peer: number;
  transport: TransportKind;
  /** This side's candidate in the DataChannel's selected pair (null without one). */
  candidateType: CandidateType | null;
  /** The other side's candidate in that pair. */
  remoteCandidateType: CandidateType | null;
  /** ICE's round trip time on the selected pair while the DataChannel carries the packets, else null. */
  rttMs: number | null;
}

/** What the transport did, for tests and monitoring. */
export interface TransportCounters {
  channelSent: number;
  relaySent: number;
  relayEvents: number;
  channelReceived: number;
  relayReceived: number;
  /** Dropped by the injected loss (test hooks). */
  conditionedDrops: number;
  /** Packets the relay cannot carry (empty or > 2048 bytes) while the DataChannel was not open: not sent. */
  oversize: number;
  /** Malformed relay packets and signals from the other side, ignored. */
  malformed: number;
}

interface PeerState {
  peer: number;
  link: PeerLink | null;
  policy: LinkPolicy;
  transport: TransportKind;
  /** Bumped on every policy state change: a stats lookup started before a change is stale. */
  generation: number;
}

const TICK_MS = 250; // how often timeouts are checked when flush() is not being called
const STATS_RETRIES = 10; // looking for the selected candidate pair after a channel opens…
const STATS_RETRY_MS = 100; // …every 100 ms, for up to a second

export class PeerTransport {
  readonly counters: TransportCounters = {
    channelSent: 0,
    relaySent: 0,
    relayEvents: 0,
    channelReceived: 0,
    relayReceived: 0,
    conditionedDrops: 0,
    oversize: 0,
    malformed: 0,
  };
  private readonly peers = new Map<number, PeerState>();
  private readonly now: () => number;
  private readonly conditioner = new Conditioner<OutgoingPacket>();
  private readonly settings: TestSettings;
  private relayPending: OutgoingPacket[] = [];
  private deliverTimer: ReturnType<typeof setTimeout> | null = null;
  private tickTimer: ReturnType<typeof setInterval> | null = null;
  private closed = false;
  private warned = new Set<string>();
  private readonly onSignal = (msg: SignalIn) => this.receiveSignal(msg);
  private readonly onRelay = (msg: RelayIn) => this.receiveRelay(msg);

  constructor(private readonly opts: PeerTransportOptions) {
    const { me, peers, connectTimeoutS, gameId } = opts;
    if (!gameId) throw new TypeError("PeerTransport: gameId is empty");
    if (!Number.isInteger(me) || me < 0) throw new RangeError(`PeerTransport: me must be a peer index, got ${me}`);
    if (!(connectTimeoutS > 0)) throw new RangeError(`PeerTransport: connectTimeoutS must be > 0, got ${connectTimeoutS}`);
    this.now = opts.now ?? (() => performance.now());
    this.settings = this.readSettings();
    this.conditioner.configure(this.settings.conditions);
    const config: RTCConfiguration = {
      iceServers: opts.iceServers,
      iceTransportPolicy: opts.forceRelay ? "relay" : "all",
    };
    const start = this.now();
    for (const peer of new Set(peers)) {
      if (peer === me) continue;
      if (!Number.isInteger(peer) || peer < 0) throw new RangeError(`PeerTransport: peer index ${peer} is not an index`);
      const state: PeerState = {
        peer,
        link: null,
        policy: new LinkPolicy(connectTimeoutS * 1000, start),
        transport: "connecting",
        generation: 0,
      };
      this.peers.set(peer, state);
    }
    if (this.peers.size === 0) throw new RangeError(`PeerTransport: no other peer in ${JSON.stringify(peers)}`);
    opts.conn.socket.on("p2p_signal", this.onSignal);
    opts.conn.socket.on("p2p_relay", this.onRelay);
    // DataChannels blocked by the test hook: never opened, so every pair times out into the relay
    // exactly as when WebRTC cannot connect.
    if (!this.settings.blockDataChannels) {
      for (const state of this.peers.values()) state.link = this.createLink(state, config);
      for (const state of this.peers.values()) state.link?.start();
    }
    this.tickTimer = setInterval(() => this.tick(), TICK_MS);
    // Reported after the constructor returns, so the caller's callback can use the transport.
    queueMicrotask(() => {
      if (this.closed) return;
      for (const s of this.peers.values()) {
        const why = this.settings.blockDataChannels ? "DataChannels blocked by the test hook" : "ICE negotiation started";
        opts.onTransport(s.peer, "connecting", {
          reason: `${why}; packets go through the server meanwhile`,
          candidateType: null,
          remoteCandidateType: null,
        });
      }
    });
  }

  /** Queues one netcode packet for peer `to` (sent at once on a DataChannel, with the next flush() by the relay). */
  send(to: number, bytes: Uint8Array): void {
    if (this.closed) return;
    if (!this.peers.has(to)) throw new RangeError(`PeerTransport.send: ${to} is not another peer of game ${this.opts.gameId}`);
    const packet = { to, bytes };
    if (!this.conditioner.active) {
      this.route(packet);
      return;
    }
    const verdict = this.conditioner.submit(packet, this.now());
    if (verdict === "dropped") this.counters.conditionedDrops++;
    else if (verdict === "now") this.route(packet);
    else this.scheduleDelivery();
  }

  /** Once per tick: checks timeouts, re-reads the test conditions, and sends the relay batch. */
  flush(): void {
    if (this.closed) return;
    if (this.opts.testHooks) this.conditioner.configure(this.readSettings().conditions);
    this.tick();
    if (this.relayPending.length === 0) return;
    const { events, oversize } = packRelay(this.opts.gameId, this.relayPending);
    this.relayPending = [];
    this.counters.oversize += oversize.length;
    if (oversize.length) this.warnOnce("oversize", `P2P: ${oversize.length} packet(s) too large for the server relay were not sent`);
    for (const event of events) {
      this.opts.conn.send("p2p_relay", event);
      this.counters.relayEvents++;
      this.counters.relaySent += event.packets.length;
    }
  }

  /** The transport of every pair and, for DataChannels, the selected candidate pair and ICE RTT. */
  async stats(): Promise<PeerStats[]> {
    const out: PeerStats[] = [];
    for (const s of this.peers.values()) {
      const report = s.link ? await s.link.stats().catch(() => null) : null;
      const pair = report ? selectedPair(report.values() as Iterable<Record<string, unknown>>) : null;
      out.push({
        peer: s.peer,
        transport: s.transport,
        candidateType: pair?.localType ?? null,
        remoteCandidateType: pair?.remoteType ?? null,
        rttMs: s.policy.path === "channel" ? (pair?.rttMs ?? null) : null,
      });
    }
    return out;
  }

  /** Each pair's current transport, by peer index. */
  get transports(): Record<number, TransportKind> {
    const out: Record<number, TransportKind> = {};
    for (const s of this.peers.values()) out[s.peer] = s.transport;
    return out;
  }

  /** Stops everything: peer connections, timers and this transport's Socket.IO listeners. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.opts.conn.socket.off("p2p_signal", this.onSignal);
    this.opts.conn.socket.off("p2p_relay", this.onRelay);
    if (this.deliverTimer !== null) clearTimeout(this.deliverTimer);
    if (this.tickTimer !== null) clearInterval(this.tickTimer);
    for (const s of this.peers.values()) s.link?.close();
    this.relayPending = [];
  }

  // --- internals -------------------------------------------------------------------------------

  private readSettings(): TestSettings {
    if (!this.opts.testHooks) return parseTestSettings(undefined);
    return parseTestSettings((globalThis as { mugTest?: { p2p?: unknown } }).mugTest?.p2p);
  }

  private createLink(state: PeerState, config: RTCConfiguration): PeerLink {
    const peer = state.peer;
    return new PeerLink(peer, this.opts.me < peer, config, this.opts.testHooks, {
      signal: (kind, data) => {
        if (!this.closed) this.opts.conn.send("p2p_signal", { game_id: this.opts.gameId, to: peer, signal: { kind, data } });
      },
      open: () => this.apply(state, state.policy.handle({ type: "open" }, this.now())),
      failed: (reason) => this.apply(state, state.policy.handle({ type: "failed", reason }, this.now())),
      message: (bytes) => {
        if (this.closed) return;
        this.counters.channelReceived++;
        this.opts.onPacket(peer, bytes);
      },
      problem: (message) => this.warnOnce(message, `P2P: ${message}`),
    });
  }

  private tick(): void {
    if (this.closed) return;
    const now = this.now();
    for (const s of this.peers.values()) this.apply(s, s.policy.handle({ type: "tick" }, now));
  }

  private apply(state: PeerState, actions: LinkAction[]): void {
    if (this.closed) return;
    for (const action of actions) {
      if (action.kind === "restart") {
        state.link?.restart(action.reason);
        continue;
      }
      state.generation++;
      if (action.state === "open") void this.reportChannel(state, state.generation, action.reason);
      else if (action.state !== "connecting") {
        this.report(state, "server", { reason: action.reason, candidateType: null, remoteCandidateType: null });
      }
    }
  }

  /** A DataChannel opened: whether it goes through TURN is known from the selected candidate pair.
   * The engine may list the pair a moment after the channel opens, so the lookup is retried briefly;
   * without it, relay-only ICE (forceRelay) still means TURN. */
  private async reportChannel(state: PeerState, generation: number, reason: string): Promise<void> {
    let pair: SelectedPair | null = null;
    for (let attempt = 0; ; attempt++) {
      const report = await state.link?.stats().catch(() => null);
      if (this.closed || state.generation !== generation) return;
      pair = report ? selectedPair(report.values() as Iterable<Record<string, unknown>>) : null;
      if (pair || attempt >= STATS_RETRIES) break;
      await new Promise((resolve) => setTimeout(resolve, STATS_RETRY_MS));
    }
    const kind = pair ? channelKind(pair) : this.opts.forceRelay ? "turn" : "direct";
    this.report(state, kind, {
      reason: pair ? reason : `${reason} (no selected candidate pair in the stats)`,
      candidateType: pair?.localType ?? null,
      remoteCandidateType: pair?.remoteType ?? null,
    });
  }

  private report(state: PeerState, transport: TransportKind, detail: TransportDetail): void {
    if (state.transport === transport) return;
    state.transport = transport;
    this.opts.onTransport(state.peer, transport, detail);
  }

  private route(packet: OutgoingPacket): void {
    const state = this.peers.get(packet.to);
    if (!state) return;
    if (state.policy.path === "channel" && state.link?.send(packet.bytes)) {
      this.counters.channelSent++;
      return;
    }
    this.relayPending.push(packet);
  }

  private scheduleDelivery(): void {
    if (this.deliverTimer !== null || this.closed) return;
    const at = this.conditioner.nextDueAt();
    if (at === null) return;
    this.deliverTimer = setTimeout(() => {
      this.deliverTimer = null;
      if (this.closed) return;
      // Delayed packets for the relay wait for the next flush(): the relay sends once per tick.
      for (const packet of this.conditioner.takeDue(this.now())) this.route(packet);
      this.scheduleDelivery();
    }, Math.max(0, at - this.now()));
  }

  private receiveSignal(msg: SignalIn): void {
    if (this.closed || !msg || msg.game_id !== this.opts.gameId) return;
    const state = this.peers.get(msg.from);
    if (!state || !msg.signal || typeof msg.signal.kind !== "string") {
      this.counters.malformed++;
      return;
    }
    state.link?.handleSignal(msg.signal);
  }

  private receiveRelay(msg: RelayIn): void {
    if (this.closed || !msg || msg.game_id !== this.opts.gameId) return;
    if (!this.peers.has(msg.from) || !Array.isArray(msg.data)) {
      this.counters.malformed++;
      return;
    }
    for (const data of msg.data) {
      let bytes: Uint8Array;
      try {
        bytes = fromBase64(data);
      } catch (err) {
        this.counters.malformed++;
        this.warnOnce("relay-format", `P2P: ${(err as Error).message} (from peer ${msg.from})`);
        continue;
      }
      this.counters.relayReceived++;
      this.opts.onPacket(msg.from, bytes);
    }
  }

  private warnOnce(key: string, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    console.warn(message);
  }
}
