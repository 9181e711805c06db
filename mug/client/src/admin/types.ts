// What the server pushes to the admin dashboard (mug/server/dashboard.py, mug/server/monitoring.py).

export interface AdminConfig {
  experiment_id: string;
  title: string;
  token: string;
  /** Whether the server can write Parquet (pyarrow installed). */
  parquet: boolean;
}

export interface Participant {
  participant_id: string;
  status: string;
  scene_index: number;
  scene_id: string | null;
  completion_code: string | null;
  created_at: number;
  updated_at: number;
  idle: boolean;
  connected: boolean;
  rtt_ms: number | null;
  game_id: string | null;
  waitroom: string | null;
  focus: "focused" | "blurred" | "hidden" | null;
  page_errors: number;
  user_agent: string | null;
}

export interface Game {
  game_id: string;
  scene_id: string;
  mode: string;
  status: string;
  episode: number | null;
  step: number;
  fps: number | null;
  players: Record<string, { agent_id?: string; connected?: boolean; dropped?: boolean }>;
  tick_lateness_ms?: number | null;
}

export interface Waitroom {
  scene_id: string;
  waiting: string[];
  needed: number;
  seconds_left: Record<string, number>;
}

export interface Exclusion {
  participant_id: string;
  scene_id: string | null;
  reason: string | null;
  t: number;
}

export interface Problem {
  event_id: number;
  t: number;
  participant_id: string | null;
  scene_id: string | null;
  kind: string;
  message: string;
}

export interface State {
  time: number;
  running: boolean;
  scenes: string[];
  participants: Participant[];
  games: Game[];
  waitrooms: Waitroom[];
  exclusions: Exclusion[];
  problems: Problem[];
  counts: Record<string, number>;
}

export interface TimelineEvent {
  event_id: number;
  scene_id: string | null;
  kind: string;
  data: unknown;
  t: number;
}

export interface Detail {
  participant_id: string;
  status: string;
  scene_index: number;
  scene_id: string | null;
  completion_code: string | null;
  created_at: number;
  updated_at: number;
  query: Record<string, string>;
  visits: { scene_index: number; scene_id: string; scene_type: string; entered_at: number; exited_at: number | null }[];
  forms: { scene_id: string; submitted_at: number; answers: unknown }[];
  events: TimelineEvent[];
  user_agent: string | null;
  connected: boolean;
}
