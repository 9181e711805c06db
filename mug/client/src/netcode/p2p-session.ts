// The peer-to-peer rollback session: inputs in and out, prediction, rollback, confirmation,
// checksums, time sync and episode boundaries. Transport-agnostic and clock-agnostic: the host
// hands it bytes and the time, and gets back packets, host requests and events.
import type { ResolvedConfig } from "./config";
import { timeSyncOptions } from "./config";
import { DesyncDetector, type DesyncFinding } from "./desync";
import { NetcodeError, NetcodeUsageError } from "./errors";
import { FrameWindow } from "./frame-window";
import { InputQueue } from "./input-queue";
import { Peer, type PeerStats } from "./peer";
import { JOIN_INPUT_HISTORY, JoinCoordinator, encodeJoinPayload, type JoinInputs, type JoinPayload } from "./rejoin";
import { ResyncCoordinator } from "./resync";
import { SyncLayer } from "./sync-layer";
import { FrameAdvantage, FrameClock } from "./time-sync";
import type {
  Action,
  AdvanceResult,
  AdvanceStatus,
  Frame,
  OutgoingPacket,
  PeerId,
  PlayerHandle,
  PlayerInput,
  SessionEvent,
  SessionRequest,
} from "./types";
import {
  MAX_BODY_BYTES,
  MAX_FRAMES_PER_INPUT,
  decodeMessage,
  encodeMessage,
  type InputMessage,
  type JoinRequestMessage,
  type SyncMessage,
  type WireMessage,
} from "./wire/messages";

/** synchronizing: handshaking. joining (a session built with a rejoinId): handshake done, waiting
 * for a peer's state to join the game in progress. running: frames advance. */
export type SessionState = "synchronizing" | "joining" | "running";

export interface SessionStats {
  readonly currentFrame: Frame;
  readonly confirmedFrame: Frame;
  /** advanceFrame() calls that rolled back. */
  readonly rollbacks: number;
  /** Frames re-simulated by rollbacks and resyncs. */
  readonly resimulatedFrames: number;
  /** advanceFrame() calls that returned "predictionThreshold". */
  readonly predictionStalls: number;
  /** The frame clock's current rate (1 = nominal fps). */
  readonly frameRate: number;
  readonly peers: readonly PeerStats[];
}

const NO_ROLLBACK = Number.POSITIVE_INFINITY;

export class P2PSession {
  readonly numPlayers: number;
  readonly localPeer: PeerId;
  readonly localPlayers: readonly PlayerHandle[];
  private readonly cfg: ResolvedConfig;
  private readonly sync: SyncLayer;
  private readonly queues: InputQueue[];
  private readonly peers = new Map<PeerId, Peer>();
  /** The peer of each player, null for local players. */
  private readonly playerPeer: (Peer | null)[];
  private readonly pendingLocal: (Uint8Array | undefined)[];
  /** Local inputs of all local players per frame, as sent on the wire. */
  private readonly localRecords = new FrameWindow<Uint8Array>(0);
  private lastLocalFrame: Frame = -1;
  private readonly localRecordSize: number;
  private readonly interruptTimeoutMs: number;
  private firstIncorrect: number = NO_ROLLBACK;
  private nowMs = 0;
  private started = false;
  private state: SessionState = "synchronizing";
  private readonly advantage: FrameAdvantage;
  private readonly clock: FrameClock;
  private readonly desync: DesyncDetector;
  private readonly resync: ResyncCoordinator;
  private readonly join: JoinCoordinator;
  /** A joined state for the host to import before anything else. */
  private joinImport: { frame: Frame; bytes: Uint8Array } | null = null;
  private nextChecksumFrame: Frame;
  private lastConfirmedEmitted: Frame = -1;
  private events: SessionEvent[] = [];
  private outgoing: OutgoingPacket[] = [];
  private syncNonceCounter = 0;
  // Episodes: frames [episodeStart, endFrame) form the current episode.
  private endFrame: Frame | null = null;
  private lastEpisodeEnd: Frame = 0;
  private episodeEnded = false;
  private restartSavePending = false;
  private rollbacks = 0;
  private resimulated = 0;
  private predictionStalls = 0;

