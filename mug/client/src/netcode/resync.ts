// Desync recovery: the peers agree on a source (the lowest connected peer id); the source sends
// its confirmed state to whoever mismatched, the others ask for it, load it and re-simulate.
import type { SessionOptions } from "./config";
import type { DesyncDetector, DesyncFinding } from "./desync";
import { NetcodeError } from "./errors";
import type { InputQueue } from "./input-queue";
import type { Peer } from "./peer";
import { StateReceiver, StateSender } from "./state-transfer";
import type { Frame, PeerId, SessionEvent } from "./types";
import type { ResyncRequestMessage, StateAckMessage, StateChunkMessage, WireMessage } from "./wire/messages";

export interface ResyncContext {
  readonly options: SessionOptions;
  readonly localPeer: PeerId;
  readonly peers: ReadonlyMap<PeerId, Peer>;
  readonly desync: DesyncDetector;
  readonly send: (peer: PeerId, message: WireMessage) => void;
  readonly emit: (event: SessionEvent) => void;
}

export interface ImportedState {
  readonly frame: Frame;
  readonly bytes: Uint8Array;
  readonly source: PeerId;
}

/** Newer in u16 sequence space. */
function newer(a: number, b: number): boolean {
  const d = (a - b) & 0xffff;
  return d !== 0 && d < 0x8000;
}

export class ResyncCoordinator {
  // Source side.
  private readonly senders = new Map<PeerId, StateSender>();
  private readonly waiting = new Set<PeerId>();
  private exportFrame: Frame | null = null;
  private exportIssued = false;
  private nextTransferId = 1;
  // Receiver side.
  private receiver: StateReceiver | null = null;
  private lastCompleted: { source: PeerId; transferId: number } | null = null;
  private pendingImport: ImportedState | null = null;
  private awaiting: { desyncFrame: Frame; lastSentMs: number } | null = null;

  constructor(private readonly ctx: ResyncContext) {}

  /** The peer whose state wins: the lowest id among this peer and its connected peers. */
  source(): PeerId {
    let min = this.ctx.localPeer;
    for (const p of this.ctx.peers.values()) if (p.connected && p.id < min) min = p.id;
    return min;
  }

  /** The frame whose state must stay saved until the host exported it. */
  get pinnedFrame(): Frame | null {
    return this.exportFrame;
  }

  onFindings(findings: readonly DesyncFinding[]): void {
    for (const f of findings) {
      this.ctx.emit({ type: "desync", frame: f.frame, peer: f.peer, localChecksum: f.localChecksum, remoteChecksum: f.remoteChecksum });
      if (this.source() === this.ctx.localPeer) {
        if (!this.senders.has(f.peer)) this.waiting.add(f.peer);
      }
      else if (!this.awaiting) {
        this.awaiting = { desyncFrame: f.frame, lastSentMs: Number.NEGATIVE_INFINITY };
        this.ctx.emit({ type: "resyncRequested", source: this.source(), desyncFrame: f.frame });
      }
    }
  }

  onRequest(peer: Peer, m: ResyncRequestMessage): NetcodeError | null {
    if (this.source() !== this.ctx.localPeer) {
      return new NetcodeError("unexpectedMessage", `resync requested from peer ${this.ctx.localPeer}, which is not the source`);
    }
    if (this.senders.has(peer.id)) return null;
    if (m.resyncCount < peer.servedResyncCount) return null; // already served; a late duplicate
    this.waiting.add(peer.id);
    return null;
  }

  /** Called after rollbacks: if a transfer is waiting for a state, the frame to export (else null). */
  takeExportFrame(finalFrame: Frame): Frame | null {
    if (this.waiting.size === 0 || this.exportFrame !== null) return null;
    this.exportFrame = finalFrame;
    this.exportIssued = true;
    return finalFrame;
  }

  provideState(frame: Frame, bytes: Uint8Array, nowMs: number): void {
    if (!this.exportIssued || this.exportFrame !== frame) return;
    const o = this.ctx.options;
    for (const id of this.waiting) {
      const peer = this.ctx.peers.get(id);
      if (!peer || !peer.connected || this.senders.has(id)) continue;
      const transferId = this.nextTransferId;
      this.nextTransferId = (this.nextTransferId + 1) & 0xffff || 1;
      this.senders.set(id, new StateSender(id, transferId, frame, bytes, o.stateChunkBytes, o.stateWindowChunks, nowMs));
    }
    this.waiting.clear();
    this.exportFrame = null;
    this.exportIssued = false;
    this.poll(nowMs);
  }

