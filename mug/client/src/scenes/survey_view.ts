// Survey scenes (TextBox, MultipleChoice, ScalesAndTextBox, OptionBoxesWithScalesAndTextBox):
// questions built from the scene's spec, every text set as text (never parsed as HTML). Continue
// refuses while a required answer is missing and names it; answers go to the server typed (a
// scale's point as a number, a multiple choice as a list, option boxes and text as strings).

import { el, html } from "../dom";
import type { SceneSpec, SurveyItem, SurveyQuestion } from "../protocol";
import { noticeBanner } from "./static_view";
import type { SceneContext, SceneView } from "./view";

export type SurveyAnswer = string | number | string[] | null;

/** A question's answer as the page holds it now (null / "" / [] when unanswered). */
export function answerOf(form: HTMLElement, q: SurveyQuestion): SurveyAnswer {
  const inputs = Array.from(form.querySelectorAll<HTMLInputElement | HTMLTextAreaElement>(`[name="${q.name}"]`));
  if (q.kind === "text") return inputs[0]?.value ?? "";
  const checked = inputs.filter((input) => input instanceof HTMLInputElement && input.checked).map((i) => i.value);
  if (q.kind === "choice") return checked;
  if (checked.length === 0) return null;
  return q.kind === "scale" ? Number(checked[0]) : checked[0]!;
}

/** Whether an answer counts as given (text: not only spaces). */
export function answered(value: SurveyAnswer): boolean {
  if (value === null) return false;
  if (typeof value === "string") return value.trim() !== "";
  if (Array.isArray(value)) return value.length > 0;
  return true;
}

export class SurveyView implements SceneView {
  private readonly container: HTMLElement;
  private readonly form: HTMLFormElement;
  private readonly error: HTMLElement;
  private readonly questions: SurveyQuestion[];

  constructor(
    readonly spec: SceneSpec,
    private readonly ctx: SceneContext,
  ) {
    const items = spec.survey ?? [];
    this.questions = items.filter((item): item is SurveyQuestion => item.kind !== "heading");
    this.form = el("form", { class: "mug-body mug-survey", "data-testid": "scene-body", novalidate: "" });
    if (spec.body) this.form.append(html(spec.body)); // (the researcher's own HTML, from the experiment)
    for (const item of items) this.form.append(this.item(item));
    this.form.addEventListener("submit", (e) => e.preventDefault());
    this.form.addEventListener("change", (e) => this.clearMark(e.target));
    this.form.addEventListener("input", (e) => this.clearMark(e.target));
    this.error = el("div", { class: "mug-error", "data-testid": "continue-error", role: "alert" });
    const button = el("button", { type: "button", "data-testid": "continue", text: spec.continue ?? "Continue" });
    button.addEventListener("click", () => void this.submit(button));
    this.container = el("section", { class: "mug-scene", "data-testid": `scene-${spec.scene_id}` }, [
      ...noticeBanner(spec),
      ...(spec.header ? [el("h1", { "data-testid": "scene-header", text: spec.header })] : []),
      this.form,
      el("div", { class: "mug-controls" }, [button, this.error]),
    ]);
    ctx.root.replaceChildren(this.container);
    ctx.harness.status = "ready";
  }

  private item(item: SurveyItem): HTMLElement {
    if (item.kind === "heading") return el("p", { class: "mug-survey-heading", text: item.text });
    const box = el("fieldset", { class: "mug-question", "data-testid": `question-${item.name}` });
    if (item.prompt) box.append(el("legend", { text: item.prompt + (item.required ? " *" : "") }));
    if (item.kind === "text") {
      box.append(el("textarea", { name: item.name, rows: "4", maxlength: String(item.max_length ?? 10000) }));
    } else if (item.kind === "scale") {
      const size = item.size ?? 7;
      const points = el("div", { class: "mug-scale" });
      for (let point = 1; point <= size; point++) {
        const radio = el("input", { type: "radio", name: item.name, value: String(point) });
        points.append(el("label", { class: "mug-scale-point" }, [radio, el("span", { text: String(point) })]));
      }
      box.append(points);
      const labels = item.labels ?? [];
      if (labels.length) {
        box.append(el("div", { class: "mug-scale-labels" }, labels.map((text) => el("span", { text }))));
      }
    } else {
      if (item.kind === "choice" && item.image) box.append(el("img", { class: "mug-question-image", src: item.image, alt: "" }));
      const type = item.kind === "choice" && item.multi ? "checkbox" : "radio";
      const holder = el("div", { class: item.kind === "option" ? "mug-options" : "mug-choices" });
      for (const choice of item.choices ?? []) {
        const input = el("input", { type, name: item.name, value: choice });
        const cls = item.kind === "option" ? "mug-option-box" : "mug-choice";
        holder.append(el("label", { class: cls }, [input, el("span", { text: choice })]));
      }
      box.append(holder);
    }
    return box;
  }

  /** The answers, typed; and the required questions left unanswered. */
  private collect(): { answers: Record<string, SurveyAnswer>; missing: SurveyQuestion[] } {
    const answers: Record<string, SurveyAnswer> = {};
    const missing: SurveyQuestion[] = [];
    for (const q of this.questions) {
      const value = answerOf(this.form, q);
      answers[q.name] = value;
      if (q.required && !answered(value)) missing.push(q);
    }
    return { answers, missing };
  }

  private async submit(button: HTMLButtonElement): Promise<void> {
    const { answers, missing } = this.collect();
    for (const q of this.questions) this.mark(q.name, missing.includes(q));
    if (missing.length) {
      const names = missing.map((q) => `"${q.prompt || q.name}"`).join(", ");
      this.error.textContent = `Please answer ${missing.length === 1 ? "the question" : "these questions"}: ${names}.`;
      this.form.querySelector<HTMLElement>(`[data-testid="question-${missing[0]!.name}"]`)?.scrollIntoView();
      return;
    }
    button.disabled = true;
    this.error.textContent = "";
    try {
      const reply = await this.ctx.conn.request("advance", { scene_id: this.spec.scene_id, answers });
      this.ctx.show(reply.scene);
    } catch (err) {
      this.error.textContent = `Could not continue: ${(err as Error).message}. Please try again.`;
      button.disabled = false;
    }
  }

  private mark(name: string, missing: boolean): void {
    const box = this.form.querySelector<HTMLElement>(`[data-testid="question-${name}"]`);
    if (!box) return;
    box.classList.toggle("mug-missing", missing);
    if (missing) box.setAttribute("aria-invalid", "true");
    else box.removeAttribute("aria-invalid");
  }

  private clearMark(target: EventTarget | null): void {
    if (target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement) this.mark(target.name, false);
  }

  rejoined(): void {}

  destroy(): void {
    this.container.remove();
  }
}
