// The state the page exposes as `window.mug`, so tests (and curious researchers) can see where a
// participant is without scraping the DOM. Tests wait on these fields, never on sleeps.

export type PageStatus =
  | "loading"
  | "connecting"
  | "ready" // a static scene is shown
  | "waiting_start" // a game scene is shown, the Start button is up
  | "starting"
  | "running"
  | "resetting"
  | "paused"
  | "done"
  | "error"
  | "ended" // an end scene is shown
  | "replaced" // the study was opened in another tab
  | "disconnected";

export interface Harness {
  participantId: string | null;
  sceneId: string | null;
  sceneType: string | null;
  status: PageStatus;
  episode: number;
  step: number;
  connected: boolean;
  rttMs: number | null;
  errors: { event: string; message: string }[];
  render: { objects: number; images: number; framesApplied: number; errors: number };
  ping?: () => Promise<number>;
}

declare global {
  interface Window {
    mug: Harness;
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
    connected: false,
    rttMs: null,
    errors: [],
    render: { objects: 0, images: 0, framesApplied: 0, errors: 0 },
  };
  window.mug = harness;
  return harness;
}
