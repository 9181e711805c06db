// A client-side game scene: the env runs in Pyodide in a Web Worker (src/runtime), the page draws
// its frames, and every record goes through the outbox to the server.

import { el } from "../dom";
import type { PageStatus } from "../harness";
import type { BrowserGame, Json, SceneSpec } from "../protocol";
import type { RuntimeGameSpec, RuntimePolicySpec } from "../runtime";
import { GameAssets } from "./game_assets";
import { GameStage, gameIntro } from "./game_stage";
import { gameContainer } from "./gym_view";
import type { SceneContext, SceneView } from "./view";

export class BrowserGameView implements SceneView {
  private readonly container: HTMLElement;
  private stage: GameStage | null = null;
  private readonly progress = el("div", { class: "mug-progress", "data-testid": "loading-progress" });
  private running = false;
  private gone = false;
  private readonly assets: GameAssets;

  /** `started`: a game the server already started for this page (a P2P scene's AI fill-in). */
  constructor(
    readonly spec: SceneSpec,
    private readonly ctx: SceneContext,
    private readonly started: BrowserGame | null = null,
  ) {
    this.container = gameContainer(spec);
    ctx.root.replaceChildren(this.container);
    this.container.append(this.progress);
    this.assets = new GameAssets(spec, ctx, this.container);
    // Loading usually began on the first page; show how far it is and let Start wait for it.
    void ctx.runtime().preload((fraction, label) => this.showProgress(fraction, label)).then(
      () => this.showProgress(1, "ready"),
      (err: Error) => this.fail(`The game could not be loaded: ${err.message}`),
    );
    if (spec.game || started) this.play(); // a reload mid-game: start over under a new game (the old one is kept)
    else {
      this.container.append(gameIntro(spec, () => this.play()));
      this.setStatus("waiting_start");
    }
  }

  private showProgress(fraction: number, label: string): void {
    this.ctx.harness.runtime = { progress: fraction, label };
    this.progress.textContent = fraction >= 1 ? "" : `Loading the game… ${Math.round(fraction * 100)}% (${label})`;
  }

  private play(): void {
    this.stage = new GameStage(this.container, this.spec, this.ctx.harness, (action) => this.act(action));
    this.setStatus("starting");
    void this.run();
  }

  private act(action: Json): void {
    if (this.running) this.ctx.runtime().setAction(action);
  }

  private async run(): Promise<void> {
    const spec = this.spec;
    const runtimeSpec = spec.runtime!;
    if (!this.stage || !(await this.assets.attach(this.stage))) return this.setStatus("error");
    let game: BrowserGame;
    try {
      if (this.started) game = this.started;
      else {
        const reply = await this.ctx.conn.request("start_game", { scene_id: spec.scene_id });
        if (!reply.game) throw new Error("the server started no game");
        game = reply.game;
      }
    } catch (err) {
      this.fail(`The game could not start: ${(err as Error).message}`);
      return;
    }
    this.stage?.showPage(game);
    const gameSpec = runtimeGameSpec(spec, game, this.ctx.participantId);
    const harness = this.ctx.harness;
    harness.agentId = runtimeSpec.agents.find((a) => runtimeSpec.policies[a]?.kind === "human") ?? null;
    this.running = true;
    const outcome = await this.ctx.runtime().run(gameSpec, {
      onProgress: (fraction, label) => this.showProgress(fraction, label),
      onFrame: (frame) => this.stage?.frame({ ...frame, game_id: game.game_id }),
      onStatus: (status, info) => {
        if (!this.stage) return;
        const shown = this.stage.status({
          status,
          episode: info.episode,
          num_episodes: info.numEpisodes,
          freeze_s: info.freezeS,
          message: info.message,
        });
        this.setStatus(status === "loading" ? "starting" : shown);
      },
      onRecord: (record) => this.ctx.outbox()?.add(record.kind, record.payload as unknown as Record<string, unknown>),
      onError: (message, traceback) => {
        console.error(`mug: the game failed: ${message}\n${traceback ?? ""}`);
        this.stage?.say("The game stopped because of an error. Your data so far is saved.");
      },
    });
    this.running = false;
    if (this.gone) return;
    await finishGame(this.ctx, spec, game.game_id, outcome, () => this.gone, (text) => this.stage?.say(text), (message) => this.fail(message));
  }

  private fail(message: string): void {
    if (this.stage) this.stage.say(message);
    else this.progress.textContent = message;
    this.setStatus("error");
  }

  private setStatus(status: PageStatus): void {
    this.ctx.harness.status = status;
    this.container.dataset.status = status;
  }

  rejoined(): void {
    // The game runs in this page; the reconnected socket only carries the outbox.
  }

  destroy(): void {
    this.gone = true;
    if (this.running) this.ctx.runtime().stop();
    this.stage?.destroy();
    this.container.remove();
  }
}

/** The worker's spec of the game the server started for this scene (URLs made absolute). */
export function runtimeGameSpec(spec: SceneSpec, game: BrowserGame, participantId: string): RuntimeGameSpec {
  const runtimeSpec = spec.runtime!;
  const page = window.location.href;
  const policies: Record<string, RuntimePolicySpec> = {};
  for (const [agent, policy] of Object.entries(runtimeSpec.policies)) {
    policies[agent] =
      policy.kind === "onnx"
        ? { kind: "onnx", model: { ...policy.model, model_url: new URL(String(policy.model.model_url), page).href } }
        : (policy as RuntimePolicySpec);
  }
  return {
    gameId: game.game_id,
    sceneId: spec.scene_id,
    participantId,
    envCode: runtimeSpec.env_code,
    packages: runtimeSpec.packages.map((p) => (p.endsWith(".whl") ? new URL(p, page).href : p)),
    agents: runtimeSpec.agents,
    policies,
    seed: game.seed,
    fps: spec.fps ?? 30,
    numEpisodes: spec.num_episodes ?? 1,
    maxSteps: spec.max_steps ?? 1000,
    resetFreezeS: runtimeSpec.reset_freeze_s,
    defaultAction: spec.default_action ?? null,
    inputMode: spec.input_mode ?? "pressed_keys",
    actionPopulationMethod: runtimeSpec.action_population_method,
    recordObservations: runtimeSpec.record_observations,
    hud: runtimeSpec.hud,
    hudScoreCarryOver: runtimeSpec.hud_score_carry_over === true,
  };
}

/** After a client-side game: hand its records to the server, then ask to move on (retried a few times). */
export async function finishGame(
  ctx: SceneContext,
  spec: SceneSpec,
  gameId: string,
  outcome: "done" | "error",
  gone: () => boolean,
  say: (text: string) => void,
  fail: (message: string) => void,
): Promise<void> {
  // Records reach the server before the page moves on when the network allows; if it does not,
  // the outbox keeps them and sends them later (on this or any later page).
  await ctx.outbox()?.flush(5_000);
  // Requests wait while the page is offline; a timeout or a refusal is retried a few times.
  for (let attempt = 1; !gone(); attempt++) {
    try {
      const reply = await ctx.conn.request("advance", { scene_id: spec.scene_id, game_id: gameId, outcome });
      ctx.show(reply.scene);
      return;
    } catch (err) {
      if (attempt >= 5) {
        fail(`Could not continue: ${(err as Error).message}. Please reload the page.`);
        return;
      }
      say("Saving your game…");
    }
  }
}
