// Types of the Socket.IO messages between the participant page and the server.
// The protocol itself is documented in docs/protocol.md.

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
}

export interface WaitroomStatus {
  scene_id: string;
  waiting: number;
  needed: number;
  seconds_left: number;
}

export interface Matched extends GameSnapshot {
  scene_id: string;
}

export interface SceneSpec {
  scene_id: string;
  scene_type: "start" | "static" | "end" | "completion_code" | "gym";
  index: number;
  count: number;
  header?: string | null;
  body?: string;
  continue?: string | null;
  notice?: string;
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
  input_delay?: number;
  hide_lobby_count?: boolean;
  game?: GameSnapshot | null;
  ended?: string;
  runtime?: RuntimeSceneSpec | null;
}

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
}

/** A client-side game the server registered for this page (`start_game` in a client-side scene). */
export interface BrowserGame {
  game_id: string;
  seed: number;
}

/** What the server answers each acknowledged event with (payloads: ./messages.ts). */
export interface Replies {
  join: { ok: true; participant_id: string; scene: SceneSpec; preload_runtime?: boolean; secret?: string };
  advance: { ok: true; scene: SceneSpec };
  start_game: { ok: true; game?: Matched & BrowserGame; waitroom?: WaitroomStatus };
  ping: { ok: true; t: number; server_t: number };
  client_records: { ok: true; committed: number[]; refused: number[] };
}
