// The client-side game loop (src/runtime/loop.ts) with a fake env, fake bots and a virtual clock:
// the same episode/tick/action/record semantics as the server's loop (mug/server/games/game.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Json, RenderState } from "../../src/protocol";
import {
  BotFailure,
  EnvFailure,
  GameLoop,
  MAX_LAG_MS,
  type Bot,
  type Clock,
  type EnvSession,
  type LoopSink,
  type LoopSpec,
  type ResetOutcome,
  type StepOutcome,
} from "../../src/runtime/loop";
import { RandomBot } from "../../src/runtime/random_bot";
import type { RuntimeFrame, RuntimeRecord, RuntimeStatus, RuntimeStatusInfo, StepPayload, EpisodePayload, EventPayload } from "../../src/runtime/types";

/** Virtual time: sleep(ms) advances it and resolves at once; env steps may advance it too. */
class FakeClock implements Clock {
  t = 1000;
  sleeps: number[] = [];
  yields = 0;
  now(): number {
    return this.t;
  }
  wall(): number {
    return 1_700_000_000 + this.t / 1000;
  }
  sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.t += ms;
    return Promise.resolve();
  }
  yield(): Promise<void> {
    this.yields++;
    return Promise.resolve();
  }
}

const frame = (label: string): RenderState => ({ objects: [{ type: "text", id: "t", text: label } as never], removed: [] });

/** Episodes end after `length` steps (terminated); every agent gets reward 1; obs = [episode seed, step]. */
class FakeEnv implements EnvSession {
  seeds: number[] = [];
  actions: Record<string, Json>[] = [];
  tickTimes: number[] = [];
  closed = 0;
  private n = 0;
  private seed = 0;
  onStep: ((n: number) => void) | null = null;
  failAt: number | null = null;
  stepCostMs: (n: number) => number = () => 0;

  constructor(
    private readonly clock: FakeClock,
    private readonly agents: string[],
    private readonly length = 3,
  ) {}

  private obs(): Record<string, Json> {
    return Object.fromEntries(this.agents.map((a) => [a, [this.seed, this.n]]));
  }

  reset(seed: number): ResetOutcome {
    this.seeds.push(seed);
    this.seed = seed;
    this.n = 0;
    return { observations: this.obs(), frame: frame(`reset ${seed}`) };
  }

  step(actions: Record<string, Json>): StepOutcome {
    this.tickTimes.push(this.clock.now());
    this.actions.push(actions);
    this.onStep?.(this.actions.length);
    if (this.failAt === this.actions.length) throw new EnvFailure("step", "ZeroDivisionError: division by zero", "Traceback ...\nZeroDivisionError: division by zero\n");
    this.clock.t += this.stepCostMs(this.actions.length);
    this.n++;
    const over = this.n >= this.length;
    return {
      rewards: Object.fromEntries(this.agents.map((a) => [a, 1])),
      terminated: over,
      truncated: false,
      episodeOver: over,
      infos: Object.fromEntries(this.agents.map((a) => [a, { n: this.n }])),
      observations: this.obs(),
      recorded: null,
      frame: frame(`step ${this.n}`),
    };
  }

  close(): void {
    this.closed++;
  }
}

class RecordingBot implements Bot {
  seeds: number[] = [];
  seen: unknown[] = [];
  constructor(private readonly action: (obs: unknown) => Json = () => 7) {}
  reset(seed: number): void {
    this.seeds.push(seed);
  }
  act(observation: unknown): Promise<Json> {
    this.seen.push(observation);
    return Promise.resolve(this.action(observation));
  }
}

class Sink implements LoopSink {
  frames: RuntimeFrame[] = [];
  statuses: [RuntimeStatus, RuntimeStatusInfo][] = [];
  records: RuntimeRecord[] = [];
  errors: [string, string | null][] = [];
  frame(f: RuntimeFrame): void {
    this.frames.push(f);
  }
  status(s: RuntimeStatus, info: RuntimeStatusInfo): void {
    this.statuses.push([s, info]);
  }
  record(r: RuntimeRecord): void {
    this.records.push(r);
  }
  error(message: string, traceback: string | null): void {
    this.errors.push([message, traceback]);
  }
  steps(): StepPayload[] {
    return this.records.filter((r) => r.kind === "step").map((r) => r.payload as StepPayload);
  }
  episodes(): EpisodePayload[] {
    return this.records.filter((r) => r.kind === "episode").map((r) => r.payload as EpisodePayload);
  }
  events(): EventPayload[] {
    return this.records.filter((r) => r.kind === "event").map((r) => r.payload as EventPayload);
  }
}

