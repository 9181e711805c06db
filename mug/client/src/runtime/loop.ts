// The client-side game loop: the browser twin of mug/server/games/game.py (ServerGame._run), with no
// Pyodide, worker or DOM in it. The worker plugs in the env (a Python Game through Pyodide), the
// bots (onnxruntime-web / random) and a clock; the Node tests plug in fakes.
//
// Per episode k (0-based): reset the env with seed + k, reset every bot with that seed; from the
// second episode on, status "resetting" + the reset frame + the reset freeze; status "running";
// then a tick every 1/fps on a drift-corrected schedule: gather actions (the human's, then each
// bot's from the latest observations), step the env, record the step, send the frame. The episode
// ends when the env says so or after maxSteps steps, and is recorded.
import type { Json } from "../protocol";
import { addReturns, hudText } from "./hud";
import type {
  RenderState,
  RuntimeFrame,
  RuntimeGameSpec,
  RuntimeRecord,
  RuntimeStats,
  RuntimeStatus,
  RuntimeStatusInfo,
  TimingSummary,
} from "./types";

/** A failure inside Python (env code, reset, step): carries the Python traceback. */
export class EnvFailure extends Error {
  constructor(
    readonly stage: string,
    message: string,
    readonly traceback: string | null,
  ) {
    super(message);
    this.name = "EnvFailure";
  }
}

/** A bot's policy failed to act. */
export class BotFailure extends Error {
  constructor(
    readonly agentId: string,
    message: string,
    readonly stack_: string | null,
  ) {
    super(message);
    this.name = "BotFailure";
  }
}

export interface ResetOutcome {
  /** The observed agents' observations (those bots need). */
  observations: Record<string, Json>;
  frame: RenderState;
}

export interface StepOutcome {
  rewards: Record<string, number>;
  terminated: boolean;
  truncated: boolean;
  episodeOver: boolean;
  infos: Record<string, Json>;
  observations: Record<string, Json>;
  /** Every agent's observation for the step record, or null. */
  recorded: Json;
  frame: RenderState;
}

/** The env as the loop sees it (synchronous: one Python call each). Failures throw EnvFailure. */
export interface EnvSession {
  reset(seed: number): ResetOutcome;
  step(actions: Record<string, Json>): StepOutcome;
  close(): void;
}

export interface Bot {
  reset(seed: number): void;
  act(observation: unknown): Promise<unknown>;
}

export interface Clock {
  /** Monotonic milliseconds. */
  now(): number;
  /** Unix seconds. */
  wall(): number;
  /** Resolve after ms milliseconds (a timer). */
  sleep(ms: number): Promise<void>;
  /** Let other tasks (messages from the page) run, without a timer's minimum delay. */
  yield(): Promise<void>;
}

export interface LoopSink {
  frame(frame: RuntimeFrame): void;
  status(status: RuntimeStatus, info: RuntimeStatusInfo): void;
  record(record: RuntimeRecord): void;
  error(message: string, traceback: string | null): void;
}

export type LoopSpec = Pick<
  RuntimeGameSpec,
  | "gameId"
  | "sceneId"
  | "participantId"
  | "agents"
  | "seed"
  | "fps"
  | "numEpisodes"
  | "maxSteps"
  | "resetFreezeS"
  | "defaultAction"
  | "inputMode"
  | "actionPopulationMethod"
  | "hud"
  | "pace"
> &
  Partial<Pick<RuntimeGameSpec, "hudScoreCarryOver" | "policies">>;

/** What the status shows the participant when a game stops on an error (as the server says it). */
export const ERROR_STATUS_MESSAGE = "The game stopped because of an error. Your data so far is saved.";

/** Falling further behind the tick schedule than this restarts the schedule from now (no burst of missed ticks). */
export const MAX_LAG_MS = 250;

const MAX_SAMPLES = 100_000;

