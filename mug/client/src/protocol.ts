// Types of the Socket.IO messages between the participant page and the server.
// The protocol itself is documented in docs/protocol.md.

import type { AssetsSpec } from "./render/sprites";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface ActionBinding {
  keys: string[];
  action: Json;
}

export interface GameSnapshot {
  game_id: string;
  status: string;
  episode: number;
  step: number;
  players?: number;
  agent_id?: string;
  /** This participant's own in-game HTML (`content(game_page_html_fn=...)`); absent: the scene's `in_game_body`. */
  page_html?: string | null;
}

export interface WaitroomStatus {
  scene_id: string;
  waiting: number;
  needed: number;
  seconds_left: number;
}

/** `matched`: a game was formed with this participant in it (a P2P game's has the P2P fields too). */
export interface Matched extends GameSnapshot, Partial<P2PFields> {
  scene_id: string;
}

export interface SceneSpec {
  scene_id: string;
  scene_type: "start" | "static" | "end" | "completion_code" | "gym" | "survey";
  index: number;
  count: number;
  header?: string | null;
  body?: string;
  continue?: string | null;
  notice?: string;
  // survey scenes (src/scenes/survey_view.ts)
  survey?: SurveyItem[];
  // end scenes
  redirect_url?: string | null;
  append_subject_id?: boolean;
  redirect_param?: string;
  completion_code?: string | null;
  // gym scenes
  in_game_body?: string;
  fps?: number;
  game_width?: number;
  game_height?: number;
  background?: string;
  action_mapping?: ActionBinding[];
  default_action?: Json;
  input_mode?: "pressed_keys" | "single_keystroke";
  num_episodes?: number;
  max_steps?: number;
  human?: boolean;
  multiplayer?: boolean;
  multiplayer_mode?: "server_authoritative" | "p2p" | null;
  input_delay?: number;
  p2p?: P2PSceneSpec | null;
  hide_lobby_count?: boolean;
  game?: GameSnapshot | null;
  ended?: string;
  runtime?: RuntimeSceneSpec | null;
  /** The sprite textures and animations the scene declared (docs/assets.md). */
  assets?: AssetsSpec | null;
}

/** A question of a survey scene; `name` is its column in the forms table. */
export interface SurveyQuestion {
  kind: "text" | "scale" | "choice" | "option";
  name: string;
  prompt: string;
  required: boolean;
  choices?: string[];
  multi?: boolean;
  image?: string | null;
  size?: number;
  labels?: string[];
  max_length?: number;
}

/** What a survey scene shows, in order: questions and text between them. */
export type SurveyItem = SurveyQuestion | { kind: "heading"; text: string };

export interface RenderObject {
  type: "rect" | "circle" | "ellipse" | "arc" | "line" | "polygon" | "text" | "sprite" | "image";
  id: string | null;
  depth: number;
  alpha: number;
  [field: string]: unknown;
}

export interface RenderState {
  objects: RenderObject[];
  removed: string[];
}

export interface Frame {
  scene_id: string;
  game_id: string;
  episode: number;
  step: number;
  state: RenderState;
  full?: boolean;
  hud?: string | null;
}

export interface GameStatus {
  scene_id: string;
  game_id: string;
  status: "starting" | "running" | "resetting" | "paused" | "done" | "error";
  episode: number;
  num_episodes: number;
  freeze_s?: number;
  message?: string;
}

export interface Ack {
  ok: boolean;
  error?: string;
  [key: string]: unknown;
}

/** The client-side part of a game scene's spec (see docs/runtime.md); URLs are relative to the page. */
export interface RuntimeSceneSpec {
  env_code: string;
  packages: string[];
  package_index_url: string | null;
  agents: string[];
  policies: Record<string, { kind: "human" } | { kind: "random" } | { kind: "onnx"; model: Record<string, unknown> }>;
  reset_freeze_s: number;
  action_population_method: "default_action" | "previous_submitted_action";
  record_observations: boolean;
  hud: string | null;
  hud_score_carry_over?: boolean;
}