  onAck(peer: Peer, m: StateAckMessage, nowMs: number): void {
    const sender = this.senders.get(peer.id);
    if (!sender || sender.transferId !== m.transferId) return;
    if (sender.onAck(m.receivedBytes, nowMs)) {
      this.senders.delete(peer.id);
      peer.servedResyncCount = this.ctx.desync.peerResyncCount(peer.id) + 1;
      this.ctx.emit({ type: "resyncSent", peer: peer.id, frame: sender.frame });
    }
  }

  onChunk(peer: Peer, m: StateChunkMessage): NetcodeError | null {
    if (peer.id !== this.source()) {
      return new NetcodeError("unexpectedMessage", `state transfer from peer ${peer.id}, which is not the resync source`);
    }
    if (m.totalBytes > this.ctx.options.maxStateBytes) {
      return new NetcodeError("stateTooLarge", `${m.totalBytes} bytes exceeds maxStateBytes ${this.ctx.options.maxStateBytes}`);
    }
    const done = this.lastCompleted;
    if (done && done.source === peer.id && (done.transferId === m.transferId || !newer(m.transferId, done.transferId))) {
      // Already have it: re-acknowledge so the source stops sending.
      this.ctx.send(peer.id, { type: "stateAck", transferId: m.transferId, receivedBytes: m.totalBytes });
      return null;
    }
    if (!this.receiver || this.receiver.source !== peer.id || !this.receiver.matches(m)) {
      if (this.receiver && this.receiver.source === peer.id && !newer(m.transferId, this.receiver.transferId)) return null;
      this.receiver = new StateReceiver(peer.id, m.transferId, m.frame, m.totalBytes);
    }
    const complete = this.receiver.onChunk(m);
    this.ctx.send(peer.id, this.receiver.ack());
    if (complete) {
      this.pendingImport = { frame: this.receiver.frame, bytes: this.receiver.bytes, source: peer.id };
      this.lastCompleted = { source: peer.id, transferId: this.receiver.transferId };
      this.receiver = null;
    }
    return null;
  }

  /**
   * The received state, once this peer has reached its frame and `confirmedThrough` (the last frame
   * reported confirmed) is just before it;
   * null while waiting. Emits "resynced" and updates the desync detector when it hands one out.
   */
  takeImport(currentFrame: Frame, confirmedThrough: Frame, queues: readonly InputQueue[]): ImportedState | null {
    const imp = this.pendingImport;
    if (!imp || currentFrame < imp.frame || confirmedThrough < imp.frame - 1) return null;
    this.pendingImport = null;
    if (queues.some((q) => q.oldestKept > imp.frame)) {
      this.ctx.emit({
        type: "protocolError",
        peer: imp.source,
        error: new NetcodeError("resyncFailed", `state of frame ${imp.frame} is older than the kept input history`),
      });
      if (this.awaiting) this.awaiting.lastSentMs = Number.NEGATIVE_INFINITY;
      else this.awaiting = { desyncFrame: imp.frame, lastSentMs: Number.NEGATIVE_INFINITY };
      return null;
    }
    this.awaiting = null;
    this.ctx.desync.onResyncApplied(imp.frame);
    this.ctx.emit({ type: "resynced", frame: imp.frame, source: imp.source });
    return imp;
  }

  poll(nowMs: number): void {
    const o = this.ctx.options;
    for (const sender of this.senders.values()) {
      for (const chunk of sender.chunks(nowMs, o.resyncRetryMs)) this.ctx.send(sender.peer, chunk);
    }
    const source = this.source();
    // If the source left and this peer is now the lowest, its own state is the reference.
    if (this.awaiting && source === this.ctx.localPeer) this.awaiting = null;
    if (this.awaiting && !this.receiver && !this.pendingImport) {
      if (nowMs - this.awaiting.lastSentMs >= o.resyncRetryMs) {
        this.awaiting.lastSentMs = nowMs;
        this.ctx.send(source, { type: "resyncRequest", frame: this.awaiting.desyncFrame, resyncCount: this.ctx.desync.resyncCount });
      }
    }
  }

  onDisconnect(peer: PeerId): void {
    this.senders.delete(peer);
    this.waiting.delete(peer);
    if (this.receiver?.source === peer) this.receiver = null;
  }
}
