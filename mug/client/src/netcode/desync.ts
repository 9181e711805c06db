// Desync detection: compares this peer's checksums of confirmed frames with the ones peers report,
// ignoring reports made stale by a resync, and keeps the recent checksums to report.
import type { ChecksumEntry } from "./wire/messages";
import type { Frame, PeerId } from "./types";

export interface DesyncFinding {
  readonly frame: Frame;
  readonly peer: PeerId;
  readonly localChecksum: number;
  readonly remoteChecksum: number;
}

interface RemoteReport {
  readonly peer: PeerId;
  readonly checksum: number;
  readonly resyncCount: number;
}

/** How many recent local checksums each report repeats (so a lost report is covered by the next). */
const REPORT_REDUNDANCY = 8;
const MAX_PENDING_FRAMES = 4096;

export class DesyncDetector {
  /** Resyncs this peer applied; sent with every report so peers can drop older ones. */
  resyncCount = 0;
  private readonly local = new Map<Frame, number>();
  private readonly pending = new Map<Frame, RemoteReport[]>();
  private readonly peerCounts = new Map<PeerId, number>();
  /** After a mismatch with a peer, further mismatches are ignored until either side resyncs. */
  private readonly suspended = new Map<PeerId, { mine: number; theirs: number }>();
  private recent: ChecksumEntry[] = [];
  private dirty = false;
  /** Frames before the last loaded state are not compared any more. */
  private floor: Frame = 0;

  /** `keepFrames`: how far back local checksums and unmatched reports are kept. */
  constructor(private readonly keepFrames: number) {}

  /** The highest resync count `peer` reported. */
  peerResyncCount(peer: PeerId): number {
    return this.peerCounts.get(peer) ?? 0;
  }

  /** A local checksum became final; returns mismatches with reports that were waiting for it. */
  addLocal(frame: Frame, checksum: number): DesyncFinding[] {
    this.local.set(frame, checksum);
    this.recent.push({ frame, checksum });
    if (this.recent.length > REPORT_REDUNDANCY) this.recent.shift();
    this.dirty = true;
    const waiting = this.pending.get(frame);
    if (!waiting) return [];
    this.pending.delete(frame);
    const found: DesyncFinding[] = [];
    for (const r of waiting) this.compare(r, frame, checksum, found);
    return found;
  }

  /** A peer's report; entries this peer has no final checksum for yet wait in `pending`. */
  addRemote(peer: PeerId, resyncCount: number, entries: readonly ChecksumEntry[], newestUseful: Frame): DesyncFinding[] {
    const found: DesyncFinding[] = [];
    for (const e of entries) {
      if (e.frame < this.floor) continue;
      const report = { peer, checksum: e.checksum, resyncCount };
      const mine = this.local.get(e.frame);
      if (mine !== undefined) {
        this.compare(report, e.frame, mine, found);
      } else if (e.frame <= newestUseful && e.frame > newestUseful - this.keepFrames * 2) {
        const list = this.pending.get(e.frame);
        if (list) {
          if (!list.some((r) => r.peer === peer && r.resyncCount === resyncCount)) list.push(report);
        } else if (this.pending.size < MAX_PENDING_FRAMES) {
          this.pending.set(e.frame, [report]);
        }
      }
    }
    return found;
  }

  private compare(r: RemoteReport, frame: Frame, mine: number, found: DesyncFinding[]): void {
    const known = this.peerCounts.get(r.peer) ?? 0;
    if (r.resyncCount < known) return; // computed before that peer's last resync
    if (r.resyncCount > known) this.peerCounts.set(r.peer, r.resyncCount);
    const s = this.suspended.get(r.peer);
    if (s) {
      if (s.mine < this.resyncCount || s.theirs < r.resyncCount) this.suspended.delete(r.peer);
      else return;
    }
    if (mine === r.checksum) return;
    this.suspended.set(r.peer, { mine: this.resyncCount, theirs: r.resyncCount });
    found.push({ frame, peer: r.peer, localChecksum: mine, remoteChecksum: r.checksum });
  }

  /** The entries to report now, or null when nothing new became final since the last call. */
  takeReport(): ChecksumEntry[] | null {
    if (!this.dirty) return null;
    this.dirty = false;
    return this.recent.slice();
  }

  /** This peer loaded a peer's state at `frame`: its checksums from there on will be recomputed. */
  onResyncApplied(frame: Frame): void {
    this.resyncCount = (this.resyncCount + 1) & 0xffff;
    // Everything this peer computed before `frame` came from the diverged state: forget it, and
    // compare nothing older than the loaded state from now on.
    this.floor = frame;
    this.local.clear();
    for (const f of [...this.pending.keys()]) if (f < frame) this.pending.delete(f);
    this.recent = [];
    this.suspended.clear();
  }

  /** `peer` restarted (a reloaded page): its resync count starts over, and what it reported before is void. */
  forgetPeer(peer: PeerId): void {
    this.peerCounts.delete(peer);
    this.suspended.delete(peer);
    for (const [frame, list] of [...this.pending]) {
      const kept = list.filter((r) => r.peer !== peer);
      if (kept.length) this.pending.set(frame, kept);
      else this.pending.delete(frame);
    }
  }

  /** This session joined mid-game at `frame`: nothing older is compared. */
  startAt(frame: Frame): void {
    this.floor = frame;
  }

  /** Forgets checksums and waiting reports older than `keepFrames` before `newestFinal`. */
  prune(newestFinal: Frame): void {
    const limit = newestFinal - this.keepFrames;
    for (const f of this.local.keys()) if (f < limit) this.local.delete(f);
    for (const f of this.pending.keys()) if (f < limit) this.pending.delete(f);
  }
}