  constructor(config: ResolvedConfig) {
    this.cfg = config;
    const o = config.options;
    this.numPlayers = config.players.length;
    this.localPeer = config.localPeer;
    this.localPlayers = config.players.filter((p) => p.local).map((p) => p.handle);
    this.sync = new SyncLayer(o.checksumInterval);
    this.nextChecksumFrame = o.checksumInterval;
    this.queues = config.players.map((p) => new InputQueue(p.codec, o.prediction, p.defaultInput));
    this.pendingLocal = config.players.map(() => undefined);
    for (const p of config.players) {
      if (p.local || this.peers.has(p.peer)) continue;
      const handles = config.players.filter((q) => q.peer === p.peer).map((q) => q.handle);
      const recordSize = handles.reduce((n, h) => n + config.players[h]!.codec.size, 0);
      this.peers.set(p.peer, new Peer(p.peer, handles, recordSize));
    }
    this.interruptTimeoutMs = o.interruptTimeoutMs ?? (o.maxPrediction * 1000) / o.fps;
    this.localRecordSize = this.localPlayers.reduce((n, h) => n + config.players[h]!.codec.size, 0);
    this.playerPeer = config.players.map((p) => (p.local ? null : this.peers.get(p.peer)!));
    this.advantage = new FrameAdvantage(timeSyncOptions(o));
    this.clock = new FrameClock(timeSyncOptions(o));
    this.desync = new DesyncDetector(Math.max(o.checksumInterval, 1) * 64);
    this.resync = new ResyncCoordinator({
      options: o,
      localPeer: this.localPeer,
      peers: this.peers,
      desync: this.desync,
      send: (peer, m) => this.send(peer, m),
      emit: (e) => this.events.push(e),
    });
    this.join = new JoinCoordinator({
      options: o,
      localPeer: this.localPeer,
      configHash: config.configHash,
      peers: this.peers,
      send: (peer, m) => this.send(peer, m),
      emit: (e) => this.events.push(e),
    });
  }

  // ---------------------------------------------------------------- host API

  get currentFrame(): Frame {
    return this.sync.currentFrame;
  }

  /** Highest frame whose inputs from every connected player are known. */
  get confirmedFrame(): Frame {
    return this.confirmedUpTo(false);
  }

  get sessionState(): SessionState {
    return this.state;
  }

  /** The agreed end frame of the current episode, or null. */
  get episodeEndFrame(): Frame | null {
    return this.endFrame;
  }

  /** Timers: handshake, pings, keepalive/resends, state transfer, silence timeouts. Call every tick. */
  poll(nowMs: number): void {
    this.nowMs = nowMs;
    const o = this.cfg.options;
    if (!this.started) {
      this.started = true;
      for (const p of this.peers.values()) p.lastReceivedMs = nowMs;
    }
    for (const peer of this.peers.values()) {
      if (!peer.connected) continue;
      const silentMs = nowMs - peer.lastReceivedMs;
      if (silentMs > o.disconnectTimeoutMs) {
        this.disconnect(peer);
        continue;
      }
      if (peer.state === "running" && silentMs > this.interruptTimeoutMs) {
        peer.state = "interrupted";
        this.events.push({ type: "interrupted", peer: peer.id, silentMs });
      }
      if (peer.state === "syncing" && nowMs - peer.syncSentAtMs >= o.syncRetryMs) this.sendSyncRequest(peer);
      if (peer.active) {
        if (nowMs - peer.lastPingMs >= o.pingIntervalMs) {
          peer.lastPingMs = nowMs;
          Peer.remember(peer.pingsPending, nowMs, nowMs);
          this.send(peer.id, { type: "ping", timeMs: nowMs });
        }
        if (nowMs - peer.lastInputSentMs >= o.resendIntervalMs) this.sendInput(peer);
      }
    }
    this.resync.poll(nowMs);
    let handshakeDone = true;
    for (const p of this.peers.values()) if (p.state === "syncing") handshakeDone = false;
    this.join.poll(nowMs, handshakeDone);
  }

  /** Frames the host should run now (0 before the session runs). Paced by time sync. */
  framesDue(nowMs: number): number {
    this.nowMs = nowMs;
    if (this.state !== "running") return 0;
    return this.clock.framesDue(nowMs, this.framesAhead());
  }

  /** Smoothed frames this peer runs ahead of the furthest-behind running peer. */
  framesAhead(): number {
    const running: PeerId[] = [];
    for (const p of this.peers.values()) if (p.state === "running") running.push(p.id);
    return this.advantage.framesAhead(running);
  }

  /** Sets the input of a local player for the next advanceFrame(). Throws on an invalid action. */
  addLocalInput(player: PlayerHandle, action: Action): void {
    const setup = this.cfg.players[player];
    if (!setup || !setup.local) throw new NetcodeUsageError(`player ${player} is not a local player of this session`);
    this.pendingLocal[player] = setup.codec.encode(action);
  }

