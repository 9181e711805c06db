// One RTCPeerConnection and one DataChannel to one remote peer: the thin WebRTC glue. Decisions
// (which path, when to give up) live in fallback.ts; this file only negotiates and reports.
//
// Roles are fixed, so there is no "perfect negotiation": the lower peer index makes every offer,
// the higher one answers. The DataChannel is negotiated out of band (same id on both sides,
// unordered, no retransmits), so neither side waits for `ondatachannel`. Signals:
//   offer     {type, sdp, fresh}  from the offerer; fresh = a new peer connection (not an ICE restart)
//   answer    {type, sdp}         from the answerer
//   candidate RTCIceCandidateInit (trickle ICE; in test mode only loopback candidates are sent/added)
//   restart   {reason, fresh}     from the answerer: "send me an offer". fresh = the answerer has a
//                                 new peer connection (it just started or the page reloaded)
// Signals lost before the other page listens are repaired by that page's first signal: the
// answerer starts with `restart {fresh}`, which makes the offerer (re)send its offer.

import type { Json } from "../protocol";
import { isLoopbackCandidate } from "./stats";
import type { Signal, SignalKind } from "./wire";

export interface LinkCallbacks {
  signal(kind: SignalKind, data: Json): void;
  /** The DataChannel is open and ICE connected (again). */
  open(): void;
  /** ICE disconnected/failed or the channel closed. */
  failed(reason: string): void;
  message(bytes: Uint8Array): void;
  /** Negotiation went wrong (a bad signal from the peer, an engine error): logged by the owner. */
  problem(message: string): void;
}

const CHANNEL_ID = 0;

