// A stand-in for Pyodide in the Node tests of the P2P loop: a small JS game speaking bridge.py's
// batch protocol (Game.p2p_reset / execute / resume / perturb), with the same rules — skip frames
// once the episode is over, checksums of canonical JSON, exports as text, imports checked, a batch
// paused for an ONNX bot's action with the bot's observation, memory and seeded draw, the bot's
// state in every snapshot. The real bridge.py runs in tests/runtime (CPython) and in the browser
// tests and the resim benchmark.
import type { RenderState } from "../../src/protocol";
import { EnvFailure } from "../../src/runtime/loop";
import type { BotAnswer, BotQuery, HostRequest, P2PBatchOutcome, P2PBatchResult, P2PGame, P2PLive, P2PStepResult } from "../../src/runtime/p2p_host";

interface BotState {
  obs: number[];
  action: number | null;
  memory: string[] | null;
}

interface State {
  live: P2PLive;
  /** Each human's position and a running mix of every input, so any input difference shows. */
  pos: number[];
  mix: number;
  /** The ONNX bot's part of the state (values replaced, never changed in place). */
  bot?: BotState;
}

/** An ONNX bot of the fake game: its agent id, and frame_skip. */
export interface FakeBot {
  agent: string;
  frameSkip: number;
}

function fnv(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function copy(s: State): State {
  const out: State = { live: { ...s.live }, pos: [...s.pos], mix: s.mix };
  if (s.bot) out.bot = { ...s.bot };
  return out;
}

export class FakeP2PGame implements P2PGame {
  state: State;
  readonly snapshots = new Map<number, State>();
  batches = 0;
  closed = false;
  /** Throw from advance at this (episode, step). */
  failAt: { episode: number; step: number } | null = null;
  /** Times a batch paused for the bot. */
  pauses = 0;
  private paused: { requests: HostRequest[]; at: number; out: P2PBatchResult; changed: boolean } | null = null;

  constructor(
    readonly humans: string[],
    readonly seed: number,
    /** Steps per episode (the episode is over, terminated, after this many). */
    readonly stepsPerEpisode: number,
    readonly freezeFrames = 0,
    readonly bot: FakeBot | null = null,
  ) {
    this.state = { live: { episode: 0, step: 0, over: false, freeze: 0 }, pos: humans.map(() => 0), mix: seed };
  }

  /** What the bot observes: the humans' positions and the mix, so its actions follow the game. */
  private observe(): number[] {
    return [...this.state.pos, this.state.mix % 97];
  }

  private frame(): RenderState {
    return { objects: [{ id: "pos", type: "text", text: this.state.pos.join(","), step: this.state.live.step }], removed: [] } as unknown as RenderState;
  }

  reset(episode: number): { frame: RenderState; live: P2PLive } {
    this.state = {
      live: { episode, step: 0, over: false, freeze: episode > 1 ? this.freezeFrames : 0 },
      pos: this.humans.map(() => 0),
      mix: (this.seed + episode - 1) >>> 0,
    };
    this.paused = null;
    if (this.bot) this.state.bot = { obs: this.observe(), action: null, memory: null };
    return { frame: this.frame(), live: { ...this.state.live } };
  }

  execute(requests: HostRequest[]): P2PBatchOutcome {
    if (this.paused) throw new EnvFailure("execute", "a batch is waiting for its bots' actions", null);
    this.batches++;
    this.paused = { requests, at: 0, out: { checksums: [], exports: [], steps: [], frame: null, live: this.state.live }, changed: false };
    return this.run(null);
  }

  resume(answers: Record<string, BotAnswer>): P2PBatchOutcome {
    if (!this.paused) throw new EnvFailure("bot", "resume() without a batch waiting for bot actions", null);
    return this.run(answers);
  }

  /** The bot's query before the next step, if it must act (bridge.py's rules). */
  private query(): BotQuery | null {
    const s = this.state;
    if (!this.bot || !s.bot || s.live.over || s.live.freeze > 0) return null;
    if (s.bot.action !== null && s.live.step % this.bot.frameSkip !== 0) return null;
    const u = fnv(`${this.seed}/${s.live.episode}/${s.live.step}/${this.bot.agent}`) / 4294967296;
    return { agent: this.bot.agent, observation: this.observe(), memory: s.bot.memory, u };
  }

  private run(answers: Record<string, BotAnswer> | null): P2PBatchOutcome {
    try {
      return this.runFrom(answers);
    } catch (err) {
      this.paused = null; // a failure ends the batch
      throw err;
    }
  }

  private runFrom(answers: Record<string, BotAnswer> | null): P2PBatchOutcome {
    const batch = this.paused!;
    const out = batch.out;
    for (; batch.at < batch.requests.length; batch.at++) {
      const r = batch.requests[batch.at]!;
      switch (r.kind) {
        case "advance": {
          const q = answers === null ? this.query() : null;
          if (q) {
            this.pauses++;
            return { pending: { frame: r.frame, queries: [q] } };
          }
          if (answers !== null) {
            const answer = answers[this.bot!.agent];
            if (!answer || !Number.isInteger(answer.action) || answer.action < 0 || answer.action > 2) {
              throw new EnvFailure("bot", `bad bot answer ${JSON.stringify(answers)}`, null);
            }
            this.state.bot = { ...this.state.bot!, action: answer.action, memory: answer.memory };
            answers = null;
          }
          out.steps.push(this.advance(r.frame, r.inputs));
          batch.changed = true;
          break;
        }
        case "save":
          this.snapshots.set(r.frame, copy(this.state));
          if (r.checksum) out.checksums.push([r.frame, fnv(JSON.stringify(this.state))]);
          break;
        case "load": {
          const s = this.snapshots.get(r.frame);
          if (!s) throw new EnvFailure("snapshot", `no saved state for frame ${r.frame} to load`, null);
          this.state = copy(s);
          batch.changed = true;
          break;
        }
        case "discard":
          for (const f of [...this.snapshots.keys()]) if (f < r.before) this.snapshots.delete(f);
          break;
        case "exportState": {
          const s = this.snapshots.get(r.frame);
          if (!s) throw new EnvFailure("snapshot", `no saved state for frame ${r.frame} to export`, null);
          out.exports.push([r.frame, JSON.stringify(s)]);
          break;
        }
        case "importState": {
          let s: State;
          try {
            s = JSON.parse(r.state ?? "") as State;
          } catch {
            throw new EnvFailure("import_state", "the state received from a peer is not JSON", null);
          }
          if (!Array.isArray(s.pos) || s.pos.length !== this.humans.length) throw new EnvFailure("import_state", "the state received from a peer is unusable", null);
          this.snapshots.set(r.frame, s);
          break;
        }
      }
    }
    this.paused = null;
    out.live = { ...this.state.live };
    if (batch.changed) out.frame = this.frame();
    return out;
  }

  private advance(frame: number, inputs: number[][]): P2PStepResult {
    const s = this.state;
    if (s.live.over || s.live.freeze > 0) {
      if (s.live.freeze > 0) s.live.freeze--;
      return { frame, skip: true };
    }
    if (this.failAt && this.failAt.episode === s.live.episode && this.failAt.step === s.live.step) {
      throw new EnvFailure("step", "ZeroDivisionError: division by zero", 'Traceback...\n  File "<env_code>", line 3, in step\n');
    }
    const actions: Record<string, number> = {};
    const rewards: Record<string, number> = {};
    this.humans.forEach((agent, i) => {
      const a = inputs[i]?.[0] ?? 0;
      actions[agent] = a;
      s.pos[i] = (s.pos[i] as number) + (a === 1 ? -1 : a === 2 ? 1 : 0);
      s.mix = (Math.imul(s.mix ^ (a + 7 * i), 0x01000193) + frame) >>> 0;
      rewards[agent] = a === 2 ? 1 : 0;
    });
    if (this.bot && s.bot) {
      const a = s.bot.action ?? 0;
      actions[this.bot.agent] = a;
      s.mix = (Math.imul(s.mix ^ (a + 1000), 0x01000193) + frame) >>> 0;
      rewards[this.bot.agent] = 0;
    }
    s.live.step++;
    if (s.bot) s.bot = { ...s.bot, obs: this.observe() };
    const over = s.live.step >= this.stepsPerEpisode;
    s.live.over = over;
    return {
      frame,
      episode: s.live.episode,
      step: s.live.step,
      actions,
      rewards,
      terminated: over,
      truncated: false,
      episode_over: over,
      over,
      infos: Object.fromEntries(this.humans.map((a, i) => [a, { pos: s.pos[i] as number }])),
      observations: null,
    };
  }

  perturb(): string {
    this.state.pos[0] = (this.state.pos[0] as number) + 1000;
    for (const s of this.snapshots.values()) s.pos[0] = (s.pos[0] as number) + 1000;
    return "pos";
  }

  close(): void {
    this.closed = true;
  }
}