function spec(extra: Partial<LoopSpec> = {}): LoopSpec {
  return {
    gameId: "g1",
    sceneId: "catch",
    participantId: "p1",
    agents: ["human", "bot"],
    seed: 100,
    fps: 10,
    numEpisodes: 2,
    maxSteps: 50,
    resetFreezeS: 0.5,
    defaultAction: 0,
    inputMode: "pressed_keys",
    actionPopulationMethod: "default_action",
    hud: "Catch!",
    ...extra,
  };
}

function setup(extra: Partial<LoopSpec> = {}, length = 3) {
  const clock = new FakeClock();
  const s = spec(extra);
  const env = new FakeEnv(clock, s.agents, length);
  const bot = new RecordingBot();
  const sink = new Sink();
  const loop = new GameLoop(s, env, { bot }, clock, sink);
  return { clock, env, bot, sink, loop };
}

test("two episodes: seeds seed+k, bots reset with the episode seed, records of the documented shape", async () => {
  const { env, bot, sink, loop } = setup();
  assert.equal(await loop.run(), "done");
  assert.deepEqual(env.seeds, [100, 101]);
  assert.deepEqual(bot.seeds, [100, 101]);
  const steps = sink.steps();
  assert.equal(steps.length, 6);
  assert.deepEqual(
    steps.map((s) => [s.episode, s.step]),
    [[1, 1], [1, 2], [1, 3], [2, 1], [2, 2], [2, 3]],
  );
  const first = steps[0] as StepPayload;
  assert.deepEqual(Object.keys(first), ["game_id", "episode", "step", "scene_id", "t", "actions", "rewards", "terminated", "truncated", "infos", "observations"]);
  assert.deepEqual(first.actions, { human: 0, bot: 7 });
  assert.deepEqual(first.rewards, { human: 1, bot: 1 });
  assert.equal(first.observations, null);
  assert.equal(first.scene_id, "catch");
  assert.equal(first.game_id, "g1");
  const episodes = sink.episodes();
  assert.equal(episodes.length, 2);
  const ep = episodes[1] as EpisodePayload;
  assert.deepEqual(Object.keys(ep), ["game_id", "episode", "scene_id", "participant_ids", "seed", "started_at", "ended_at", "num_steps", "returns", "terminated", "truncated", "outcome"]);
  assert.deepEqual(
    { episode: ep.episode, seed: ep.seed, num_steps: ep.num_steps, returns: ep.returns, terminated: ep.terminated, truncated: ep.truncated, participant_ids: ep.participant_ids, outcome: ep.outcome },
    { episode: 2, seed: 101, num_steps: 3, returns: { human: 3, bot: 3 }, terminated: true, truncated: false, participant_ids: ["p1"], outcome: "completed" },
  );
  assert.ok(ep.ended_at > ep.started_at);
  // step records come before their episode record, in order
  assert.deepEqual(sink.records.map((r) => r.kind), ["step", "step", "step", "episode", "step", "step", "step", "episode"]);
  assert.equal(env.closed, 1);
});

test("statuses and frames: first frame full, reset freeze between episodes, HUD on every frame", async () => {
  const { clock, sink, loop } = setup();
  await loop.run();
  assert.deepEqual(
    sink.statuses.map(([s, i]) => [s, i.episode, i.numEpisodes, i.freezeS]),
    [["running", 1, 2, undefined], ["resetting", 2, 2, 0.5], ["running", 2, 2, undefined], ["done", 2, 2, undefined]],
  );
  assert.deepEqual(
    sink.frames.map((f) => [f.episode, f.step, f.full]),
    [[1, 0, true], [1, 1, false], [1, 2, false], [1, 3, false], [2, 0, false], [2, 1, false], [2, 2, false], [2, 3, false]],
  );
  assert.ok(sink.frames.every((f) => f.hud === "Catch!"));
  assert.ok(clock.sleeps.includes(500), `the reset freeze sleeps 500 ms: ${clock.sleeps}`);
});

