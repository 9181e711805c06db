// The replay widget: a recorded episode, rebuilt and verified in the kernel, played here with the
// participants' own renderer (render/renderer.ts, bundled in). Every frame is in the model, so play,
// pause, step and scrub need no round trip to the kernel (a busy kernel does not stall playback);
// the position is written back so Python sees where the researcher is. Everything shown is text
// (textContent): values from the record are never parsed as HTML.

import type { RenderState } from "../protocol";
import { loadSceneAssets } from "../render/asset_loader";
import { Renderer } from "../render/renderer";
import { type AssetsSpec, SpriteBook } from "../render/sprites";
import { divergentPositions, fullStates } from "./_replay_frames";
import { h, injectStyle, listen, type RenderProps } from "./_anywidget";

interface StepInfo {
  step: number;
  rewards: Record<string, number>;
  actions: Record<string, unknown>;
  divergences: string[];
}

interface ReplayState {
  title: string;
  game_width: number;
  game_height: number;
  background: string;
  fps: number;
  frames: RenderState[];
  huds: string[];
  /** Empty when the scene declared none. */
  assets: Partial<AssetsSpec>;
  steps: StepInfo[];
  position: number;
  playing: boolean;
  verdict: string;
  ok: boolean;
  divergence: { step?: number; field?: string; message?: string };
  notes: string[];
}

const CSS = `
.mugw-replay { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2230; }
.mugw-replay .mugw-title { font-weight: 600; margin-bottom: 4px; }
.mugw-replay .mugw-verdict { font-size: 0.85em; border-radius: 4px; padding: 3px 8px; margin: 0 0 6px; }
.mugw-replay .mugw-verdict.mugw-ok { color: #1c5e2a; background: #e6f5e9; border: 1px solid #9fd3aa; }
.mugw-replay .mugw-verdict.mugw-bad { color: #8c1d18; background: #fdecea; border: 1px solid #f1b0aa; }
.mugw-replay .mugw-stage { border: 2px solid #c9cfe4; border-radius: 6px; display: inline-block; line-height: 0; }
.mugw-replay .mugw-hud { font-size: 0.9em; min-height: 1.2em; margin: 2px 0; }
.mugw-replay .mugw-controls { display: flex; gap: 6px; align-items: center; margin: 6px 0 2px; }
.mugw-replay button { font: inherit; font-size: 0.85em; padding: 2px 10px; border-radius: 4px;
  border: 1px solid #9aa3c4; background: white; cursor: pointer; }
.mugw-replay input[type=range] { flex: 1; min-width: 160px; }
.mugw-replay .mugw-marks { position: relative; height: 6px; margin: 0 0 4px; }
.mugw-replay .mugw-mark { position: absolute; top: 0; width: 2px; height: 6px; background: #c62828; }
.mugw-replay .mugw-line { font: 0.85em ui-monospace, monospace; color: #394060; white-space: pre-wrap; }
.mugw-replay .mugw-line.mugw-bad { color: #8c1d18; }
.mugw-replay .mugw-notes { font-size: 0.8em; color: #6b4a00; margin: 4px 0 0; padding-left: 18px; }
`;

function stepLine(info: StepInfo | undefined, position: number, last: number): string {
  if (!info) return "";
  if (position === 0) return `after the reset · ${last} steps recorded`;
  const rewards = Object.entries(info.rewards)
    .map(([agent, r]) => `${agent} ${r}`)
    .join(", ");
  const actions = Object.entries(info.actions)
    .map(([agent, a]) => `${agent} ${JSON.stringify(a)}`)
    .join(", ");
  const check = info.divergences.length ? "differs from the record" : "matches the record";
  return `step ${info.step}/${last} · actions ${actions} · rewards ${rewards} · ${check}`;
}

