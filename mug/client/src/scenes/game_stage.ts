// The part of a game scene both kinds of game share: the canvas with its HUD and status overlay,
// the keyboard turned into actions, and the harness's view of frames and statuses.

import { el, html } from "../dom";
import { fnv1a, type Harness, type InputLatencySample, type PageStatus } from "../harness";
import { ActionResolver, sameAction } from "../input";
import type { Json, RenderState, SceneSpec } from "../protocol";
import { Renderer } from "../render/renderer";

export interface StageFrame {
  game_id: string;
  episode: number;
  step: number;
  state: RenderState;
  full?: boolean;
  hud?: string | null;
}

export interface StageStatus {
  status: string;
  episode: number;
  num_episodes: number;
  freeze_s?: number;
  message?: string;
}

export class GameStage {
  readonly element = el("div", { class: "mug-stage", "data-testid": "game" });
  readonly message = el("div", { class: "mug-game-message", "data-testid": "game-message" });
  private readonly hud = el("div", { class: "mug-hud", "data-testid": "hud" });
  private readonly overlay = el("div", { class: "mug-overlay", "data-testid": "game-status" });
  /** The text beside the game: the scene's `in_game_body`, or this participant's own page (`showPage`). */
  private readonly page: HTMLDivElement;
  readonly renderer: Renderer;
  private readonly resolver: ActionResolver;
  private lastSent: Json;
  private countdown: number | null = null;
  private readonly listeners: [string, EventListener][] = [];
  /** The latency probe (harness.inputLatency): a key press waiting to show, and the watched object as last drawn. */
  private probeKey: { key: string; keyAt: number; stepAtKey: number } | null = null;
  private probeSeen: string | null = null;

  /** `onAction` receives each new action: on a change of the keys held, or on each key press. */
  constructor(
    container: HTMLElement,
    private readonly spec: SceneSpec,
    private readonly harness: Harness,
    private readonly onAction: (action: Json) => void,
  ) {
    const canvasHost = el("div", { class: "mug-canvas" });
    this.element.append(this.hud, canvasHost, this.overlay);
    container.append(this.message, this.element);
    this.page = html(spec.in_game_body ?? "", { class: "mug-body", "data-testid": "in-game-body" });
    this.page.hidden = !spec.in_game_body;
    container.append(this.page);
    this.renderer = new Renderer(canvasHost, spec.game_width ?? 600, spec.game_height ?? 400, spec.background ?? "#ffffff");
    this.resolver = new ActionResolver(spec.action_mapping ?? [], spec.default_action ?? null);
    this.lastSent = this.resolver.defaultAction;
    this.listen("keydown", (e) => this.onKey(e as KeyboardEvent, true));
    this.listen("keyup", (e) => this.onKey(e as KeyboardEvent, false));
    this.listen("blur", () => {
      this.resolver.releaseAll();
      this.sendIfChanged();
    });
  }

  /** Show this participant's own in-game HTML (researcher-written, trusted) in place of the scene's
   * `in_game_body`; a game without one (or whose function failed) keeps the scene's text. */
  showPage(game: { page_html?: string | null } | null | undefined): void {
    const markup = game?.page_html;
    if (typeof markup !== "string") return;
    this.page.innerHTML = markup;
    this.page.hidden = markup === "";
  }

  /** Forget what was sent (a reconnected server knows nothing) and send what is held now. */
  resend(): void {
    this.lastSent = this.resolver.defaultAction;
    this.sendIfChanged();
  }

  private onKey(event: KeyboardEvent, down: boolean): void {
    if (!this.resolver.isMapped(event.key)) return;
    event.preventDefault();
    if (down && !event.repeat && this.harness.inputLatency?.objectId && !this.probeKey) {
      this.probeKey = { key: event.key, keyAt: event.timeStamp, stepAtKey: this.harness.step };
    }
    if (down) this.resolver.press(event.key);
    else this.resolver.release(event.key);
    if (this.spec.input_mode === "single_keystroke") {
      if (down && !event.repeat) this.onAction(this.resolver.current());
    } else {
      this.sendIfChanged();
    }
  }

  private sendIfChanged(): void {
    if (this.spec.input_mode === "single_keystroke") return;
    const action = this.resolver.current();
    if (!sameAction(action, this.lastSent)) {
      this.lastSent = action;
      this.onAction(action);
    }
  }

  frame(frame: StageFrame): void {
    this.renderer.draw(frame.state, frame.full === true);
    if (frame.hud !== undefined) this.hud.textContent = frame.hud ?? "";
    const h = this.harness;
    if (!h.game || h.game.gameId !== frame.game_id) h.game = { gameId: frame.game_id, frames: 0, digest: "", lastHud: null };
    const seed = h.game.digest ? parseInt(h.game.digest, 16) : undefined;
    h.game.digest = fnv1a(`${frame.episode}:${frame.step}:${JSON.stringify(frame.state)}`, seed).toString(16);
    h.game.frames++;
    h.game.lastHud = this.hud.textContent;
    h.episode = frame.episode;
    h.step = frame.step;
    h.render = this.renderer.stats;
    this.probe(frame);
  }

  /** The latency probe: does this frame change the watched object, and is a key press waiting to show? */
  private probe(frame: StageFrame): void {
    const probe = this.harness.inputLatency;
    if (!probe?.objectId) return;
    if (frame.full === true || frame.state.removed.includes(probe.objectId)) this.probeSeen = null;
    const object = frame.state.objects.find((o) => o.id === probe.objectId);
    if (!object) return;
    const seen = JSON.stringify(object);
    const changed = this.probeSeen !== null && seen !== this.probeSeen;
    this.probeSeen = seen;
    if (!changed) return;
    const now = performance.now();
    probe.lastChangeAt = now;
    const key = this.probeKey;
    if (!key) return;
    this.probeKey = null;
    const sample: InputLatencySample = { ...key, step: frame.step, frameAt: now, drawnAt: null };
    probe.samples.push(sample);
    // The renderer applies frames in its next animation frame: this callback runs in that one.
    requestAnimationFrame(() => {
      sample.drawnAt = performance.now();
    });
  }

  /** Shows a game status; returns the page status it stands for. */
  status(status: StageStatus): PageStatus {
    this.harness.episode = status.episode;
    if (status.message && status.status !== "error") {
      this.message.textContent = status.message;
      this.harness.gameMessage = status.message;
    }
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
    return status.status as PageStatus;
  }

  /** A line of text over the canvas (loading, errors); empty clears it. */
  say(text: string): void {
    this.overlay.textContent = text;
  }

  private startCountdown(status: StageStatus): void {
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

  private listen(type: string, fn: EventListener): void {
    window.addEventListener(type, fn);
    this.listeners.push([type, fn]);
  }

  destroy(): void {
    this.stopCountdown();
    for (const [type, fn] of this.listeners) window.removeEventListener(type, fn);
    this.renderer.destroy();
  }
}

/** The header, notice and intro (body + Start button) every game scene opens with. */
export function gameIntro(spec: SceneSpec, onStart: () => void): HTMLElement {
  const intro = el("div", { class: "mug-intro" }, [html(spec.body ?? "", { class: "mug-body" })]);
  const button = el("button", { type: "button", "data-testid": "start-game", text: "Start" });
  button.addEventListener("click", () => {
    intro.remove();
    onStart();
  });
  intro.append(el("div", { class: "mug-controls" }, [button]));
  return intro;
}
