// A game scene's sprite images (GymScene.assets, docs/assets.md) as its page sees them: loading
// starts as soon as the scene shows (while the participant reads its intro), progress shows as
// "Loading images 3/7", and the game does not start before they are all loaded. An image that fails
// to load, or a sprite the renderer cannot draw, is said to the participant in plain text and sent
// to the server (a `client_log` event), never left as a blank canvas.

import { el } from "../dom";
import type { SceneSpec } from "../protocol";
import { type LoadedImages, loadSceneAssets } from "../render/asset_loader";
import { SpriteBook } from "../render/sprites";
import type { GameStage } from "./game_stage";
import type { SceneContext } from "./view";

export class GameAssets {
  readonly progress = el("div", { class: "mug-progress", "data-testid": "asset-progress" });
  readonly error = el("div", { class: "mug-asset-error", "data-testid": "asset-error" });
  private readonly book: SpriteBook;
  private readonly loading: Promise<LoadedImages | null>;
  private failed = false;

  constructor(
    spec: SceneSpec,
    private readonly ctx: SceneContext,
    container: HTMLElement,
  ) {
    this.book = new SpriteBook(spec.assets ?? null);
    container.append(this.progress, this.error);
    const total = spec.assets?.textures.length ?? 0;
    if (total === 0) {
      this.loading = Promise.resolve(new Map());
      return;
    }
    ctx.harness.assets = { loaded: 0, total, state: "loading", error: null };
    this.loading = loadSceneAssets(spec.scene_id, spec.assets, (loaded, count) => {
      if (this.failed) return; // (the other images may still arrive after one failed)
      ctx.harness.assets = { loaded, total: count, state: loaded >= count ? "ready" : "loading", error: null };
      this.progress.textContent = loaded >= count ? "" : `Loading images ${loaded}/${count}`;
    }).catch((err: Error) => {
      this.report(`The game's images could not be loaded: ${err.message}. Please reload the page; if this keeps happening, tell the researcher.`, err.message);
      return null;
    });
  }

  /** Waits for the images and gives them to the stage's renderer; false when they failed (already said). */
  async attach(stage: GameStage): Promise<boolean> {
    const images = await this.loading;
    if (!images) return false;
    stage.renderer.useSprites(this.book, images, (message) =>
      this.report(`The game cannot draw one of its pictures: ${message}.`, message),
    );
    return true;
  }

  /** Shows `text` to the participant and records `detail` for the researcher. */
  private report(text: string, detail: string): void {
    this.failed = true;
    this.progress.textContent = "";
    this.error.textContent = text;
    const h = this.ctx.harness;
    h.assets = { loaded: h.assets?.loaded ?? 0, total: h.assets?.total ?? 0, state: "error", error: detail };
    console.error(`mug: ${detail}`);
    this.ctx.conn.send("client_event", { kind: "log", data: { level: "error", type: "asset", message: detail.slice(0, 500) } });
  }
}
