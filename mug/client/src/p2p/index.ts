// The page's P2P transport (see transport.ts and docs/p2p.md#transport).
export { PeerTransport, type PeerStats, type PeerTransportOptions, type TransportCounters, type TransportDetail } from "./transport";
export type { CandidateType, TransportKind } from "./stats";
export type { P2PConnection } from "./wire";