test("maxSteps ends an episode as truncated", async () => {
  const { sink, loop } = setup({ maxSteps: 2, numEpisodes: 1 }, 10);
  await loop.run();
  const ep = sink.episodes()[0] as EpisodePayload;
  assert.equal(ep.num_steps, 2);
  assert.equal(ep.terminated, false);
  assert.equal(ep.truncated, true);
});

test("ticks follow a drift-corrected schedule: tick k at start + k/fps even when steps take time", async () => {
  const { clock, env, loop } = setup({ numEpisodes: 1 }, 5);
  env.stepCostMs = () => 37; // a slow step: the next sleep is shorter, not later
  const start = clock.now();
  await loop.run();
  assert.deepEqual(env.tickTimes.map((t) => t - start), [100, 200, 300, 400, 500]);
  const stats = loop.stats();
  assert.equal(stats.ticks, 5);
  assert.equal(stats.envMs.p50, 37);
  assert.equal(stats.lateMs.max, 0);
});

test("falling far behind restarts the schedule once and records clock_behind", async () => {
  const { clock, env, sink, loop } = setup({ numEpisodes: 1 }, 6);
  env.stepCostMs = (n) => (n === 2 ? 400 : 0);
  const start = clock.now();
  await loop.run();
  // tick 3 is due at 300 but starts at 600 (no sleep), which is > MAX_LAG_MS behind: the schedule restarts from 600.
  assert.ok(400 - 100 > MAX_LAG_MS);
  assert.deepEqual(env.tickTimes.map((t) => t - start), [100, 200, 600, 700, 800, 900]);
  const events = sink.events();
  assert.equal(events.length, 1);
  assert.equal(events[0]?.kind, "clock_behind");
  assert.deepEqual(events[0]?.data, { game_id: "g1", episode: 1, step: 2, behind_s: 0.3 });
});

test("pressed_keys: the held action until it changes, kept across episodes", async () => {
  const { env, loop } = setup();
  env.onStep = (n) => {
    if (n === 2) loop.setAction(2);
  };
  await loop.run();
  assert.deepEqual(env.actions.map((a) => a["human"]), [0, 0, 2, 2, 2, 2]); // set during tick 2: used from tick 3
});

test("single_keystroke + default_action: a keystroke is used once, then the default", async () => {
  const { env, loop } = setup({ inputMode: "single_keystroke" }, 4);
  env.onStep = (n) => {
    if (n === 1) loop.setAction(1);
    if (n === 2) {
      loop.setAction(2); // two keystrokes before one tick: the latest wins (as on the server)
      loop.setAction(1);
    }
  };
  await loop.run();
  assert.deepEqual(env.actions.map((a) => a["human"]), [0, 1, 1, 0, 0, 0, 0, 0]);
});

test("single_keystroke + previous_submitted_action: a keystroke is kept until the next", async () => {
  const { env, loop } = setup({ inputMode: "single_keystroke", actionPopulationMethod: "previous_submitted_action" }, 4);
  env.onStep = (n) => {
    if (n === 1) loop.setAction(2);
    if (n === 5) loop.setAction(1);
  };
  await loop.run();
  assert.deepEqual(env.actions.map((a) => a["human"]), [0, 2, 2, 2, 2, 1, 1, 1]);
});

test("a keystroke pending at the end of an episode is dropped at the next reset", async () => {
  const { env, loop } = setup({ inputMode: "single_keystroke" }, 2);
  env.onStep = (n) => {
    if (n === 2) loop.setAction(1); // after the last step of episode 1
  };
  await loop.run();
  assert.deepEqual(env.actions.map((a) => a["human"]), [0, 0, 0, 0]);
});

test("bots act on the latest observations (the reset's first) and actions are recorded in agent order", async () => {
  const clock = new FakeClock();
  const s = spec({ agents: ["b", "a"], numEpisodes: 1 });
  const env = new FakeEnv(clock, s.agents, 3);
  const a = new RecordingBot(() => "A");
  const b = new RecordingBot(() => "B");
  const sink = new Sink();
  await new GameLoop(s, env, { a, b }, clock, sink).run();
  assert.deepEqual(a.seen, [[100, 0], [100, 1], [100, 2]]);
  assert.deepEqual(Object.keys(sink.steps()[0]?.actions ?? {}), ["b", "a"]);
  assert.deepEqual(sink.steps()[0]?.actions, { b: "B", a: "A" });
});

