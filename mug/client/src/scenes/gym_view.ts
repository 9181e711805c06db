// A game scene played on the server: draw the frames it sends, send the actions of the keys held.

import { el, html } from "../dom";
import { fnv1a, type PageStatus } from "../harness";
import { ActionResolver, sameAction } from "../input";
import type { Frame, GameStatus, Json, Matched, SceneSpec, WaitroomStatus } from "../protocol";
import { Renderer } from "../render/renderer";
import { noticeBanner } from "./static_view";
import type { SceneContext, SceneView } from "./view";

export class GymView implements SceneView {
  private readonly container: HTMLElement;
  private renderer: Renderer | null = null;
  private readonly resolver: ActionResolver;
  private lastSent: Json;
  private readonly hud = el("div", { class: "mug-hud", "data-testid": "hud" });
  private readonly overlay = el("div", { class: "mug-overlay", "data-testid": "game-status" });
  private readonly message = el("div", { class: "mug-game-message", "data-testid": "game-message" });
  private readonly lobby = el("div", { class: "mug-waitroom", "data-testid": "waitroom" });
  private countdown: number | null = null;
  private lobbyTimer: number | null = null;
  private readonly listeners: [string, EventListener][] = [];

  constructor(
    readonly spec: SceneSpec,
    private readonly ctx: SceneContext,
  ) {
    this.resolver = new ActionResolver(spec.action_mapping ?? [], spec.default_action ?? null);
    this.lastSent = this.resolver.defaultAction;
    this.container = el("section", { class: "mug-scene mug-gym", "data-testid": `scene-${spec.scene_id}` }, [
      ...noticeBanner(spec),
      ...(spec.header ? [el("h1", { "data-testid": "scene-header", text: spec.header })] : []),
    ]);
    ctx.root.replaceChildren(this.container);
    if (spec.game) this.play();
    else this.showIntro();
  }

  private showIntro(): void {
    const intro = el("div", { class: "mug-intro" }, [html(this.spec.body ?? "", { class: "mug-body" })]);
    const button = el("button", { type: "button", "data-testid": "start-game", text: "Start" });
    button.addEventListener("click", () => {
      intro.remove();
      this.play();
    });
    intro.append(el("div", { class: "mug-controls" }, [button]));
    this.container.append(intro);
    this.setStatus("waiting_start");
  }

  private play(): void {
    const stage = el("div", { class: "mug-stage", "data-testid": "game" });
    const canvasHost = el("div", { class: "mug-canvas" });
    stage.append(this.hud, canvasHost, this.overlay);
    this.container.append(this.message, stage);
    if (this.spec.in_game_body) this.container.append(html(this.spec.in_game_body, { class: "mug-body" }));
    this.renderer = new Renderer(
      canvasHost,
      this.spec.game_width ?? 600,
      this.spec.game_height ?? 400,
      this.spec.background ?? "#ffffff",
    );
    this.listen(window, "keydown", (e) => this.onKey(e as KeyboardEvent, true));
    this.listen(window, "keyup", (e) => this.onKey(e as KeyboardEvent, false));
    this.listen(window, "blur", () => {
      this.resolver.releaseAll();
      this.sendIfChanged();
    });
    this.setStatus("starting");
    void this.start();
  }

  private async start(): Promise<void> {
    try {
      const reply = await this.ctx.conn.request<{ ok: true; game?: Matched; waitroom?: WaitroomStatus }>(
        "start_game",
        { scene_id: this.spec.scene_id },
      );
      if (reply.waitroom) this.waitroom(reply.waitroom);
      if (reply.game) {
        // The reply is ordered after every earlier event: its status is the game's status now.
        this.ctx.harness.agentId = reply.game.agent_id ?? null;
        if (reply.game.status !== "starting") this.setStatus(reply.game.status as PageStatus);
      }
    } catch (err) {
      this.overlay.textContent = `The game could not start: ${(err as Error).message}`;
      this.setStatus("error");
    }
  }

  private onKey(event: KeyboardEvent, down: boolean): void {
    if (!this.resolver.isMapped(event.key)) return;
    event.preventDefault();
    if (down) this.resolver.press(event.key);
    else this.resolver.release(event.key);
    if (this.spec.input_mode === "single_keystroke") {
      if (down && !event.repeat) this.send(this.resolver.current());
    } else {
      this.sendIfChanged();
    }
  }

  private sendIfChanged(): void {
    if (this.spec.input_mode === "single_keystroke") return;
    const action = this.resolver.current();
    if (!sameAction(action, this.lastSent)) this.send(action);
  }

  private send(action: Json): void {
    this.lastSent = action;
    const payload = { scene_id: this.spec.scene_id, action };
    const delayMs = ((this.spec.input_delay ?? 0) * 1000) / (this.spec.fps ?? 30);
    if (delayMs > 0) window.setTimeout(() => this.ctx.conn.send("action", payload), delayMs);
    else this.ctx.conn.send("action", payload);
  }

