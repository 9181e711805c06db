// Which path a live peer connection really uses, read from getStats(): the selected ICE candidate
// pair, its two candidates' types and its round trip time. Pure functions over the stats objects,
// so they are tested in Node with recorded shapes; the glue passes `report.values()`.

export type CandidateType = "host" | "srflx" | "prflx" | "relay";

/** What a pair of peers uses: "direct" (a DataChannel without TURN), "turn" (a DataChannel through a
 * TURN relay), "server" (the Socket.IO relay), "connecting" (none yet: packets go by the server). */
export type TransportKind = "connecting" | "direct" | "turn" | "server";

export interface SelectedPair {
  localType: CandidateType | null;
  remoteType: CandidateType | null;
  localAddress: string | null;
  remoteAddress: string | null;
  /** ICE's own round trip time on the pair (STUN consent checks), in ms; null until measured. */
  rttMs: number | null;
}

type Stat = Record<string, unknown> & { id?: unknown; type?: unknown };

const TYPES = new Set(["host", "srflx", "prflx", "relay"]);

/** The selected candidate pair in a stats report, or null when ICE has not selected one. */
export function selectedPair(stats: Iterable<Stat>): SelectedPair | null {
  const byId = new Map<string, Stat>();
  for (const s of stats) if (typeof s.id === "string") byId.set(s.id, s);
  let pair: Stat | undefined;
  // The standard way: the transport names its selected pair.
  for (const s of byId.values()) {
    if (s.type === "transport" && typeof s.selectedCandidatePairId === "string") {
      pair = byId.get(s.selectedCandidatePairId);
      if (pair) break;
    }
  }
  // Older engines: a pair flagged selected, or the nominated pair that succeeded.
  if (!pair) {
    for (const s of byId.values()) {
      if (s.type === "candidate-pair" && (s.selected === true || (s.nominated === true && s.state === "succeeded"))) {
        pair = s;
        break;
      }
    }
  }
  if (!pair) return null;
  const local = typeof pair.localCandidateId === "string" ? byId.get(pair.localCandidateId) : undefined;
  const remote = typeof pair.remoteCandidateId === "string" ? byId.get(pair.remoteCandidateId) : undefined;
  const rtt = pair.currentRoundTripTime;
  return {
    localType: candidateType(local),
    remoteType: candidateType(remote),
    localAddress: address(local),
    remoteAddress: address(remote),
    rttMs: typeof rtt === "number" && Number.isFinite(rtt) ? rtt * 1000 : null,
  };
}

/** A DataChannel's transport kind from its selected pair: TURN when either side relays. */
export function channelKind(pair: SelectedPair | null): "direct" | "turn" {
  return pair && (pair.localType === "relay" || pair.remoteType === "relay") ? "turn" : "direct";
}

function candidateType(s: Stat | undefined): CandidateType | null {
  const t = s?.candidateType;
  return typeof t === "string" && TYPES.has(t) ? (t as CandidateType) : null;
}

function address(s: Stat | undefined): string | null {
  const a = s?.address ?? s?.ip;
  return typeof a === "string" ? a : null;
}

/** The connection address in an ICE candidate line ("candidate:… 1 udp 123 ADDRESS PORT typ …"). */
export function candidateAddress(candidate: string): string | null {
  const fields = candidate.trim().replace(/^a=/, "").split(/\s+/);
  return fields.length >= 8 && fields[0]!.startsWith("candidate:") ? (fields[4] ?? null) : null;
}

/** Test mode keeps WebRTC on the loopback range: a candidate elsewhere never reaches the other peer. */
export function isLoopbackCandidate(candidate: string): boolean {
  const addr = candidateAddress(candidate);
  return addr !== null && /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(addr);
}
