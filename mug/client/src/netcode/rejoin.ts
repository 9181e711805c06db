// Rejoining mid-game: a peer whose session restarted (its page reloaded) comes back as a new
// incarnation, gets a peer's confirmed state and plays on from that frame; the others accept it.
//
// Joining side (a session built with a rejoinId): after the handshake it sends `joinRequest` to
// every peer — the join source (the lowest synchronized remote peer) with `wantState` — until the
// state arrives. Source side: a new joinId from a peer means it restarted; the source exports its
// newest final state and sends it, wrapped with what the joining session needs to go on (the
// join payload below), over the same acknowledged chunks as a resync.
import type { SessionOptions } from "./config";
import { NetcodeError } from "./errors";
import type { InputQueue } from "./input-queue";
import type { Peer } from "./peer";
import { StateReceiver, StateSender } from "./state-transfer";
import type { Frame, PeerId, SessionEvent } from "./types";
import { ByteReader, ByteWriter, TruncatedInput } from "./wire/bytes";
import type { JoinRequestMessage, StateAckMessage, StateChunkMessage, WireMessage } from "./wire/messages";

/** Version byte of the join payload. */
export const JOIN_PAYLOAD_VERSION = 1;
/** At most this many confirmed inputs before the state's frame travel per player (a slower third
 * peer may still need the joining peer's own older inputs). */
export const JOIN_INPUT_HISTORY = 256;

/** One player's confirmed inputs, from `start`. */
export interface JoinInputs {
  readonly start: Frame;
  readonly inputs: readonly Uint8Array[];
}

/**
 * What the source sends a joining peer. Layout (little-endian): u8 version, u32 frame,
 * i32 episodeStart, i32 endFrame (-1 none), u8 players, then per player: u32 start, u32 count,
 * u16 record size, count × size bytes; then u32 host length and the host's exported state.
 */
export interface JoinPayload {
  /** The frame of the state: the joining session runs from here. */
  readonly frame: Frame;
  /** The first frame of the current episode (earlier episode-end proposals are stale). */
  readonly episodeStart: Frame;
  /** The agreed end of the current episode, or -1. */
  readonly endFrame: Frame;
  /** Per player (handle order): the confirmed inputs the source holds. */
  readonly players: readonly JoinInputs[];
  /** The host's exported state of `frame`. */
  readonly host: Uint8Array;
}

export function encodeJoinPayload(p: JoinPayload): Uint8Array {
  const w = new ByteWriter(64 + p.host.length);
  w.u8(JOIN_PAYLOAD_VERSION).u32(p.frame).i32(p.episodeStart).i32(p.endFrame).u8(p.players.length);
  for (const player of p.players) {
    const size = player.inputs[0]?.length ?? 1;
    w.u32(player.start).u32(player.inputs.length).u16(size);
    for (const input of player.inputs) w.bytes(input);
  }
  w.u32(p.host.length).bytes(p.host);
  return w.finish();
}

/** Decodes and checks a join payload against the session's players; a string says what is wrong. */
export function decodeJoinPayload(bytes: Uint8Array, queues: readonly InputQueue[]): JoinPayload | string {
  const r = new ByteReader(bytes);
  try {
    const version = r.u8();
    if (version !== JOIN_PAYLOAD_VERSION) return `join payload version ${version}, expected ${JOIN_PAYLOAD_VERSION}`;
    const frame = r.u32();
    const episodeStart = r.i32();
    const endFrame = r.i32();
    if (frame > 0x7fffffff || episodeStart < 0 || episodeStart > frame || endFrame < -1 || (endFrame >= 0 && endFrame < frame)) {
      return "frames out of range";
    }
    const n = r.u8();
    if (n !== queues.length) return `${n} players, this session has ${queues.length}`;
    const players: JoinInputs[] = [];
    for (let h = 0; h < n; h++) {
      const codec = queues[h]!.codec;
      const start = r.u32();
      const count = r.u32();
      const size = r.u16();
      if (count > 0 && size !== codec.size) return `player ${h}: inputs of ${size} bytes, expected ${codec.size}`;
      if (start > frame || start + count < frame) return `player ${h}: inputs ${start}..${start + count - 1} do not reach frame ${frame - 1}`;
      const inputs: Uint8Array[] = [];
      for (let i = 0; i < count; i++) {
        const input = r.bytes(size);
        if (!codec.isValid(input, 0)) return `player ${h} frame ${start + i}: input outside the action space`;
        inputs.push(input);
      }
      players.push({ start, inputs });
    }
    const hostLength = r.u32();
    const host = r.bytes(hostLength);
    if (r.remaining !== 0) return `${r.remaining} unexpected trailing bytes`;
    return { frame, episodeStart, endFrame, players, host };
  } catch (e) {
    if (e instanceof TruncatedInput) return "the join payload ends early";
    throw e;
  }
}

