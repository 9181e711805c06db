// The preview widget: the real participant page of a one-scene experiment served from the kernel,
// in an <iframe>, so the renderer and keyboard handling are exactly what participants get. Keys reach
// the game only while its frame has focus (a click on it gives it focus). Below it, what the kernel
// sees: the game's status, episode and step, and the traceback when the env fails. Above it, in so many
// words, that this is a preview whose data is discarded: nothing in it may pass for the study's link.

import { type AnyModel, h, injectStyle, listen, type RenderProps, serverUrl } from "./_anywidget";

interface PreviewState {
  title: string;
  notice: string;
  direct_url: string;
  proxy_path: string;
  players: { participant_id: string; label: string }[];
  game_width: number;
  game_height: number;
  running: boolean;
  status: string;
  episode: number;
  num_episodes: number;
  step: number;
  action: string;
  error: string;
}

const CSS = `
.mugw-preview { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2230; }
.mugw-preview .mugw-bar { display: flex; gap: 12px; align-items: center; margin: 0 0 6px; flex-wrap: wrap; }
.mugw-preview .mugw-title { font-weight: 600; }
.mugw-preview .mugw-hint { color: #596079; font-size: 0.85em; }
.mugw-preview .mugw-notice { font-size: 0.85em; color: #6b4a00; background: #fff6dc; border: 1px solid #f0d58a;
  border-radius: 4px; padding: 3px 8px; margin: 0 0 6px; }
.mugw-preview button { font: inherit; font-size: 0.85em; padding: 3px 10px; border-radius: 4px;
  border: 1px solid #9aa3c4; background: white; cursor: pointer; }
.mugw-preview .mugw-frames { display: flex; gap: 10px; flex-wrap: wrap; }
.mugw-preview .mugw-player { display: flex; flex-direction: column; gap: 2px; }
.mugw-preview iframe { border: 2px solid #c9cfe4; border-radius: 6px; background: #f6f7fb; max-width: 100%; }
.mugw-preview iframe.mugw-focused { border-color: #3451d1; box-shadow: 0 0 0 2px rgba(52, 81, 209, .25); }
.mugw-preview .mugw-kernel { font: 0.85em ui-monospace, monospace; color: #394060; margin-top: 4px; }
.mugw-preview .mugw-error:not(:empty) { white-space: pre-wrap; font: 0.8em ui-monospace, monospace;
  background: #fdecea; color: #8c1d18; border: 1px solid #f1b0aa; border-radius: 4px; padding: 8px 10px;
  margin-top: 6px; max-height: 320px; overflow: auto; }
.mugw-preview .mugw-stopped { color: #8c1d18; }
`;

function kernelLine(model: AnyModel<PreviewState>): string {
  if (!model.get("running")) return "kernel: preview stopped";
  const status = model.get("status") || "waiting for the player";
  const parts = [`kernel: ${status}`];
  if (model.get("episode") > 0) parts.push(`episode ${model.get("episode")}/${model.get("num_episodes")}`);
  if (model.get("step") > 0 || model.get("status") === "running") parts.push(`step ${model.get("step")}`);
  if (model.get("action")) parts.push(`action ${model.get("action")}`);
  return parts.join(" · ");
}

function render({ model, el }: RenderProps<PreviewState>): () => void {
  injectStyle("mugw-preview-style", CSS);
  const root = h("div", { class: "mugw-preview", "data-testid": "mug-preview" });
  const link = h("a", {
    target: "_blank",
    rel: "noopener",
    "data-testid": "preview-link",
    text: "open this preview in a tab",
  });
  const restart = h("button", { type: "button", "data-testid": "preview-restart", text: "Restart" });
  const bar = h("div", { class: "mugw-bar" }, [
    h("span", { class: "mugw-title", text: model.get("title") }),
    h("span", { class: "mugw-hint", text: "Click the game, then use the keys; they reach it only while it has focus." }),
    restart,
    link,
  ]);
  const notice = h("div", { class: "mugw-notice", "data-testid": "preview-notice", text: model.get("notice") });
  const frames = h("div", { class: "mugw-frames" });
  const kernel = h("div", { class: "mugw-kernel", "data-testid": "preview-kernel-status" });
  const error = h("div", { class: "mugw-error", "data-testid": "preview-error" });
  root.append(bar, notice, frames, kernel, error);
  el.append(root);

  let iframes: HTMLIFrameElement[] = [];
  const observers: ResizeObserver[] = [];

  const fit = (iframe: HTMLIFrameElement) => {
    // Same origin (the proxied URL): size the frame to the page. Cross-origin: keep the estimate.
    let doc: Document | null = null;
    try {
      doc = iframe.contentDocument;
    } catch {
      doc = null;
    }
    const body = doc?.body;
    if (!body) return;
    // The body's own height (not the document's, which is at least the frame's): the frame can shrink.
    const observer = new ResizeObserver(() => {
      const height = Math.ceil(body.getBoundingClientRect().height);
      if (height > 0) iframe.style.height = `${Math.min(height + 8, 2000)}px`;
    });
    observer.observe(body);
    observers.push(observer);
  };

  const build = () => {
    for (const observer of observers.splice(0)) observer.disconnect();
    const base = serverUrl(model.get("proxy_path"), model.get("direct_url"));
    const players = model.get("players");
    const width = Math.max(360, model.get("game_width") + 48);
    const height = model.get("game_height") + 260;
    iframes = players.map((player) => {
      const src = `${base}?participant=${encodeURIComponent(player.participant_id)}`;
      const iframe = h("iframe", {
        src,
        title: `MUG preview: ${player.label}`,
        "data-testid": "preview-frame",
        "data-participant": player.participant_id,
        width: String(width),
        height: String(height),
      });
      iframe.style.height = `${height}px`;
      iframe.addEventListener("load", () => fit(iframe));
      return iframe;
    });
    frames.replaceChildren(
      ...players.map((player, i) =>
        players.length > 1
          ? h("div", { class: "mugw-player" }, [h("span", { class: "mugw-hint", text: player.label }), iframes[i]!])
          : iframes[i]!,
      ),
    );
    if (players[0]) link.href = `${base}?participant=${encodeURIComponent(players[0].participant_id)}`;
  };

  const showFocus = () => {
    for (const iframe of iframes) iframe.classList.toggle("mugw-focused", document.activeElement === iframe);
  };
  // The page loses focus to a frame inside it (blur) and gets it back (focus): check on both.
  const onFocusChange = () => window.setTimeout(showFocus, 0);
  window.addEventListener("blur", onFocusChange);
  window.addEventListener("focus", onFocusChange);
  document.addEventListener("focusin", onFocusChange);

  const update = () => {
    kernel.textContent = kernelLine(model);
    kernel.classList.toggle("mugw-stopped", !model.get("running"));
    error.textContent = model.get("error");
    restart.disabled = !model.get("running");
  };
  restart.addEventListener("click", () => model.send({ type: "restart" }));

  build();
  update();
  const unlisten = listen(model, {
    "change:players": build,
    "change:proxy_path": build,
    "change:running": update,
    "change:status": update,
    "change:episode": update,
    "change:num_episodes": update,
    "change:step": update,
    "change:action": update,
    "change:error": update,
  });
  return () => {
    unlisten();
    for (const observer of observers) observer.disconnect();
    window.removeEventListener("blur", onFocusChange);
    window.removeEventListener("focus", onFocusChange);
    document.removeEventListener("focusin", onFocusChange);
  };
}

export default { render };