export function summarize(values: readonly number[]): TimingSummary {
  if (values.length === 0) return { count: 0, mean: 0, p50: 0, p95: 0, max: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return { count: values.length, mean, p50: at(0.5), p95: at(0.95), max: sorted[sorted.length - 1] as number };
}

function push(list: number[], value: number): void {
  if (list.length < MAX_SAMPLES) list.push(value);
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

export type LoopResult = "done" | "error" | "stopped";

/** One game. Create, then run() once; setAction() at any time; stop() to abort. */
export class GameLoop {
  episode = 0;
  /** This episode's returns so far, and the earlier episodes' (the HUD's score; runtime/hud.ts). */
  private returns: Record<string, number> = {};
  private readonly carried: Record<string, number> = {};
  step = 0;
  private held: Json;
  private pending: { action: Json } | null = null;
  private stopped = false;
  private wake: (() => void) | null = null;
  private readonly stopSignal: Promise<void>;
  private firstFrame = true;
  private readonly human: string | null;
  private readonly envMs: number[] = [];
  private readonly policyMs: number[] = [];
  private readonly lateMs: number[] = [];
  private ticks = 0;
  private startedMs = 0;

  constructor(
    private readonly spec: LoopSpec,
    private readonly env: EnvSession,
    /** Bots by agent id; every agent without a bot is the human's. */
    private readonly bots: Record<string, Bot>,
    private readonly clock: Clock,
    private readonly sink: LoopSink,
  ) {
    const humans = spec.agents.filter((a) => !(a in bots));
    if (humans.length > 1) throw new Error(`a client-side game has at most one human agent, got ${humans.join(", ")}`);
    this.human = humans[0] ?? null;
    this.held = spec.defaultAction;
    this.stopSignal = new Promise((resolve) => {
      this.wake = resolve;
    });
  }

  /** The human's action: held until changed (pressed_keys) or used once at the next tick (single_keystroke). */
  setAction(action: Json): void {
    if (this.spec.inputMode === "single_keystroke") this.pending = { action };
    else this.held = action;
  }

  /** Abort: the loop returns "stopped" at its next await; nothing more is emitted. */
  stop(): void {
    this.stopped = true;
    this.wake?.();
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  stats(): RuntimeStats {
    return {
      ticks: this.ticks,
      elapsedS: this.startedMs ? (this.clock.now() - this.startedMs) / 1000 : 0,
      envMs: summarize(this.envMs),
      policyMs: summarize(this.policyMs),
      lateMs: summarize(this.lateMs),
    };
  }

  async run(): Promise<LoopResult> {
    const spec = this.spec;
    const unpaced = spec.pace === "unpaced";
    const interval = 1000 / spec.fps;
    this.startedMs = this.clock.now();
    try {
      for (let index = 0; index < spec.numEpisodes; index++) {
        this.episode = index + 1;
        this.step = 0;
        const seed = spec.seed + index;
        const reset = this.env.reset(seed);
        for (const bot of Object.values(this.bots)) bot.reset(seed);
        addReturns(this.carried, this.returns);
        const returns: Record<string, number> = Object.fromEntries(spec.agents.map((a) => [a, 0]));
        this.returns = returns;
        this.pending = null;
        const startedAt = this.clock.wall();
        let framed = false;
        if (index > 0 && spec.resetFreezeS > 0) {
          this.status("resetting", { freezeS: spec.resetFreezeS });
          this.sendFrame(reset.frame);
          framed = true;
          if (!unpaced) await this.sleep(spec.resetFreezeS * 1000);
          if (this.stopped) return "stopped";
        }
        this.status("running");
        if (!framed) this.sendFrame(reset.frame);
        let observations = reset.observations;
        let lagNoted = false;
        let next = this.clock.now();
        let result: StepOutcome;
        for (;;) {
          if (unpaced) {
            await this.yieldNow();
          } else {
            next += interval;
            const delay = next - this.clock.now();
            if (delay > 0) await this.sleep(delay);
          }
          if (this.stopped) return "stopped";
          if (!unpaced) {
            const late = this.clock.now() - next;
            push(this.lateMs, Math.max(0, late));
            if (late > MAX_LAG_MS) {
              if (!lagNoted) this.noteLag(late);
              lagNoted = true;
              next = this.clock.now();
            }
          }
          const t = this.clock.wall();
          const actions = await this.gather(observations);
          if (this.stopped) return "stopped";
          const before = this.clock.now();
          result = this.env.step(actions);
          push(this.envMs, this.clock.now() - before);
          this.ticks++;
          this.step++;
          for (const [agent, reward] of Object.entries(result.rewards)) returns[agent] = (returns[agent] ?? 0) + reward;
          this.sink.record({
            kind: "step",
            payload: {
              game_id: spec.gameId,
              episode: this.episode,
              step: this.step,
              scene_id: spec.sceneId,
              t,
              actions,
              rewards: result.rewards,
              terminated: result.terminated,
              truncated: result.truncated,
              infos: result.infos,
              observations: result.recorded,
            },
          });
          this.sendFrame(result.frame);
          observations = result.observations;
          if (result.episodeOver || this.step >= spec.maxSteps) break;
        }
        this.sink.record({
          kind: "episode",
          payload: {
            game_id: spec.gameId,
            episode: this.episode,
            scene_id: spec.sceneId,
            participant_ids: [spec.participantId],
            seed,
            started_at: startedAt,
            ended_at: this.clock.wall(),
            num_steps: this.step,
            returns: { ...returns },
            terminated: result.terminated,
            truncated: !result.episodeOver || result.truncated,
            outcome: "completed",
          },
        });
      }
      this.status("done");
      return "done";
    } catch (err) {
      if (this.stopped) return "stopped";
      this.fail(err);
      return "error";
    } finally {
      try {
        this.env.close();
      } catch {
        // closing is best effort; the game's outcome is already decided
      }
    }
  }

  private async gather(observations: Record<string, Json>): Promise<Record<string, Json>> {
    const actions: Record<string, Json> = {};
    const keepPrevious = this.spec.actionPopulationMethod === "previous_submitted_action";
    if (this.human !== null) {
      if (this.pending !== null) {
        actions[this.human] = this.pending.action;
        this.pending = null;
        if (keepPrevious) this.held = actions[this.human] as Json;
      } else {
        actions[this.human] = this.held;
      }
    }
    const agents = this.spec.agents.filter((a) => a !== this.human);
    if (agents.length) {
      const before = this.clock.now();
      const acted = await Promise.all(
        agents.map((agent) =>
          (this.bots[agent] as Bot).act(observations[agent] ?? null).then(
            (action) => action as Json,
            (err: unknown) => {
              throw new BotFailure(agent, errorText(err), err instanceof Error ? (err.stack ?? null) : null);
            },
          ),
        ),
      );
      push(this.policyMs, this.clock.now() - before);
      agents.forEach((agent, i) => {
        actions[agent] = acted[i] as Json;
      });
    }
    // In the order of the scene's agents, like the server's records.
    return Object.fromEntries(this.spec.agents.map((a) => [a, actions[a] as Json]));
  }

  private sendFrame(state: RenderState): void {
    const hud = hudText(this.spec, { episode: this.episode, step: this.step, returns: this.returns, carried: this.carried });
    this.sink.frame({ episode: this.episode, step: this.step, state, full: this.firstFrame, hud });
    this.firstFrame = false;
  }

  private status(status: RuntimeStatus, extra: Partial<RuntimeStatusInfo> = {}): void {
    this.sink.status(status, { episode: this.episode, numEpisodes: this.spec.numEpisodes, ...extra });
  }

  private event(kind: string, data: { [key: string]: Json }): void {
    this.sink.record({ kind: "event", payload: { scene_id: this.spec.sceneId, kind, data, t: this.clock.wall() } });
  }

  private noteLag(lateMs: number): void {
    this.event("clock_behind", {
      game_id: this.spec.gameId,
      episode: this.episode,
      step: this.step,
      behind_s: Math.round(lateMs) / 1000,
    });
  }

  private fail(err: unknown): void {
    const where = { game_id: this.spec.gameId, episode: this.episode, step: this.step };
    let message: string;
    let traceback: string | null;
    if (err instanceof EnvFailure) {
      traceback = err.traceback;
      this.event("env_error", { ...where, error: err.message, traceback });
      message = `the env failed in ${err.stage}() at episode ${this.episode}, step ${this.step}: ${err.message}`;
    } else if (err instanceof BotFailure) {
      traceback = err.stack_;
      this.event("policy_error", { ...where, agent_id: err.agentId, error: err.message });
      message = `the policy of agent '${err.agentId}' failed at episode ${this.episode}, step ${this.step}: ${err.message}`;
    } else {
      traceback = err instanceof Error ? (err.stack ?? null) : null;
      this.event("runtime_error", { ...where, error: errorText(err) });
      message = `the game loop failed at episode ${this.episode}, step ${this.step}: ${errorText(err)}`;
    }
    this.sink.error(message, traceback);
    this.status("error", { message: ERROR_STATUS_MESSAGE });
  }

  private async sleep(ms: number): Promise<void> {
    await Promise.race([this.clock.sleep(ms), this.stopSignal]);
  }

  private async yieldNow(): Promise<void> {
    await Promise.race([this.clock.yield(), this.stopSignal]);
  }
}
