// The host side of a P2P game: executes the rollback netcode's requests against the game.
//
// A tick's requests (a normal frame, or a rollback re-simulating many) go to the game in ONE call,
// because every crossing into Pyodide costs more than a paddle game's step. The loop (p2p_loop.ts)
// talks to a P2PGame; PyP2PGame is the real one (bridge.py's Game.execute in Pyodide); the Node
// tests use a small JS game implementing the same batch protocol.
//
// ONNX bots run in JavaScript and onnxruntime-web's run() is asynchronous, so a batch in which a
// bot must act pauses there: execute() (or resume()) returns the bots' queries instead of the
// batch's result, the loop runs the model (p2p_bots.ts) and resume()s with the actions. Games
// without ONNX bots never pause: one call per tick.
import type { SessionRequest } from "../netcode";
import type { Json, RenderState } from "../protocol";
import { EnvFailure } from "./loop";

/** The game's own part of the live state: episode (1-based), steps done in it, over, freeze frames left. */
export interface P2PLive {
  episode: number;
  step: number;
  over: boolean;
  freeze: number;
}

/** A netcode request as the game gets it: plain JSON (inputs as [action - start, focused] per
 * player in peer order; an imported state as the text the exporting peer made, or null if the
 * bytes are not UTF-8). */
export type HostRequest =
  | { kind: "save"; frame: number; checksum: boolean }
  | { kind: "load"; frame: number }
  | { kind: "advance"; frame: number; inputs: number[][]; resimulation: boolean }
  | { kind: "discard"; before: number }
  | { kind: "exportState"; frame: number }
  | { kind: "importState"; frame: number; state: string | null };

/** One simulated frame: the step's results, or `skip` (the env was not stepped: the episode is
 * over and waits for the agreed end, or the reset freeze). */
export type P2PStepResult =
  | { frame: number; skip: true }
  | {
      frame: number;
      skip?: undefined;
      episode: number;
      step: number;
      actions: Record<string, Json>;
      rewards: Record<string, number>;
      terminated: boolean;
      truncated: boolean;
      /** The env ended the episode (all agents done). */
      episode_over: boolean;
      /** The episode is over: the env ended it or maxSteps was reached. */
      over: boolean;
      infos: Record<string, Json>;
      observations: Json;
    };

export interface P2PBatchResult {
  /** [frame, u32] for each save that asked for a checksum, in request order. */
  checksums: [number, number][];
  /** [frame, state text] for each exportState. */
  exports: [number, string][];
  /** One per advance, in order. */
  steps: P2PStepResult[];
  /** The render diff of the state the batch ends on; null if no request changed the live state. */
  frame: RenderState | null;
  live: P2PLive;
}

/** What an ONNX bot must answer before a step: the observation it acts on, its recurrent state
 * (one text per state tensor in the model config's order, see encodeFloat32 in p2p_bots.ts; null:
 * zeros, a new episode) and the uniform draw in [0, 1) it samples its action with (a pure function
 * of seed, episode, step and agent). */
export interface BotQuery {
  agent: string;
  observation: Json;
  memory: string[] | null;
  u: number;
}

/** A bot's answer: its action index and its recurrent state outputs (encoded like the query's). */
export interface BotAnswer {
  action: number;
  memory: string[];
}

/** A batch paused before the step of `frame`: answer every query with resume(). */
export interface P2PBotPause {
  frame: number;
  queries: BotQuery[];
}

/** What execute() and resume() give: the batch's result, or a pause for the bots. */
export type P2PBatchOutcome = P2PBatchResult | { pending: P2PBotPause };

/** The game a P2P loop drives. Every method is one synchronous call; failures throw EnvFailure
 * (stage "reset", "step", "snapshot", "import_state", "bot", ...). */
export interface P2PGame {
  /** Reset for episode `episode` (1-based; seed + episode - 1): the frame to draw. */
  reset(episode: number): { frame: RenderState; live: P2PLive };
  execute(requests: HostRequest[]): P2PBatchOutcome;
  /** Go on with a paused batch with every queried bot's answer, by agent. */
  resume(answers: Record<string, BotAnswer>): P2PBatchOutcome;
  /** Test hook: change the live state and every saved snapshot; what was changed. */
  perturb(): string;
  close(): void;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The netcode's requests as the game takes them (plain JSON). */
export function toHostRequests(requests: readonly SessionRequest[]): HostRequest[] {
  return requests.map((r): HostRequest => {
    switch (r.kind) {
      case "advance":
        return {
          kind: "advance",
          frame: r.frame,
          inputs: r.inputs.map((i) => (typeof i.action === "number" ? [i.action] : [...i.action])),
          resimulation: r.resimulation,
        };
      case "importState": {
        let state: string | null;
        try {
          state = utf8.decode(r.bytes);
        } catch {
          state = null;
        }
        return { kind: "importState", frame: r.frame, state };
      }
      default:
        return { ...r };
    }
  });
}

/** bridge.py's Game as Pyodide proxies it (the P2P methods). */
export interface PyP2PGameProxy {
  p2p_reset(episode: number): string;
  execute(batchJson: string): string;
  resume(answersJson: string): string;
  perturb(): string;
  close(): string;
  destroy(): void;
}

type Reply<T> = ({ ok: true } & T) | { ok: false; stage: string; error: string; traceback: string | null; frame?: number | null };

/** The real game: bridge.py in Pyodide, one Python call per method. */
export class PyP2PGame implements P2PGame {
  /** Set when Pyodide itself failed (not a Python exception): the worker must be replaced. */
  fatal = false;

  constructor(private readonly game: PyP2PGameProxy) {}

  private call<T>(stage: string, fn: () => string): { ok: true } & T {
    let reply: Reply<T>;
    try {
      reply = JSON.parse(fn()) as Reply<T>;
    } catch (err) {
      this.fatal = true;
      throw new EnvFailure(stage, `the Python runtime failed: ${err instanceof Error ? err.message : String(err)}`, null);
    }
    if (!reply.ok) {
      const at = reply.frame === undefined || reply.frame === null ? "" : ` (frame ${reply.frame})`;
      throw new EnvFailure(reply.stage, `${reply.error}${at}`, reply.traceback);
    }
    return reply;
  }

  reset(episode: number): { frame: RenderState; live: P2PLive } {
    return this.call<{ frame: RenderState; live: P2PLive }>("reset", () => this.game.p2p_reset(episode));
  }

  execute(requests: HostRequest[]): P2PBatchOutcome {
    return this.call<P2PBatchOutcome>("step", () => this.game.execute(JSON.stringify({ requests })));
  }

  resume(answers: Record<string, BotAnswer>): P2PBatchOutcome {
    return this.call<P2PBatchOutcome>("bot", () => this.game.resume(JSON.stringify(answers)));
  }

  perturb(): string {
    return this.call<{ changed: string }>("perturb", () => this.game.perturb()).changed;
  }

  close(): void {
    if (this.fatal) return;
    try {
      const reply = JSON.parse(this.game.close()) as Reply<object>;
      if (!reply.ok) console.warn(`mug runtime: closing the env failed: ${reply.error}`);
    } finally {
      this.game.destroy();
    }
  }
}