  /**
   * Runs one frame if it can. Always returns the requests to execute (a rollback or resync may
   * happen even when the frame cannot advance). Every local player needs an input first
   * (addLocalInput); it is consumed only when the frame advances.
   */
  advanceFrame(): AdvanceResult {
    const requests: SessionRequest[] = [];
    if (this.state !== "running") return { status: "synchronizing", requests, frame: this.sync.currentFrame };
    const missing = this.localPlayers.filter((h) => this.pendingLocal[h] === undefined);
    if (missing.length > 0) throw new NetcodeUsageError(`no local input for player(s) ${missing.join(", ")} before advanceFrame()`);
    if (this.joinImport) {
      // Joined mid-game: the source's state becomes the live state at its frame.
      requests.push({ kind: "importState", frame: this.joinImport.frame, bytes: this.joinImport.bytes });
      this.sync.adoptImported(this.joinImport.frame);
      this.sync.rewindTo(this.joinImport.frame, requests);
      this.joinImport = null;
    }
    if (this.restartSavePending) {
      this.restartSavePending = false;
      this.sync.save(requests, false);
    }
    // Applied once every frame before it was confirmed (and reported) the normal way.
    const imported = this.resync.takeImport(this.sync.currentFrame, this.lastConfirmedEmitted, this.queues);
    if (imported) {
      requests.push({ kind: "importState", frame: imported.frame, bytes: imported.bytes });
      this.sync.adoptImported(imported.frame);
      this.resimulated += this.sync.resimulate(imported.frame, this.sync.currentFrame, (f) => this.inputsFor(f), requests);
      this.firstIncorrect = NO_ROLLBACK;
      this.lastConfirmedEmitted = Math.min(this.lastConfirmedEmitted, imported.frame - 1);
      this.nextChecksumFrame = this.firstChecksumFrameAfter(imported.frame);
    }
    let status: AdvanceStatus = "advanced";
    const end = this.endFrame;
    if (end !== null && this.sync.currentFrame >= end) {
      status = this.episodeEnded ? "episodeEnded" : "episodeEnding";
      if (this.sync.currentFrame > end) {
        // Frames past the agreed end were predicted ahead: drop them (re-simulating up to the end if needed).
        if (this.firstIncorrect < end) this.rollBack(end, requests);
        else this.sync.rewindTo(end, requests);
        this.firstIncorrect = NO_ROLLBACK;
      }
    } else if (this.sync.currentFrame - this.confirmedUpTo(true) > this.cfg.options.maxPrediction) {
      // Stalled: a pending rollback waits until the session can advance again (one batch instead of many).
      status = "predictionThreshold";
      this.predictionStalls++;
    }
    if (status !== "predictionThreshold" && this.firstIncorrect < this.sync.currentFrame) {
      this.rollBack(this.sync.currentFrame, requests);
    }
    if (status !== "predictionThreshold") this.firstIncorrect = NO_ROLLBACK;
    if (status === "advanced") {
      this.addLocalInputs();
      this.sync.advance(this.inputsFor(this.sync.currentFrame), false, requests);
      for (const peer of this.peers.values()) if (peer.active) this.sendInput(peer);
    }
    const finalFrame = Math.min(this.confirmedFrame + 1, this.sync.currentFrame, this.firstIncorrect);
    const exportFrame = this.resync.takeExportFrame(finalFrame);
    if (exportFrame !== null) requests.push({ kind: "exportState", frame: exportFrame });
    // A joining peer gets a state inside an episode: at the agreed end the state changes when the host resets.
    const joinFrame = this.endFrame !== null && finalFrame >= this.endFrame ? null : this.join.takeExportFrame(finalFrame);
    if (joinFrame !== null && joinFrame !== exportFrame) requests.push({ kind: "exportState", frame: joinFrame });
    this.afterProgress();
    if (status === "episodeEnding" && this.episodeEnded) status = "episodeEnded";
    this.prune(requests);
    return { status, requests, frame: this.sync.currentFrame };
  }

  /** The host's checksum for a save request that asked for one. */
  reportChecksum(frame: Frame, checksum: number): void {
    if (this.sync.reportChecksum(frame, checksum)) this.finalizeChecksums();
  }

  /** The host's answer to an exportState request. */
  provideState(frame: Frame, bytes: Uint8Array): void {
    if (bytes.length > this.cfg.options.maxStateBytes) {
      throw new NetcodeUsageError(`state of ${bytes.length} bytes exceeds maxStateBytes ${this.cfg.options.maxStateBytes}`);
    }
    this.resync.provideState(frame, bytes, this.nowMs);
    this.join.provideState(frame, bytes, (f, host) => this.joinPayload(f, host), this.nowMs);
  }

