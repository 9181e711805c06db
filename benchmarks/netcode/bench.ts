// Netcode benchmark body (bundled by run.mjs). Prints nothing itself; run.mjs prints the JSON.
import { Cluster } from "../../mug/client/src/netcode/testing/cluster";
import type { LinkConditions } from "../../mug/client/src/netcode/testing/sim-network";

export interface BookkeepingResult {
  readonly players: number;
  readonly usPerFrame: number;
  readonly framesMeasured: number;
  readonly rollbacksPer100: number;
  readonly resimulatedPer100: number;
}

export interface ResimResult {
  readonly players: number;
  readonly resimulatedPer100: number;
  readonly rollbacksPer100: number;
  readonly framesMeasured: number;
}

const FPS = 30;

function peersSummary(cluster: Cluster) {
  let frames = 0;
  let resim = 0;
  let rollbacks = 0;
  let sessionMs = 0;
  for (const p of cluster.peers) {
    frames += p.framesAdvanced;
    resim += p.session.stats().resimulatedFrames;
    rollbacks += p.session.stats().rollbacks;
    sessionMs += p.sessionMs;
  }
  return { frames, resim, rollbacks, sessionMs };
}

/** Time spent in session calls (not in the game step) per advanced frame, per peer. */
export function bookkeeping(players: number, network: LinkConditions, seconds: number, tickMs: number, timer: () => number): BookkeepingResult {
  const cluster = new Cluster({
    numPlayers: players,
    seed: 1000 + players,
    network,
    tickMs,
    session: { fps: FPS, maxPrediction: 8, inputDelay: 2 },
    timer,
  });
  cluster.run(seconds * 1000);
  const s = peersSummary(cluster);
  return {
    players,
    usPerFrame: (s.sessionMs * 1000) / s.frames,
    framesMeasured: s.frames,
    rollbacksPer100: (100 * s.rollbacks) / s.frames,
    resimulatedPer100: (100 * s.resim) / s.frames,
  };
}

/** Frames re-simulated per 100 advanced frames. */
export function resimulation(players: number, network: LinkConditions, seconds: number, tickMs: number, inputDelay: number): ResimResult {
  const cluster = new Cluster({ numPlayers: players, seed: 2000 + players, network, tickMs, session: { fps: FPS, inputDelay } });
  cluster.run(seconds * 1000);
  const s = peersSummary(cluster);
  return {
    players,
    resimulatedPer100: (100 * s.resim) / s.frames,
    rollbacksPer100: (100 * s.rollbacks) / s.frames,
    framesMeasured: s.frames,
  };
}