function render({ model, el }: RenderProps<ReplayState>): () => void {
  injectStyle("mugw-replay-style", CSS);
  const root = h("div", { class: "mugw-replay", "data-testid": "mug-replay" });
  const title = h("div", { class: "mugw-title", text: model.get("title") });
  const verdict = h("div", { class: "mugw-verdict", "data-testid": "replay-verdict" });
  const stage = h("div", { class: "mugw-stage", "data-testid": "replay-stage" });
  const hud = h("div", { class: "mugw-hud", "data-testid": "replay-hud" });
  const back = h("button", { type: "button", title: "step back", "data-testid": "replay-back", text: "◀ step" });
  const play = h("button", { type: "button", "data-testid": "replay-play", text: "Play" });
  const forward = h("button", { type: "button", title: "step on", "data-testid": "replay-step", text: "step ▶" });
  const scrub = h("input", { type: "range", min: "0", step: "1", "data-testid": "replay-scrub" });
  const marks = h("div", { class: "mugw-marks" });
  const line = h("div", { class: "mugw-line", "data-testid": "replay-step-line" });
  const problem = h("div", { class: "mugw-line mugw-bad", "data-testid": "replay-step-divergence" });
  const notes = h("ul", { class: "mugw-notes", "data-testid": "replay-notes" });
  root.append(
    title, verdict, hud, stage,
    h("div", { class: "mugw-controls" }, [back, play, forward, scrub]),
    marks, line, problem, notes,
  ); // prettier-ignore
  el.append(root);

  const renderer = new Renderer(stage, model.get("game_width"), model.get("game_height"), model.get("background"));
  // The scene's sprite images (inlined by the kernel): frames are drawn once they are loaded.
  const assets = model.get("assets");
  const sprites = assets.textures
    ? loadSceneAssets(`replay-${Math.random()}`, assets as AssetsSpec, () => undefined).then(
        (images) => renderer.useSprites(new SpriteBook(assets as AssetsSpec), images, (message) => (problem.textContent = message)),
        (err: Error) => {
          problem.textContent = `The sprites cannot be drawn: ${err.message}`;
        },
      )
    : Promise.resolve();
  let states = fullStates(model.get("frames"));
  let shown = -1; // the position drawn last
  let timer: number | null = null;

  const last = () => Math.max(0, model.get("frames").length - 1);

  const draw = () => {
    const position = Math.max(0, Math.min(last(), model.get("position")));
    const frames = model.get("frames");
    if (position === shown) return;
    // One step on: the diff, exactly as the participants' page applied it; anything else: the full state.
    if (shown >= 0 && position === shown + 1) renderer.draw(frames[position] as RenderState, false);
    else renderer.draw(states[position] as RenderState, true);
    shown = position;
    root.dataset.position = String(position);
    scrub.value = String(position);
    hud.textContent = model.get("huds")[position] ?? "";
    const info = model.get("steps")[position];
    line.textContent = stepLine(info, position, last());
    problem.textContent = info ? info.divergences.join("\n") : "";
  };

  const describe = () => {
    verdict.textContent = model.get("verdict");
    verdict.className = `mugw-verdict ${model.get("ok") ? "mugw-ok" : "mugw-bad"}`;
    notes.replaceChildren(...model.get("notes").map((note) => h("li", { text: note })));
    scrub.max = String(last());
    marks.replaceChildren(
      ...divergentPositions(model.get("steps")).map((i) => {
        const mark = h("span", { class: "mugw-mark", title: `step ${i} differs from the record` });
        mark.style.left = `${(100 * i) / Math.max(1, last())}%`;
        return mark;
      }),
    );
  };

  const setPosition = (position: number) => {
    model.set("position", Math.max(0, Math.min(last(), position)));
    model.save_changes();
  };

  const stopTimer = () => {
    if (timer !== null) window.clearInterval(timer);
    timer = null;
  };

  const syncPlaying = () => {
    const playing = model.get("playing");
    play.textContent = playing ? "Pause" : "Play";
    stopTimer();
    if (!playing) return;
    timer = window.setInterval(
      () => {
        const next = model.get("position") + 1;
        if (next > last()) {
          model.set("playing", false);
          model.save_changes();
          syncPlaying();
          return;
        }
        setPosition(next);
        draw();
      },
      1000 / Math.max(1, model.get("fps")),
    );
  };

  const setPlaying = (playing: boolean) => {
    if (playing && model.get("position") >= last()) setPosition(0);
    model.set("playing", playing);
    model.save_changes();
    syncPlaying();
    draw();
  };

  play.addEventListener("click", () => setPlaying(!model.get("playing")));
  forward.addEventListener("click", () => {
    setPlaying(false);
    setPosition(model.get("position") + 1);
    draw();
  });
  back.addEventListener("click", () => {
    setPlaying(false);
    setPosition(model.get("position") - 1);
    draw();
  });
  scrub.addEventListener("input", () => {
    setPlaying(false);
    setPosition(Number(scrub.value));
    draw();
  });

  describe();
  void Promise.all([renderer.ready, sprites]).then(() => {
    draw();
    root.dataset.ready = "true";
  });
  syncPlaying();
  const unlisten = listen(model, {
    "change:position": draw,
    "change:playing": syncPlaying,
    "change:frames": () => {
      states = fullStates(model.get("frames"));
      shown = -1;
      describe();
      draw();
    },
    "change:verdict": describe,
    "change:notes": describe,
    "change:ok": describe,
  });
  return () => {
    unlisten();
    stopTimer();
    renderer.destroy();
  };
}

export default { render };
