// DOM building for the admin dashboard: text only. Strings become text nodes (Node.append) and
// attribute values (setAttribute); nothing here parses HTML, so a participant-supplied string such
// as `<img src=x onerror=...>` shows as those characters.

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  children: (Node | string)[] = [],
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

/** Any value as text for a cell: empty for null and undefined. */
export function text(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return JSON.stringify(value);
}

/** A server time (seconds since the epoch) as the browser's local time of day. */
export function shortTime(t: number | null | undefined): string {
  if (t === null || t === undefined) return "";
  return new Date(t * 1000).toLocaleTimeString();
}