  waitroom(status: WaitroomStatus): void {
    if (status.scene_id !== this.spec.scene_id) return;
    const harness = this.ctx.harness;
    harness.waitroom = { waiting: status.waiting, needed: status.needed, secondsLeft: status.seconds_left };
    const until = performance.now() + status.seconds_left * 1000;
    const count = this.spec.hide_lobby_count
      ? []
      : [el("div", { "data-testid": "waitroom-count", text: `${status.waiting} of ${status.needed} players here` })];
    const clock = el("div", { "data-testid": "waitroom-countdown" });
    const tick = () => {
      const left = Math.max(0, Math.ceil((until - performance.now()) / 1000));
      clock.textContent = `Time left: ${left} s`;
      if (harness.waitroom) harness.waitroom.secondsLeft = left;
    };
    tick();
    this.stopLobbyTimer();
    this.lobbyTimer = window.setInterval(tick, 250);
    this.lobby.replaceChildren(el("div", { text: "Waiting for other players…" }), ...count, clock);
    if (!this.lobby.isConnected) this.container.prepend(this.lobby);
    this.setStatus("waitroom");
  }

  matched(info: Matched): void {
    if (info.scene_id !== this.spec.scene_id) return;
    this.stopLobbyTimer();
    this.lobby.remove();
    this.ctx.harness.waitroom = null;
    this.ctx.harness.agentId = info.agent_id ?? null;
    this.setStatus("starting");
  }

  private stopLobbyTimer(): void {
    if (this.lobbyTimer !== null) window.clearInterval(this.lobbyTimer);
    this.lobbyTimer = null;
  }

  frame(frame: Frame): void {
    if (frame.scene_id !== this.spec.scene_id || !this.renderer) return;
    this.renderer.draw(frame.state, frame.full === true);
    if (frame.hud !== undefined) this.hud.textContent = frame.hud ?? "";
    const h = this.ctx.harness;
    if (!h.game || h.game.gameId !== frame.game_id) h.game = { gameId: frame.game_id, frames: 0, digest: "", lastHud: null };
    const seed = h.game.digest ? parseInt(h.game.digest, 16) : undefined;
    h.game.digest = fnv1a(`${frame.episode}:${frame.step}:${JSON.stringify(frame.state)}`, seed).toString(16);
    h.game.frames++;
    h.game.lastHud = this.hud.textContent;
    this.ctx.harness.episode = frame.episode;
    this.ctx.harness.step = frame.step;
    this.ctx.harness.render = this.renderer.stats;
  }

  status(status: GameStatus): void {
    if (status.scene_id !== this.spec.scene_id) return;
    this.ctx.harness.episode = status.episode;
    if (status.message && status.status !== "error") {
      this.message.textContent = status.message;
      this.ctx.harness.gameMessage = status.message;
    }
    if (this.lobby.isConnected) this.matched({ ...status, step: 0, scene_id: status.scene_id });
    this.stopCountdown();
    switch (status.status) {
      case "resetting":
        this.startCountdown(status);
        break;
      case "paused":
        this.overlay.textContent = "Paused";
        break;
      case "error":
        this.overlay.textContent = status.message ?? "The game stopped because of an error.";
        break;
      case "done":
        this.overlay.textContent = "Done!";
        break;
      default:
        this.overlay.textContent = "";
    }
    this.setStatus(status.status);
  }

  private startCountdown(status: GameStatus): void {
    const until = performance.now() + (status.freeze_s ?? 0) * 1000;
    const tick = () => {
      const left = Math.max(0, Math.ceil((until - performance.now()) / 1000));
      this.overlay.textContent = `Episode ${status.episode} of ${status.num_episodes} starts in ${left}…`;
    };
    tick();
    this.countdown = window.setInterval(tick, 250);
  }

  private stopCountdown(): void {
    if (this.countdown !== null) window.clearInterval(this.countdown);
    this.countdown = null;
  }

  private setStatus(status: PageStatus): void {
    this.ctx.harness.status = status;
    this.container.dataset.status = status;
  }

  rejoined(spec: SceneSpec): void {
    // The server keeps running the game; it sends a full frame next. Re-send what is held.
    this.lastSent = this.resolver.defaultAction;
    if (!this.renderer && spec.game) {
      this.container.querySelector(".mug-intro")?.remove();
      this.play();
    } else if (this.renderer) {
      void this.start();
      this.sendIfChanged();
    }
  }

  private listen(target: EventTarget, type: string, fn: EventListener): void {
    target.addEventListener(type, fn);
    this.listeners.push([type, fn]);
  }

  destroy(): void {
    this.stopCountdown();
    this.stopLobbyTimer();
    for (const [type, fn] of this.listeners) window.removeEventListener(type, fn);
    this.renderer?.destroy();
    this.container.remove();
  }
}