  /**
   * Proposes ending the episode as soon as possible: at the first frame no peer can have confirmed.
   * Peers take the earliest proposal. Returns the agreed end frame so far.
   */
  requestEpisodeEnd(): Frame {
    if (this.endFrame !== null) return this.endFrame;
    this.setEndFrame(Math.max(this.lastLocalFrame + 1, this.sync.currentFrame), null);
    for (const peer of this.peers.values()) if (peer.active) this.sendInput(peer);
    return this.endFrame ?? this.sync.currentFrame;
  }

  /** After the episodeEnd event: the host has reset its live state; frames go on from the end frame. */
  startNextEpisode(): void {
    if (!this.episodeEnded || this.endFrame === null) throw new NetcodeUsageError("no episode has ended");
    this.lastEpisodeEnd = this.endFrame;
    this.endFrame = null;
    this.episodeEnded = false;
    this.restartSavePending = true;
  }

  /**
   * Bytes from a peer. Never throws for anything the peer sent: a bad message is dropped, reported
   * as a protocolError event and returned.
   */
  handleMessage(from: PeerId, bytes: Uint8Array, nowMs: number): NetcodeError | null {
    this.nowMs = nowMs;
    const peer = this.peers.get(from);
    if (!peer) return this.reject(from, null, new NetcodeError("unknownPeer", `no peer ${from} in this session`));
    const decoded = decodeMessage(bytes);
    if (!decoded.ok) return this.reject(from, peer, decoded.error);
    const { sender, sessionTag, message } = decoded.envelope;
    if (sender !== from) return this.reject(from, peer, new NetcodeError("senderMismatch", `header says ${sender}, transport says ${from}`));
    if (sessionTag !== this.cfg.options.sessionTag) {
      return this.reject(from, peer, new NetcodeError("wrongSession", `session tag ${sessionTag}, expected ${this.cfg.options.sessionTag}`));
    }
    if (!peer.connected) return null;
    peer.packetsReceived++;
    peer.bytesReceived += bytes.length;
    peer.lastReceivedMs = nowMs;
    // (A restarted peer's handshake does not make it count again: its inputs flow only once it joined.)
    const handshake = message.type === "syncRequest" || message.type === "syncReply" || message.type === "joinRequest";
    if (peer.state === "interrupted" && !handshake) {
      peer.state = "running";
      this.events.push({ type: "resumed", peer: peer.id });
    }
    const error = this.dispatch(peer, message);
    return error ? this.reject(from, peer, error) : null;
  }

  drainOutgoing(): OutgoingPacket[] {
    const out = this.outgoing;
    this.outgoing = [];
    return out;
  }

  drainEvents(): SessionEvent[] {
    const out = this.events;
    this.events = [];
    return out;
  }

  stats(): SessionStats {
    const peers: PeerStats[] = [];
    for (const p of this.peers.values()) {
      peers.push({
        peer: p.id,
        state: p.state,
        rttMs: p.rttMs,
        framesAhead: this.advantage.aheadOf(p.id),
        packetsSent: p.packetsSent,
        packetsReceived: p.packetsReceived,
        bytesSent: p.bytesSent,
        bytesReceived: p.bytesReceived,
        errors: p.errors,
      });
    }
    return {
      currentFrame: this.sync.currentFrame,
      confirmedFrame: this.confirmedFrame,
      rollbacks: this.rollbacks,
      resimulatedFrames: this.resimulated,
      predictionStalls: this.predictionStalls,
      frameRate: this.clock.rate,
      peers,
    };
  }

  // ---------------------------------------------------------------- timeline

  /** Loads the first mispredicted frame and re-simulates up to `to`. */
  private rollBack(to: Frame, requests: SessionRequest[]): void {
    this.rollbacks++;
    this.resimulated += this.sync.resimulate(this.firstIncorrect, to, (f) => this.inputsFor(f), requests);
  }

  /** Min over players of the last known input frame; `forWindow` skips interrupted peers. */
  private confirmedUpTo(forWindow: boolean): Frame {
    let min = this.lastLocalFrame;
    for (const peer of this.peers.values()) {
      if (!peer.connected || (forWindow && peer.predicted)) continue;
      const last = this.queues[peer.players[0]!]!.lastFrame;
      if (last < min) min = last;
    }
    return min;
  }