export interface JoinContext {
  readonly options: SessionOptions;
  readonly localPeer: PeerId;
  readonly configHash: number;
  readonly peers: ReadonlyMap<PeerId, Peer>;
  readonly send: (peer: PeerId, message: WireMessage) => void;
  readonly emit: (event: SessionEvent) => void;
}

export class JoinCoordinator {
  // Joining side.
  private receiver: StateReceiver | null = null;
  private completed: { payload: JoinPayload; source: PeerId; transferId: number } | null = null;
  private lastRequestMs = Number.NEGATIVE_INFINITY;
  private joined = false;
  /** Peers that answered a joinRequest (they know this peer restarted). */
  private readonly seen = new Set<PeerId>();
  // Source side.
  private readonly senders = new Map<PeerId, StateSender>();
  private readonly waiting = new Set<PeerId>();
  /** Joining peers already served, by the joinId served. */
  private readonly served = new Map<PeerId, number>();
  private exportFrame: Frame | null = null;
  private nextTransferId = 0x8000;

  constructor(private readonly ctx: JoinContext) {}

  /** This session joins a game in progress (built with a rejoinId) and has not joined yet. */
  get joining(): boolean {
    return this.ctx.options.rejoinId !== 0 && !this.joined;
  }

  /** The peer a joining session takes its state from: the lowest synchronized remote peer (null: none yet). */
  source(): PeerId | null {
    let min: PeerId | null = null;
    for (const p of this.ctx.peers.values()) if (p.active && (min === null || p.id < min)) min = p.id;
    return min;
  }

  /** The frame whose state must stay saved until the host exported it. */
  get pinnedFrame(): Frame | null {
    return this.exportFrame;
  }

  // ------------------------------------------------------------------ joining side

  /**
   * A restarted session sends `joinRequest` to every peer now and then until that peer answered
   * (even after it joined: a peer that missed them would go on sending from what the previous
   * incarnation acknowledged); to the source with `wantState` until the state arrived.
   * `handshakeDone`: every peer is synchronized.
   */
  poll(nowMs: number, handshakeDone: boolean): void {
    for (const sender of this.senders.values()) {
      for (const chunk of sender.chunks(nowMs, this.ctx.options.resyncRetryMs)) this.ctx.send(sender.peer, chunk);
    }
    if (this.ctx.options.rejoinId === 0) return;
    if (nowMs - this.lastRequestMs < this.ctx.options.resyncRetryMs) return;
    this.lastRequestMs = nowMs;
    const source = handshakeDone && !this.completed ? this.source() : null;
    for (const p of this.ctx.peers.values()) {
      if (!p.connected) continue;
      const wantState = p.id === source && (!this.receiver || this.receiver.source !== p.id);
      if (!wantState && this.seen.has(p.id)) continue;
      this.ctx.send(p.id, { type: "joinRequest", joinId: this.ctx.options.rejoinId, configHash: this.ctx.configHash, wantState });
    }
  }

  /** A syncReply: true when it answers this session's joinRequest (nonce = rejoinId). */
  onReply(peer: Peer, nonce: number): boolean {
    if (this.ctx.options.rejoinId === 0 || nonce !== this.ctx.options.rejoinId) return false;
    this.seen.add(peer.id);
    return true;
  }