export class PeerLink {
  private pc!: RTCPeerConnection;
  private dc!: RTCDataChannel;
  private pendingCandidates: RTCIceCandidateInit[] = [];
  private sentCandidates: RTCIceCandidateInit[] = [];
  private lastOffer: { type: string; sdp: string; fresh: boolean } | null = null;
  private lastRemoteOffer: string | null = null; // as received (the engine may re-serialize remoteDescription)
  private chain: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    readonly peer: number,
    readonly offerer: boolean,
    private readonly config: RTCConfiguration,
    /** Test mode: only 127.x candidates leave or enter (see ../shared ENVIRONMENT: WebRTC). */
    private readonly loopbackOnly: boolean,
    private readonly cb: LinkCallbacks,
  ) {
    this.create();
  }

  /** Begins negotiation: the offerer offers, the answerer asks for an offer. */
  start(): void {
    if (this.offerer) this.enqueue(() => this.offer(true));
    else this.cb.signal("restart", { reason: "ready", fresh: true });
  }

  get isOpen(): boolean {
    return !this.closed && this.dc.readyState === "open" && this.iceUp();
  }

  /** Sends on the DataChannel; false when it cannot take the packet (closed, or the engine refused). */
  send(bytes: Uint8Array): boolean {
    if (!this.isOpen) return false;
    try {
      this.dc.send(bytes as Uint8Array<ArrayBuffer>);
      return true;
    } catch {
      return false;
    }
  }

  /** After a failure: the offerer restarts ICE, the answerer asks it to. */
  restart(reason: string): void {
    if (this.closed) return;
    if (this.offerer) this.enqueue(() => this.restartAsOfferer(false));
    else this.cb.signal("restart", { reason, fresh: false });
  }

  handleSignal(signal: Signal): void {
    if (this.closed) return;
    this.enqueue(() => this.apply(signal));
  }

  async stats(): Promise<RTCStatsReport | null> {
    if (this.closed) return null;
    return this.pc.getStats();
  }

  close(): void {
    this.closed = true;
    this.teardown();
  }

  // --- internals -------------------------------------------------------------------------------

  private create(): void {
    this.pc = new RTCPeerConnection(this.config);
    this.dc = this.pc.createDataChannel("mug-netcode", {
      ordered: false,
      maxRetransmits: 0,
      negotiated: true,
      id: CHANNEL_ID,
    });
    this.dc.binaryType = "arraybuffer";
    this.pendingCandidates = [];
    this.sentCandidates = [];
    this.lastOffer = null;
    this.lastRemoteOffer = null;
    const pc = this.pc;
    const dc = this.dc;
    pc.onicecandidate = (e) => {
      if (pc !== this.pc || !e.candidate || !e.candidate.candidate) return;
      if (this.loopbackOnly && !isLoopbackCandidate(e.candidate.candidate)) return;
      const init = e.candidate.toJSON();
      this.sentCandidates.push(init);
      this.cb.signal("candidate", init as unknown as Json);
    };
    pc.oniceconnectionstatechange = () => {
      if (pc !== this.pc) return;
      const state = pc.iceConnectionState;
      if (state === "connected" || state === "completed") {
        if (dc.readyState === "open") this.cb.open();
      } else if (state === "failed" || state === "disconnected") {
        this.cb.failed(`ICE ${state}`);
      }
    };
    dc.onopen = () => {
      if (dc === this.dc && this.iceUp()) this.cb.open();
    };
    dc.onclose = () => {
      if (dc === this.dc && !this.closed) this.cb.failed("DataChannel closed");
    };
    dc.onmessage = (e: MessageEvent) => {
      if (dc !== this.dc) return;
      if (e.data instanceof ArrayBuffer) this.cb.message(new Uint8Array(e.data));
      else this.cb.problem(`peer ${this.peer} sent a non-binary DataChannel message`);
    };
  }

  private iceUp(): boolean {
    const s = this.pc.iceConnectionState;
    return s === "connected" || s === "completed";
  }

  private teardown(): void {
    const { pc, dc } = this;
    pc.onicecandidate = pc.oniceconnectionstatechange = null;
    dc.onopen = dc.onclose = dc.onmessage = null;
    dc.close();
    pc.close();
  }

  /** A new peer connection (the other page started over): the old one can never recover. */
  private recreate(): void {
    this.teardown();
    this.create();
  }

  private enqueue(step: () => Promise<void>): void {
    // Signals are applied one at a time, in order: setLocal/RemoteDescription must not interleave.
    this.chain = this.chain.then(step).catch((err: unknown) => {
      if (!this.closed) this.cb.problem(`peer ${this.peer}: ${err instanceof Error ? err.message : String(err)}`);
    });
  }

  private async offer(fresh: boolean): Promise<void> {
    const offer = await this.pc.createOffer(fresh ? {} : { iceRestart: true });
    await this.pc.setLocalDescription(offer);
    this.lastOffer = { type: "offer", sdp: offer.sdp ?? "", fresh };
    this.cb.signal("offer", this.lastOffer);
  }

  private async restartAsOfferer(freshPeer: boolean): Promise<void> {
    if (this.closed) return;
    if (freshPeer && this.pc.remoteDescription) {
      // The answerer has a new peer connection: ours belongs to its old one.
      this.recreate();
      await this.offer(true);
    } else if (this.pc.signalingState === "have-local-offer" && this.lastOffer) {
      // Our offer may have been sent before the answerer listened: send it (and its candidates) again.
      this.cb.signal("offer", this.lastOffer);
      for (const c of this.sentCandidates) this.cb.signal("candidate", c as unknown as Json);
    } else if (this.pc.signalingState === "stable" && this.pc.remoteDescription) {
      this.sentCandidates = [];
      await this.offer(false);
    } else if (!this.lastOffer) {
      await this.offer(true);
    }
  }

  private async apply(signal: Signal): Promise<void> {
    if (this.closed) return;
    const data = signal.data as Record<string, Json> | null;
    switch (signal.kind) {
      case "offer": {
        if (this.offerer) throw new Error(`peer ${this.peer} sent an offer, but this page makes the offers`);
        const sdp = stringField(data, "sdp", "offer");
        if (this.lastRemoteOffer === sdp) return; // a repeat of the offer we answered
        if (data?.fresh === true && this.lastRemoteOffer !== null) this.recreate(); // the offerer started over
        this.lastRemoteOffer = sdp;
        await this.pc.setRemoteDescription({ type: "offer", sdp });
        await this.addPending();
        const answer = await this.pc.createAnswer();
        await this.pc.setLocalDescription(answer);
        this.cb.signal("answer", { type: "answer", sdp: answer.sdp ?? "" });
        return;
      }
      case "answer": {
        if (!this.offerer) throw new Error(`peer ${this.peer} sent an answer, but this page answers`);
        const sdp = stringField(data, "sdp", "answer");
        if (this.pc.signalingState !== "have-local-offer") return; // a late repeat: already applied
        await this.pc.setRemoteDescription({ type: "answer", sdp });
        await this.addPending();
        return;
      }
      case "candidate": {
        const init = data as RTCIceCandidateInit | null;
        if (!init || typeof init.candidate !== "string") throw new Error(`peer ${this.peer} sent a candidate without a candidate line`);
        if (!init.candidate) return; // end of candidates
        if (this.loopbackOnly && !isLoopbackCandidate(init.candidate)) return;
        if (!this.pc.remoteDescription) this.pendingCandidates.push(init);
        else await this.addCandidate(init);
        return;
      }
      case "restart": {
        if (!this.offerer) throw new Error(`peer ${this.peer} asked for an offer, but this page answers`);
        await this.restartAsOfferer(data?.fresh === true);
        return;
      }
    }
  }

  private async addPending(): Promise<void> {
    const pending = this.pendingCandidates;
    this.pendingCandidates = [];
    for (const c of pending) await this.addCandidate(c);
  }

  private async addCandidate(init: RTCIceCandidateInit): Promise<void> {
    try {
      await this.pc.addIceCandidate(init);
    } catch (err) {
      // A candidate of an earlier ICE generation (before a restart) no longer applies: harmless.
      if (!this.closed) this.cb.problem(`peer ${this.peer}: candidate not added (${(err as Error).message})`);
    }
  }
}

function stringField(data: Record<string, Json> | null, key: string, what: string): string {
  const value = data?.[key];
  if (typeof value !== "string" || !value) throw new Error(`${what} signal without ${key}`);
  return value;
}