  private addLocalInputs(): void {
    const target = this.sync.currentFrame + this.cfg.options.inputDelay;
    const wanted = this.localPlayers.map((h) => this.pendingLocal[h]!);
    for (const h of this.localPlayers) this.pendingLocal[h] = undefined;
    // Inputs never go past an agreed episode end; gaps (session start, after an episode) get the default.
    const limit = this.endFrame === null ? target : Math.min(target, this.endFrame - 1);
    while (this.lastLocalFrame < limit) {
      const frame = this.lastLocalFrame + 1;
      const parts = this.localPlayers.map((h, i) => (frame === target ? wanted[i]! : this.queues[h]!.defaultInput));
      for (let i = 0; i < this.localPlayers.length; i++) this.queues[this.localPlayers[i]!]!.add(frame, parts[i]!);
      this.localRecords.set(frame, parts.length === 1 ? parts[0]! : concat(parts));
      this.lastLocalFrame = frame;
    }
  }

  /** Inputs of every player for `frame`, recording what was predicted. */
  private inputsFor(frame: Frame): PlayerInput[] {
    const out: PlayerInput[] = new Array<PlayerInput>(this.numPlayers);
    for (let p = 0; p < this.numPlayers; p++) {
      const q = this.queues[p]!;
      const peer = this.playerPeer[p];
      if (peer && peer.state === "disconnected" && frame > peer.disconnectFrame) {
        out[p] = { action: q.codec.decode(q.defaultInput), status: "disconnected" };
        continue;
      }
      const known = q.confirmedAt(frame);
      if (known) {
        out[p] = { action: q.codec.decode(known), status: "confirmed" };
      } else {
        const guess = q.predict();
        q.markUsed(frame, guess);
        out[p] = { action: q.codec.decode(guess), status: "predicted" };
      }
    }
    return out;
  }

  /** Confirmed-frame events, checksum finalization and the episode end, after any progress. */
  private afterProgress(): void {
    const confirmed = this.confirmedFrame;
    const upTo = Math.min(confirmed, this.sync.currentFrame - 1, this.firstIncorrect - 1);
    while (this.lastConfirmedEmitted < upTo) {
      const frame = ++this.lastConfirmedEmitted;
      this.events.push({ type: "confirmed", frame, inputs: this.inputsFor(frame) });
    }
    this.finalizeChecksums();
    if (
      this.endFrame !== null &&
      !this.episodeEnded &&
      this.sync.currentFrame === this.endFrame &&
      confirmed >= this.endFrame - 1 &&
      this.firstIncorrect === NO_ROLLBACK
    ) {
      this.episodeEnded = true;
      this.events.push({ type: "episodeEnd", frame: this.endFrame });
    }
  }

  /** Checksums of frames whose state can no longer change become final and are compared/reported. */
  private finalizeChecksums(): void {
    if (this.cfg.options.checksumInterval <= 0) return;
    const limit = Math.min(this.confirmedFrame + 1, this.sync.currentFrame, this.firstIncorrect);
    const findings: DesyncFinding[] = [];
    while (this.nextChecksumFrame <= limit) {
      const value = this.sync.checksum(this.nextChecksumFrame);
      if (value === undefined) break;
      findings.push(...this.desync.addLocal(this.nextChecksumFrame, value));
      this.nextChecksumFrame += this.cfg.options.checksumInterval;
    }
    const entries = this.desync.takeReport();
    if (entries) {
      const resyncCount = this.desync.resyncCount;
      for (const peer of this.peers.values()) {
        if (peer.active) this.send(peer.id, { type: "checksumReport", resyncCount, entries });
      }
    }
    this.resync.onFindings(findings);
  }

  private firstChecksumFrameAfter(frame: Frame): Frame {
    const k = this.cfg.options.checksumInterval;
    return k > 0 ? (Math.floor(frame / k) + 1) * k : Number.POSITIVE_INFINITY;
  }

  private prune(requests: SessionRequest[]): void {
    const confirmed = this.confirmedFrame;
    const pinned = Math.min(this.resync.pinnedFrame ?? Number.POSITIVE_INFINITY, this.join.pinnedFrame ?? Number.POSITIVE_INFINITY);
    const discard = this.sync.discardBefore(Math.min(confirmed, pinned, this.firstIncorrect));
    if (discard) requests.push(discard);
    let ackedByAll = this.lastLocalFrame;
    for (const peer of this.peers.values()) if (peer.connected) ackedByAll = Math.min(ackedByAll, peer.ackedLocal);
    const keep = confirmed - this.cfg.options.inputHistoryFrames;
    for (let p = 0; p < this.numPlayers; p++) {
      const local = this.playerPeer[p] === null;
      this.queues[p]!.prune(local ? Math.min(keep, ackedByAll + 1) : keep, confirmed + 1);
    }
    this.localRecords.dropBefore(Math.min(keep, ackedByAll + 1));
    this.sync.forgetChecksumsBefore(this.nextChecksumFrame);
    this.desync.prune(this.nextChecksumFrame);
  }

