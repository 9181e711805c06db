// The small part of anywidget's front-end API the MUG widgets use (anywidget >= 0.9).
// Widget modules are loaded by anywidget from a blob: URL, so every URL they build is resolved
// against the notebook page (window.location), never import.meta.url.
import { el as h } from "../dom";

export interface AnyModel<T> {
  get<K extends keyof T>(name: K): T[K];
  set<K extends keyof T>(name: K, value: T[K]): void;
  save_changes(): void;
  on(event: string, callback: (...args: unknown[]) => void): void;
  off(event: string, callback: (...args: unknown[]) => void): void;
  send(content: unknown): void;
}

export interface RenderProps<T> {
  model: AnyModel<T>;
  el: HTMLElement;
}

/** Subscribes to model changes and returns a function that unsubscribes them all. */
export function listen<T>(model: AnyModel<T>, events: Record<string, () => void>): () => void {
  for (const [event, fn] of Object.entries(events)) model.on(event, fn);
  return () => {
    for (const [event, fn] of Object.entries(events)) model.off(event, fn);
  };
}

/** The element builder of the participant page (dom.ts has no dependencies, so bundling it is cheap). */
export { h };

/** Adds a <style> once per document (widgets may be displayed many times). */
export function injectStyle(id: string, css: string): void {
  if (document.getElementById(id)) return;
  const style = h("style", { id });
  style.textContent = css;
  document.head.append(style);
}

/** The URL of a MUG server as this browser reaches it: the proxied path when there is one. */
export function serverUrl(proxyPath: string, directUrl: string): string {
  return proxyPath ? new URL(proxyPath, window.location.href).href : directUrl;
}
