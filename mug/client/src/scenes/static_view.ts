// Static, start, end and completion-code scenes: HTML, forms, Continue / Finish.

import { collectAnswers, el, html } from "../dom";
import type { SceneSpec } from "../protocol";
import type { SceneContext, SceneView } from "./view";

export function noticeBanner(spec: SceneSpec): HTMLElement[] {
  return spec.notice ? [el("div", { class: "mug-notice", "data-testid": "notice", text: spec.notice })] : [];
}

export class StaticView implements SceneView {
  private readonly container: HTMLElement;

  constructor(
    readonly spec: SceneSpec,
    private readonly ctx: SceneContext,
  ) {
    const isEnd = spec.scene_type === "end" || spec.scene_type === "completion_code";
    const form = el("form", { class: "mug-body", "data-testid": "scene-body" });
    form.append(html(spec.body ?? ""));
    form.addEventListener("submit", (e) => e.preventDefault());
    this.container = el("section", { class: "mug-scene", "data-testid": `scene-${spec.scene_id}` }, [
      ...noticeBanner(spec),
      ...(spec.header ? [el("h1", { "data-testid": "scene-header", text: spec.header })] : []),
      form,
    ]);
    if (spec.scene_type === "completion_code" && spec.completion_code) {
      this.container.append(
        el("div", { class: "mug-code", "data-testid": "completion-code", text: spec.completion_code }),
      );
    }
    if (!isEnd && spec.continue) this.container.append(this.continueButton(form, spec.continue));
    if (isEnd && spec.redirect_url) this.container.append(this.finishButton(spec));
    ctx.root.replaceChildren(this.container);
    ctx.harness.status = isEnd ? "ended" : "ready";
  }

  private continueButton(form: HTMLFormElement, label: string): HTMLElement {
    const error = el("div", { class: "mug-error", "data-testid": "continue-error" });
    const button = el("button", { type: "button", "data-testid": "continue", text: label });
    const refresh = () => {
      button.disabled = !form.checkValidity();
    };
    form.addEventListener("input", refresh);
    form.addEventListener("change", refresh);
    refresh();
    button.addEventListener("click", async () => {
      if (!form.reportValidity()) return;
      button.disabled = true;
      error.textContent = "";
      try {
        const reply = await this.ctx.conn.request("advance", {
          scene_id: this.spec.scene_id,
          answers: collectAnswers(form),
        });
        this.ctx.show(reply.scene);
      } catch (err) {
        error.textContent = `Could not continue: ${(err as Error).message}. Please try again.`;
        button.disabled = false;
      }
    });
    return el("div", { class: "mug-controls" }, [button, error]);
  }

  private finishButton(spec: SceneSpec): HTMLElement {
    const button = el("button", { type: "button", "data-testid": "finish", text: "Finish" });
    button.addEventListener("click", async () => {
      const url = new URL(spec.redirect_url!);
      if (spec.append_subject_id) url.searchParams.set(spec.redirect_param ?? "participant", this.ctx.participantId);
      button.disabled = true;
      try {
        // Recorded before the browser leaves (the `redirected` event); a server that cannot be
        // reached does not keep the participant here.
        await this.ctx.conn.request("leave", { scene_id: spec.scene_id, url: url.toString() }, 3_000);
      } catch (err) {
        console.warn(`mug: the redirect was not recorded: ${(err as Error).message}`);
      }
      window.location.assign(url.toString());
    });
    return el("div", { class: "mug-controls" }, [button]);
  }

  rejoined(): void {}

  destroy(): void {
    this.container.remove();
  }
}