  private setEndFrame(frame: Frame, from: Peer | null): NetcodeError | null {
    if (frame <= this.lastEpisodeEnd) return null; // a previous episode's end, repeated by a late packet
    if (this.endFrame !== null && frame >= this.endFrame) return null;
    // A genuine proposal is always past every frame any peer can have confirmed.
    if (frame <= this.confirmedFrame || (frame < this.sync.currentFrame && !this.sync.hasState(frame))) {
      return from ? new NetcodeError("unexpectedMessage", `episode end ${frame} is before frames already confirmed`) : null;
    }
    this.endFrame = frame;
    this.events.push({ type: "episodeEnding", frame });
    return null;
  }

  private disconnect(peer: Peer): void {
    peer.state = "disconnected";
    const last = this.queues[peer.players[0]!]!.lastFrame;
    peer.disconnectFrame = last;
    // Frames already simulated with a guess other than the default must be re-simulated.
    for (const h of peer.players) {
      const q = this.queues[h]!;
      for (let f = last + 1; f < this.sync.currentFrame; f++) {
        if (q.usedDiffers(f, q.defaultInput)) {
          this.firstIncorrect = Math.min(this.firstIncorrect, f);
          break;
        }
      }
    }
    this.advantage.forget(peer.id);
    this.resync.onDisconnect(peer.id);
    this.join.onDisconnect(peer.id);
    this.events.push({ type: "disconnected", peer: peer.id, players: peer.players, lastFrame: last });
    this.checkRunning();
  }

  // ---------------------------------------------------------------- messages

  private dispatch(peer: Peer, m: WireMessage): NetcodeError | null {
    switch (m.type) {
      case "syncRequest":
      case "syncReply":
        return this.onSync(peer, m);
      case "joinRequest":
        return this.onJoinRequest(peer, m);
      case "input":
        // A joining session has no frames yet: inputs count once it joined (peers resend them).
        return this.join.joining ? null : this.onInput(peer, m);
      case "ping":
        this.send(peer.id, { type: "pong", timeMs: m.timeMs });
        return null;
      case "pong": {
        // The answer to a ping this session sent and has not seen answered (not a duplicate, a
        // forged time, or a ping older than one already answered: those would inflate the RTT).
        const sentAt = Peer.answer(peer.pingsPending, m.timeMs);
        if (sentAt !== undefined) peer.addRttSample(this.nowMs - sentAt);
        return null;
      }
      case "checksumReport": {
        if (this.join.joining) return null;
        const findings = this.desync.addRemote(peer.id, m.resyncCount, m.entries, this.sync.currentFrame + this.cfg.options.checksumInterval * 64);
        this.resync.onFindings(findings);
        return null;
      }
      case "resyncRequest":
        return this.join.joining ? null : this.resync.onRequest(peer, m);
      case "stateChunk": {
        if (!this.join.joining && !this.join.isJoinTransfer(peer.id, m.transferId)) return this.resync.onChunk(peer, m);
        const error = this.join.onChunk(peer, m, this.queues);
        const joined = this.join.takeJoined();
        if (joined) this.adoptJoin(joined.payload, joined.source);
        return error;
      }
      case "stateAck":
        if (!this.join.onAck(peer, m, this.nowMs)) this.resync.onAck(peer, m, this.nowMs);
        return null;
    }
  }

  private onSync(peer: Peer, m: SyncMessage): NetcodeError | null {
    if (m.configHash !== this.cfg.configHash) {
      return new NetcodeError("configMismatch", `peer ${peer.id} runs another configuration (hash ${m.configHash} != ${this.cfg.configHash})`);
    }
    if (m.type === "syncRequest") {
      this.send(peer.id, { type: "syncReply", nonce: m.nonce, configHash: this.cfg.configHash });
      return null;
    }
    if (this.join.onReply(peer, m.nonce)) return null;
    const sentAt = peer.state === "syncing" ? Peer.answer(peer.syncPending, m.nonce) : undefined;
    if (sentAt === undefined) return null;
    peer.syncPending.clear(); // (a round trip done: the next one starts with the next request)
    peer.addRttSample(this.nowMs - sentAt);
    peer.syncCompleted++;
    const total = this.cfg.options.syncRoundtrips;
    this.events.push({ type: "synchronizing", peer: peer.id, completed: peer.syncCompleted, total });
    if (peer.syncCompleted >= total) {
      peer.state = "running";
      this.events.push({ type: "synchronized", peer: peer.id });
      this.checkRunning();
    } else {
      this.sendSyncRequest(peer);
    }
    return null;
  }