  onChunk(peer: Peer, m: StateChunkMessage, queues: readonly InputQueue[]): NetcodeError | null {
    if (this.completed) {
      this.ctx.send(peer.id, { type: "stateAck", transferId: m.transferId, receivedBytes: m.totalBytes });
      return null;
    }
    if (m.totalBytes > this.ctx.options.maxStateBytes) {
      return new NetcodeError("stateTooLarge", `${m.totalBytes} bytes exceeds maxStateBytes ${this.ctx.options.maxStateBytes}`);
    }
    if (!this.receiver || this.receiver.source !== peer.id || !this.receiver.matches(m)) {
      this.receiver = new StateReceiver(peer.id, m.transferId, m.frame, m.totalBytes);
    }
    const complete = this.receiver.onChunk(m);
    this.ctx.send(peer.id, this.receiver.ack());
    if (!complete) return null;
    const receiver = this.receiver;
    this.receiver = null;
    const payload = decodeJoinPayload(receiver.bytes, queues);
    if (typeof payload === "string") return new NetcodeError("malformed", `join state from peer ${peer.id}: ${payload}`);
    if (payload.frame !== receiver.frame) return new NetcodeError("malformed", `join state of frame ${payload.frame} sent as frame ${receiver.frame}`);
    this.completed = { payload, source: peer.id, transferId: receiver.transferId };
    return null;
  }

  /** A chunk of the transfer this session joined with (its acks were lost: it is acknowledged again). */
  isJoinTransfer(peer: PeerId, transferId: number): boolean {
    return this.completed !== null && this.completed.source === peer && this.completed.transferId === transferId;
  }

  /** The received join state, once (the session adopts it). */
  takeJoined(): { payload: JoinPayload; source: PeerId } | null {
    const done = this.completed;
    if (!done || this.joined) return null;
    this.joined = true;
    return done;
  }

  // ------------------------------------------------------------------ source side

  /**
   * A joinRequest from `peer`. Returns true when it is a new incarnation (the peer restarted: the
   * session resets what it knew of it). A request for the state queues an export.
   */
  onRequest(peer: Peer, m: JoinRequestMessage): boolean {
    const restarted = m.joinId !== peer.joinId;
    if (restarted) {
      peer.joinId = m.joinId;
      this.senders.delete(peer.id);
      this.served.delete(peer.id);
    }
    if (m.wantState && !this.senders.has(peer.id) && this.served.get(peer.id) !== m.joinId) this.waiting.add(peer.id);
    return restarted;
  }

  /** After rollbacks: if a joining peer waits for a state, the frame to export (else null). */
  takeExportFrame(finalFrame: Frame): Frame | null {
    if (this.waiting.size === 0 || this.exportFrame !== null) return null;
    this.exportFrame = finalFrame;
    return finalFrame;
  }

  /** The host exported `frame`: wrap it (`wrap` adds the session's part) and send it to every waiting peer. */
  provideState(frame: Frame, bytes: Uint8Array, wrap: (frame: Frame, host: Uint8Array) => Uint8Array, nowMs: number): void {
    if (this.exportFrame !== frame) return;
    this.exportFrame = null;
    const o = this.ctx.options;
    const payload = wrap(frame, bytes);
    for (const id of this.waiting) {
      const peer = this.ctx.peers.get(id);
      if (!peer || !peer.connected || this.senders.has(id)) continue;
      const transferId = this.nextTransferId;
      this.nextTransferId = this.nextTransferId >= 0xffff ? 0x8000 : this.nextTransferId + 1;
      this.senders.set(id, new StateSender(id, transferId, frame, payload, o.stateChunkBytes, o.stateWindowChunks, nowMs));
    }
    this.waiting.clear();
    this.poll(nowMs, false);
  }

  /** True when the ack belonged to a join transfer. */
  onAck(peer: Peer, m: StateAckMessage, nowMs: number): boolean {
    const sender = this.senders.get(peer.id);
    if (!sender || sender.transferId !== m.transferId) return false;
    if (sender.onAck(m.receivedBytes, nowMs)) {
      this.senders.delete(peer.id);
      this.served.set(peer.id, peer.joinId);
      this.ctx.emit({ type: "joinSent", peer: peer.id, frame: sender.frame });
    }
    return true;
  }

  onDisconnect(peer: PeerId): void {
    this.senders.delete(peer);
    this.waiting.delete(peer);
    if (this.receiver?.source === peer) this.receiver = null;
  }
}
