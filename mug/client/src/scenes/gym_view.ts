// A game scene played on the server: draw the frames it sends, send the actions of the keys held.

import { el } from "../dom";
import type { PageStatus } from "../harness";
import type { Frame, GameStatus, Json, Matched, SceneSpec, WaitroomStatus } from "../protocol";
import { GameAssets } from "./game_assets";
import { GameStage, gameIntro } from "./game_stage";
import { Lobby } from "./lobby";
import { noticeBanner } from "./static_view";
import type { SceneContext, SceneView } from "./view";

export class GymView implements SceneView {
  private readonly container: HTMLElement;
  private stage: GameStage | null = null;
  private readonly lobby: Lobby;
  private readonly assets: GameAssets;

  constructor(
    readonly spec: SceneSpec,
    private readonly ctx: SceneContext,
  ) {
    this.container = gameContainer(spec);
    this.lobby = new Lobby(ctx.harness, spec.hide_lobby_count === true);
    ctx.root.replaceChildren(this.container);
    this.assets = new GameAssets(spec, ctx, this.container);
    if (spec.game) this.play();
    else {
      this.container.append(gameIntro(spec, () => this.play()));
      this.setStatus("waiting_start");
    }
  }

  private play(): void {
    this.stage = new GameStage(this.container, this.spec, this.ctx.harness, (action) => this.send(action));
    this.setStatus("starting");
    void this.start();
  }

  private async start(): Promise<void> {
    // The game starts once its sprite images are loaded (said in the page if they cannot be).
    if (!this.stage || !(await this.assets.attach(this.stage))) return this.setStatus("error");
    try {
      const reply = await this.ctx.conn.request(
        "start_game",
        { scene_id: this.spec.scene_id },
      );
      if (reply.waitroom) this.waitroom(reply.waitroom);
      if (reply.game) {
        // The reply is ordered after every earlier event: its status is the game's status now.
        this.ctx.harness.agentId = reply.game.agent_id ?? null;
        this.stage?.showPage(reply.game);
        if (reply.game.status !== "starting") this.setStatus(reply.game.status as PageStatus);
      }
    } catch (err) {
      this.stage?.say(`The game could not start: ${(err as Error).message}`);
      this.setStatus("error");
    }
  }

  private send(action: Json): void {
    const payload = { scene_id: this.spec.scene_id, action };
    const delayMs = ((this.spec.input_delay ?? 0) * 1000) / (this.spec.fps ?? 30);
    if (delayMs > 0) window.setTimeout(() => this.ctx.conn.send("action", payload), delayMs);
    else this.ctx.conn.send("action", payload);
  }

  frame(frame: Frame): void {
    if (frame.scene_id === this.spec.scene_id) this.stage?.frame(frame);
  }

  status(status: GameStatus): void {
    if (status.scene_id !== this.spec.scene_id || !this.stage) return;
    if (this.lobby.shown) this.matched({ ...status, step: 0 });
    this.setStatus(this.stage.status(status));
  }

  waitroom(status: WaitroomStatus): void {
    if (status.scene_id !== this.spec.scene_id) return;
    this.lobby.show(this.container, status);
    this.setStatus("waitroom");
  }

  matched(info: Matched): void {
    if (info.scene_id !== this.spec.scene_id) return;
    this.lobby.close();
    this.ctx.harness.agentId = info.agent_id ?? null;
    this.stage?.showPage(info);
    this.setStatus("starting");
  }

  private setStatus(status: PageStatus): void {
    this.ctx.harness.status = status;
    this.container.dataset.status = status;
  }

  rejoined(spec: SceneSpec): void {
    // The server keeps running the game and sends a full frame next; re-send what is held.
    if (!this.stage && spec.game) {
      this.container.querySelector(".mug-intro")?.remove();
      this.play();
    } else if (this.stage) {
      void this.start();
      this.stage.resend();
    }
  }

  destroy(): void {
    this.lobby.close();
    this.stage?.destroy();
    this.container.remove();
  }
}

/** The section every game scene lives in, with its notice and header. */
export function gameContainer(spec: SceneSpec): HTMLElement {
  return el("section", { class: "mug-scene mug-gym", "data-testid": `scene-${spec.scene_id}` }, [
    ...noticeBanner(spec),
    ...(spec.header ? [el("h1", { "data-testid": "scene-header", text: spec.header })] : []),
  ]);
}