  private checkRunning(): void {
    if (this.state !== "synchronizing") return;
    for (const p of this.peers.values()) if (p.state === "syncing") return;
    if (this.join.joining) {
      this.state = "joining"; // (running once a peer's state arrived: adoptJoin)
      return;
    }
    this.state = "running";
    this.events.push({ type: "running" });
  }

  private sendSyncRequest(peer: Peer): void {
    this.syncNonceCounter = (this.syncNonceCounter + 1) & 0xffffff;
    const nonce = ((this.localPeer << 24) | this.syncNonceCounter) >>> 0;
    peer.syncSentAtMs = this.nowMs;
    Peer.remember(peer.syncPending, nonce, this.nowMs);
    this.send(peer.id, { type: "syncRequest", nonce, configHash: this.cfg.configHash });
  }

  private onInput(peer: Peer, m: InputMessage): NetcodeError | null {
    if (m.recordSize !== peer.recordSize) {
      return new NetcodeError("malformed", `input record of ${m.recordSize} bytes, expected ${peer.recordSize}`);
    }
    // A packet older than one already received, or the first since a restart: one that does not
    // follow what this session holds was sent before the peer knew of the restart; dropped quietly.
    const stale = !peer.ackKnown || m.senderFrame < peer.newestSenderFrame;
    if (m.senderFrame > peer.newestSenderFrame) peer.newestSenderFrame = m.senderFrame;
    this.advantage.sample(peer.id, m.senderFrame, m.advantage, this.sync.currentFrame, this.nowMs, peer.rttMs);
    if (!peer.ackKnown) {
      // The first packet since it (or this session) restarted says what it holds of our inputs.
      peer.ackKnown = true;
      peer.ackedLocal = Math.min(m.ackFrame, this.lastLocalFrame);
    } else if (m.ackFrame > peer.ackedLocal) peer.ackedLocal = Math.min(m.ackFrame, this.lastLocalFrame);
    if (peer.state === "rejoining") {
      peer.state = "running";
      this.events.push({ type: "resumed", peer: peer.id });
    }
    // (A proposal for an episode other than this session's current one is dropped: one for the
    // episode that ended was in flight at its end; one for the next comes again in later packets.)
    if (m.endFrame >= 0 && m.episodeStart === this.lastEpisodeEnd) {
      const error = this.setEndFrame(m.endFrame, peer);
      if (error) return error;
    }
    const current = this.sync.currentFrame;
    for (let i = 0; i < m.records.length; i++) {
      const frame = m.startFrame + i;
      const record = m.records[i]!;
      let offset = 0;
      for (const h of peer.players) {
        const q = this.queues[h]!;
        if (!q.codec.isValid(record, offset)) {
          return new NetcodeError("invalidAction", `player ${h} frame ${frame}: input outside the action space`);
        }
        const input = record.subarray(offset, offset + q.codec.size);
        offset += q.codec.size;
        const result = q.add(frame, input);
        if (result === "conflict") return new NetcodeError("inputConflict", `player ${h} frame ${frame} was resent with another value`);
        if (result === "gap") {
          if (stale && this.cfg.options.rejoinId !== 0) return null;
          return new NetcodeError("inputGap", `player ${h}: frame ${frame} follows ${q.lastFrame}`);
        }
        if (result === "added" && frame < current && q.usedDiffers(frame, input)) {
          this.firstIncorrect = Math.min(this.firstIncorrect, frame);
        }
      }
    }
    return null;
  }

  private sendInput(peer: Peer): void {
    if (this.join.joining) return; // (a joining session has no inputs yet)
    // Until a restarted peer says what it holds, the packet carries acks and timing only.
    const start = peer.ackKnown ? peer.ackedLocal + 1 : this.lastLocalFrame + 1;
    const fit = Math.floor((MAX_BODY_BYTES - 64) / (this.localRecordSize + 1));
    const count = Math.max(0, Math.min(this.lastLocalFrame - start + 1, MAX_FRAMES_PER_INPUT, fit));
    const records: Uint8Array[] = new Array<Uint8Array>(count);
    for (let i = 0; i < count; i++) records[i] = this.localRecords.get(start + i)!;
    peer.lastInputSentMs = this.nowMs;
    this.send(peer.id, {
      type: "input",
      senderFrame: this.sync.currentFrame,
      ackFrame: this.queues[peer.players[0]!]!.lastFrame,
      advantage: this.advantage.localAdvantage(peer.id, this.sync.currentFrame, this.nowMs, peer.rttMs),
      endFrame: this.endFrame ?? -1,
      episodeStart: this.lastEpisodeEnd,
      startFrame: start,
      recordSize: this.localRecordSize,
      records,
    });
  }