/** A client-side game the server registered for this page (`start_game` in a client-side scene). */
export interface BrowserGame extends Partial<P2PFields> {
  game_id: string;
  seed: number;
  /** As `GameSnapshot.page_html`. */
  page_html?: string | null;
}

/** A P2P scene's AI fill-in (docs/matchmaking.md): nobody came, so the participant plays alone in
 * this page, `policies` playing the other humans' agents (sent as `matched` or `start_game`'s game). */
export interface FillInGame {
  scene_id?: string;
  game_id: string;
  seed: number;
  mode: "client";
  fill_in: true;
  policies: RuntimeSceneSpec["policies"];
  page_html?: string | null;
}

/** What a P2P scene's page knows before it is matched (`SceneSpec.p2p`; docs/scenes.md). */
export interface P2PSceneSpec {
  input_delay: number;
  max_prediction: number;
  connect_timeout_s: number;
  reconnect_grace_s: number;
  on_player_drop: "continue" | "end_game";
}

/** An ICE server as `RTCPeerConnection` takes it. */
export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

/** What the server adds to a P2P game (`start_game` reply, `matched`, `SceneSpec.game`; docs/protocol.md). */
export interface P2PFields {
  mode: "p2p";
  /** This page's peer index (0..n-1): it plays human agent `peers[peer].agent`. */
  peer: number;
  peers: { peer: number; agent: string }[];
  /** Peers whose page is away (within the grace) and peers dropped, when the game was sent. */
  away: number[];
  dropped: number[];
  ice_servers: IceServer[];
  force_relay: boolean;
  connect_timeout_s: number;
  input_delay: number;
  max_prediction: number;
  reconnect_grace_s: number;
  /** A u32 from the game id, for the netcode's packets. */
  session_tag: number;
  /** The server runs with MUG_P2P_TEST_HOOKS=1: the page enables its test hooks. */
  test_hooks: boolean;
  /** The game was running already (a reloaded or reconnected page). */
  rejoin: boolean;
}

/** A P2P game as a page gets it. */
export type P2PGame = BrowserGame &
  P2PFields & { agent_id: string; players: number; status: string; episode: number; step: number };

/** Server → page `p2p_signal`: a WebRTC signaling message from peer `from`. */
export interface P2PSignal {
  game_id: string;
  from: number;
  signal: { kind: "offer" | "answer" | "candidate" | "restart"; data: Json };
}

/** Server → page `p2p_relay`: netcode packets from peer `from` (base64), in the order sent. */
export interface P2PRelay {
  game_id: string;
  from: number;
  data: string[];
}

/** Server → page `p2p_peer_left`: a peer's page went away (`final`: dropped after the grace). */
export interface P2PPeerLeft {
  game_id: string;
  peer: number;
  final: boolean;
  /** Once final: whether the game is over for this page too (on_player_drop="end_game"; its scene follows). */
  game_over?: boolean;
  /** With game_over: the message the participant sees and their recorded completion code. */
  message?: string;
  completion_code?: string;
}

/** Server → page `p2p_probe`: measure the round trips to a proposed group's other pages (docs/matchmaking.md). */
export interface P2PProbe {
  scene_id: string;
  probe_id: string;
  peer: number;
  peers: number[];
  ice_servers: RTCIceServer[];
  force_relay: boolean;
  connect_timeout_s: number;
  /** Pings per partner (the figure is their median). */
  pings: number;
  test_hooks: boolean;
}

/** Server → page `p2p_peer_back`: a peer's page (the same or a new one) is back within the grace. */
export interface P2PPeerBack {
  game_id: string;
  peer: number;
}

/** What the server answers each acknowledged event with (payloads: ./messages.ts). */
export interface Replies {
  join: { ok: true; participant_id: string; scene: SceneSpec; preload_runtime?: boolean; secret?: string; measure_pings?: number };
  advance: { ok: true; scene: SceneSpec };
  start_game: { ok: true; game?: Matched & BrowserGame; waitroom?: WaitroomStatus };
  ping: { ok: true; t: number; server_t: number };
  client_records: { ok: true; committed: number[]; refused: number[] };
  p2p_probe_result: { ok: true };
  leave: { ok: true };
}
