// The state the page exposes as `window.mug`, so tests (and curious researchers) can see where a
// participant is without scraping the DOM. Tests wait on these fields, never on sleeps.

export type PageStatus =
  | "loading"
  | "connecting"
  | "ready" // a static scene is shown
  | "waiting_start" // a game scene is shown, the Start button is up
  | "waitroom" // waiting to be matched with other participants
  | "starting"
  | "running"
  | "resetting"
  | "paused"
  | "done"
  | "error"
  | "ended" // an end scene is shown
  | "replaced" // the study was opened in another tab
  | "elsewhere" // refused: another browser holds this participant's session
  | "disconnected";

export interface Harness {
  participantId: string | null;
  sceneId: string | null;
  sceneType: string | null;
  status: PageStatus;
  episode: number;
  step: number;
  agentId: string | null;
  waitroom: { waiting: number; needed: number; secondsLeft: number } | null;
  gameMessage: string | null;
  connected: boolean;
  rttMs: number | null;
  errors: { event: string; message: string }[];
  /** The last warning of the scene's continuous monitoring shown to the participant (docs/monitoring.md). */
  warning?: string;
  render: { objects: number; images: number; framesApplied: number; errors: number };
  /** The last game this page received frames for: a digest of every frame, in order (kept after the scene ends). */
  game: { gameId: string; frames: number; digest: string; lastHud: string | null } | null;
  /** A game scene's sprite images (docs/assets.md): how many are loaded, and why loading or drawing failed. */
  assets?: { loaded: number; total: number; state: "loading" | "ready" | "error"; error: string | null };
  /** Client-side games: how far loading the browser runtime is. */
  runtime: { progress: number; label: string } | null;
  /** Records made in this page that the server has not acknowledged yet, and those it has. */
  outbox: { pending: number; acked: number } | null;
  /** A P2P game (docs/p2p.md): this peer's links and its netcode's counters, refreshed every ~2 s. */
  p2p?: P2PView;
  /** A P2P probe of this page's proposed group (docs/matchmaking.md): its round trips once measured. */
  p2pProbe?: { probeId: string; state: "measuring" | "done"; rttMs: Record<number, number | null> | null };
  ping?: () => Promise<number>;
  /** Input-to-screen latency probe, off unless a measurer sets it (docs/protocol.md, benchmarks/p2p_latency.py). */
  inputLatency?: InputLatencyProbe;
}

/**
 * Set `window.mug.inputLatency = { objectId, lastChangeAt: null, samples: [] }` to measure how long a
 * key takes to show: after each key press (not a repeat) the game stage records the first drawn frame
 * in which the render object `objectId` (e.g. the local player's paddle) changed.
 */
export interface InputLatencyProbe {
  /** The id of the render object the local player's keys move; null: nothing is measured. */
  objectId: string | null;
  /** performance.now() when a frame last changed that object (to wait until it is still). */
  lastChangeAt: number | null;
  samples: InputLatencySample[];
}

/** One key press and the first frame that showed it; times are performance.now() ms of this page. */
export interface InputLatencySample {
  key: string;
  /** The keydown event's timeStamp. */
  keyAt: number;
  /** The step of the last frame drawn before the key went down, and of the frame that showed it. */
  stepAtKey: number;
  step: number;
  /** When that frame was handed to the renderer, and the animation frame that painted it (null until then). */
  frameAt: number;
  drawnAt: number | null;
}

/** What a P2P game's page shows of its session (`window.mug.p2p`). */
export interface P2PView {
  gameId: string;
  /** This page's peer index. */
  peer: number;
  /** Per remote peer: the transport in use ("connecting", "direct", "turn", "server"). */
  transports: Record<number, string>;
  /** Per remote peer: the selected ICE candidate pair's local type ("host", "srflx", "relay", ...). */
  candidateTypes: Record<number, string>;
  rttMs: Record<number, number | null>;
  frame: number;
  confirmedFrame: number;
  rollbacks: number;
  maxRollback: number;
  replayedFrames: number;
  predictedFrames: number;
  desyncs: number;
  resyncs: number;
  /** Peers whose page went away (`final`: dropped after the grace), and those back, in order. */
  peerLeft: { peer: number; final: boolean }[];
  peerBack: number[];
  /** Whether the session reached the end of the game ("done") or stopped. */
  outcome: string | null;
}

/** Test settings a page reads only when the server runs with MUG_P2P_TEST_HOOKS=1 (docs/p2p.md). */
export interface MugTest {
  /** Conditions for the P2P transport (src/p2p/conditioner.ts). */
  p2p?: unknown;
  /** Perturbs this peer's env state once, to provoke a desync. */
  desync?: () => void;
  /** Blocks this page and its worker for `seconds` (nothing runs), as a frozen tab: see docs/p2p.md. */
  freeze?: (seconds: number) => void;
}

declare global {
  interface Window {
    mug: Harness;
    mugTest?: MugTest;
  }
}

export function createHarness(): Harness {
  const harness: Harness = {
    participantId: null,
    sceneId: null,
    sceneType: null,
    status: "loading",
    episode: 0,
    step: 0,
    agentId: null,
    waitroom: null,
    gameMessage: null,
    connected: false,
    rttMs: null,
    errors: [],
    render: { objects: 0, images: 0, framesApplied: 0, errors: 0 },
    game: null,
    runtime: null,
    outbox: null,
  };
  window.mug = harness;
  return harness;
}

/** FNV-1a (32-bit) of `text` continued from `seed`: a cheap running digest of the frames a page saw. */
export function fnv1a(text: string, seed = 0x811c9dc5): number {
  let hash = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}