  // ---------------------------------------------------------------- rejoining

  private onJoinRequest(peer: Peer, m: JoinRequestMessage): NetcodeError | null {
    if (m.configHash !== this.cfg.configHash) {
      return new NetcodeError("configMismatch", `peer ${peer.id} runs another configuration (hash ${m.configHash} != ${this.cfg.configHash})`);
    }
    // Answered (a syncReply echoing the joinId), so the restarted peer knows it was heard.
    this.send(peer.id, { type: "syncReply", nonce: m.joinId, configHash: this.cfg.configHash });
    if (!this.join.onRequest(peer, m)) return null;
    // A new incarnation of the peer: what it acknowledged, its timing and checksums are void; its
    // inputs are predicted (it does not hold the session back) until they flow again.
    if (peer.state === "running" || peer.state === "interrupted") peer.state = "rejoining";
    peer.ackKnown = false;
    peer.newestSenderFrame = -1;
    this.advantage.forget(peer.id);
    this.desync.forgetPeer(peer.id);
    this.resync.onDisconnect(peer.id);
    this.events.push({ type: "restarted", peer: peer.id });
    return null;
  }

  /** The join payload for a state the host exported: the session's part around the host's bytes. */
  private joinPayload(frame: Frame, host: Uint8Array): Uint8Array {
    const players: JoinInputs[] = this.queues.map((q) => {
      const start = Math.max(0, q.oldestKept, frame - JOIN_INPUT_HISTORY);
      const end = Math.max(q.lastFrame, frame - 1); // (a disconnected player's are the default)
      const inputs: Uint8Array[] = [];
      for (let f = start; f <= end; f++) inputs.push(q.confirmedAt(f) ?? q.defaultInput);
      return { start, inputs };
    });
    return encodeJoinPayload({ frame, episodeStart: this.lastEpisodeEnd, endFrame: this.endFrame ?? -1, players, host });
  }

  /** Joined: the source's frame, inputs and episode become this session's; frames run from there. */
  private adoptJoin(payload: JoinPayload, source: PeerId): void {
    const frame = payload.frame;
    payload.players.forEach((p, h) => {
      const q = this.queues[h]!;
      q.restartAt(p.start);
      p.inputs.forEach((input, i) => q.add(p.start + i, input));
    });
    // This peer's own inputs as its previous incarnation sent them: kept, and resent if a peer lacks them.
    const mine = this.localPlayers.map((h) => this.queues[h]!);
    const from = Math.max(...mine.map((q) => q.oldestKept));
    this.lastLocalFrame = Math.min(...mine.map((q) => q.lastFrame));
    for (let f = from; f <= this.lastLocalFrame; f++) {
      const parts = mine.map((q) => q.confirmedAt(f)!);
      this.localRecords.set(f, parts.length === 1 ? parts[0]! : concat(parts));
    }
    this.sync.startAt(frame);
    this.joinImport = { frame, bytes: payload.host };
    this.firstIncorrect = NO_ROLLBACK;
    this.lastConfirmedEmitted = frame - 1;
    this.nextChecksumFrame = this.firstChecksumFrameAfter(frame);
    this.desync.startAt(frame);
    this.lastEpisodeEnd = payload.episodeStart;
    this.endFrame = payload.endFrame >= 0 ? payload.endFrame : null;
    this.episodeEnded = false;
    this.restartSavePending = false;
    for (const peer of this.peers.values()) {
      // The source holds exactly the inputs of ours it sent; the others say so in their first packet.
      peer.ackKnown = peer.id === source;
      peer.ackedLocal = peer.id === source ? this.lastLocalFrame : -1;
    }
    this.state = "running";
    this.events.push({ type: "joined", frame, source });
    this.events.push({ type: "running" });
  }

  private send(to: PeerId, message: WireMessage): void {
    const peer = this.peers.get(to);
    if (!peer || !peer.connected) return;
    const bytes = encodeMessage(this.localPeer, this.cfg.options.sessionTag, message);
    peer.packetsSent++;
    peer.bytesSent += bytes.length;
    this.outgoing.push({ to, bytes });
  }

  private reject(from: PeerId, peer: Peer | null, error: NetcodeError): NetcodeError {
    if (peer) peer.errors++;
    this.events.push({ type: "protocolError", peer: from, error });
    return error;
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
