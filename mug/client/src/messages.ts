// Generated from mug/server/web/messages.py by `python -m mug.server.web.messages`: do not edit by hand.
// The payload of every event a page sends the server; the server validates the same fields.

import type { Json } from "./protocol";

export interface ClientMessages {
  join: { participant_id?: string | null; query?: { [name: string]: string }; secret?: string | null; seen?: { game_id: string; episode: number; step: number } | null };
  advance: { scene_id: string; answers?: { [field: string]: string | number | boolean | string[] | null }; game_id?: string; outcome?: "done" | "error" };
  start_game: { scene_id: string };
  leave: { scene_id: string; url: string };
  action: { scene_id: string; action: Json };
  ping: { t: number; rtt?: number | null };
  client_event: { kind: "focus" | "blur" | "visibility" | "log" | "resize"; data?: { [key: string]: Json } };
  client_records: { source: string; records: { seq: number; kind: "step" | "episode" | "event"; payload: { [key: string]: unknown } }[] };
  p2p_signal: { game_id: string; to: number; signal: { kind: "offer" | "answer" | "candidate" | "restart"; data: Json } };
  p2p_relay: { game_id: string; packets: { to: number; data: string }[] };
  p2p_probe_result: { game_id: string; peers: { peer: number; rtt_ms: number | null }[] };
  p2p_status: { game_id: string; frame: number; peers: { peer: number; transport: "connecting" | "direct" | "turn" | "server"; rtt_ms: number | null }[]; rollbacks: number; max_rollback: number; predicted_frames: number; frames: number; desyncs: number };
}

/** Events answered with an acknowledgement (`Connection.request`). */
export type AckedEvent = "join" | "advance" | "start_game" | "leave" | "ping" | "client_records" | "p2p_probe_result";
/** Events sent without one (`Connection.send`). */
export type UnackedEvent = "action" | "client_event" | "p2p_signal" | "p2p_relay" | "p2p_status";

/** Events the server sends pages. */
export const SERVER_EVENTS = ["scene", "frame", "game_status", "waitroom", "matched", "error", "session_replaced", "p2p_signal", "p2p_relay", "p2p_peer_left", "p2p_peer_back", "p2p_probe", "monitor_warning"] as const;