test("an env exception: env_error record with the traceback, onError, status error, env closed", async () => {
  const { env, sink, loop } = setup({}, 3);
  env.failAt = 5; // episode 2, its 2nd step
  assert.equal(await loop.run(), "error");
  const events = sink.events();
  assert.equal(events.length, 1);
  assert.equal(events[0]?.kind, "env_error");
  assert.deepEqual(events[0]?.data, {
    game_id: "g1",
    episode: 2,
    step: 1,
    error: "ZeroDivisionError: division by zero",
    traceback: "Traceback ...\nZeroDivisionError: division by zero\n",
  });
  assert.equal(sink.errors.length, 1);
  assert.match(sink.errors[0]?.[0] ?? "", /step\(\) at episode 2, step 1: ZeroDivisionError/);
  assert.match(sink.errors[0]?.[1] ?? "", /^Traceback/);
  const last = sink.statuses.at(-1);
  assert.equal(last?.[0], "error");
  assert.match(last?.[1].message ?? "", /stopped because of an error/);
  assert.equal(env.closed, 1);
  assert.equal(sink.records.at(-1)?.kind, "event"); // nothing after the error record
});

test("a bot's failure: policy_error record naming the agent", async () => {
  const clock = new FakeClock();
  const s = spec({ numEpisodes: 1 });
  const env = new FakeEnv(clock, s.agents, 3);
  const sink = new Sink();
  const broken: Bot = { reset: () => undefined, act: () => Promise.reject(new Error("observation of shape [2] does not fit")) };
  assert.equal(await new GameLoop(s, env, { bot: broken }, clock, sink).run(), "error");
  const event = sink.events()[0];
  assert.equal(event?.kind, "policy_error");
  assert.equal(event?.data["agent_id"], "bot");
  assert.match(sink.errors[0]?.[0] ?? "", /policy of agent 'bot' failed at episode 1, step 0: observation of shape/);
  assert.ok(new BotFailure("x", "m", null) instanceof Error);
});

test("stop() during the game: run() returns 'stopped', nothing more is emitted, the env is closed", async () => {
  const { env, sink, loop } = setup({}, 3);
  env.onStep = (n) => {
    if (n === 2) loop.stop();
  };
  assert.equal(await loop.run(), "stopped");
  assert.equal(sink.steps().length, 2); // the tick in progress completes
  assert.equal(sink.episodes().length, 0);
  assert.ok(!sink.statuses.some(([s]) => s === "done" || s === "error"));
  assert.equal(env.closed, 1);
});

test("unpaced: ticks back to back (no timer), yielding between them; no reset freeze", async () => {
  const { clock, sink, loop } = setup({ pace: "unpaced" }, 3);
  assert.equal(await loop.run(), "done");
  assert.deepEqual(clock.sleeps, []);
  assert.equal(clock.yields, 6);
  assert.equal(sink.steps().length, 6);
});

test("at most one human agent", () => {
  const clock = new FakeClock();
  assert.throws(() => new GameLoop(spec(), new FakeEnv(clock, ["human", "bot"]), {}, clock, new Sink()), /at most one human/);
});

test("RandomBot: uniform over Discrete(n, start), reproducible from the episode seed and agent id", async () => {
  const draw = async (bot: RandomBot, seed: number, k: number) => {
    bot.reset(seed);
    const out: number[] = [];
    for (let i = 0; i < k; i++) out.push(await bot.act());
    return out;
  };
  const a = new RandomBot("ai", 3, 1);
  const first = await draw(a, 5, 3000);
  assert.deepEqual(await draw(a, 5, 3000), first);
  assert.notDeepEqual(await draw(a, 6, 3000), first);
  assert.notDeepEqual(await draw(new RandomBot("other", 3, 1), 5, 3000), first);
  const counts = [1, 2, 3].map((v) => first.filter((x) => x === v).length);
  assert.equal(counts.reduce((x, y) => x + y, 0), 3000);
  for (const c of counts) assert.ok(Math.abs(c - 1000) < 120, `counts ${counts}`);
  await assert.rejects(new RandomBot("x", 2).act(), /before reset/);
  assert.throws(() => new RandomBot("x", 0), /int >= 1/);
});
