// Reports the page's uncaught errors (window "error" and "unhandledrejection") to the server, so the
// researcher sees them in the admin dashboard (docs/admin.md). Each is a `client_event` of kind
// "log" with `data.level = "error"`, recorded as a `client_log` event. Rate-limited here: at most
// MAX_PER_MINUTE a minute and MAX_PER_PAGE per page load, the same error (message and place) at
// most MAX_REPEATS times; errors raised before the page has joined wait (up to MAX_QUEUED).

import type { Connection } from "./connection";
import type { Json } from "./protocol";

const MAX_PER_MINUTE = 5;
const MAX_PER_PAGE = 30;
const MAX_REPEATS = 3;
const MAX_QUEUED = 10;
const MESSAGE_CHARS = 500;
const SOURCE_CHARS = 300;
const STACK_CHARS = 2000;

export interface PageErrorData {
  level: "error";
  type: "error" | "unhandledrejection";
  message: string;
  source?: string;
  line?: number;
  column?: number;
  stack?: string;
}

export class PageErrors {
  private readonly queue: PageErrorData[] = [];
  private readonly sentAt: number[] = [];
  private readonly repeats = new Map<string, number>();
  private total = 0;
  private joined = false;
  /** Errors not reported because of the limits (for the test harness). */
  dropped = 0;

  constructor(private readonly conn: Connection) {}

  /** Listens for the page's uncaught errors from now on. */
  install(): void {
    window.addEventListener("error", (event: ErrorEvent) => {
      const error: unknown = event.error;
      this.report({
        level: "error",
        type: "error",
        message: event.message || describe(error),
        ...(event.filename ? { source: event.filename.slice(0, SOURCE_CHARS) } : {}),
        ...(event.lineno ? { line: event.lineno, column: event.colno } : {}),
        ...(error instanceof Error && error.stack ? { stack: error.stack.slice(0, STACK_CHARS) } : {}),
      });
    });
    window.addEventListener("unhandledrejection", (event: PromiseRejectionEvent) => {
      const reason: unknown = event.reason;
      this.report({
        level: "error",
        type: "unhandledrejection",
        message: `unhandled rejection: ${describe(reason)}`,
        ...(reason instanceof Error && reason.stack ? { stack: reason.stack.slice(0, STACK_CHARS) } : {}),
      });
    });
  }

  /** The page has joined (true) or lost its connection (false): queued errors go out on joining. */
  setJoined(joined: boolean): void {
    this.joined = joined;
    if (!joined) return;
    for (const data of this.queue.splice(0)) this.send(data);
  }

  private send(data: PageErrorData): void {
    const payload: { [key: string]: Json } = {};
    for (const [key, value] of Object.entries(data)) if (value !== undefined) payload[key] = value as Json;
    this.conn.send("client_event", { kind: "log", data: payload });
  }

  private report(data: PageErrorData): void {
    data.message = data.message.slice(0, MESSAGE_CHARS);
    const key = `${data.message}|${data.source ?? ""}|${data.line ?? ""}`;
    const seen = this.repeats.get(key) ?? 0;
    const now = Date.now();
    while (this.sentAt.length && now - this.sentAt[0]! > 60_000) this.sentAt.shift();
    if (seen >= MAX_REPEATS || this.total >= MAX_PER_PAGE || this.sentAt.length >= MAX_PER_MINUTE) {
      this.dropped += 1;
      return;
    }
    this.repeats.set(key, seen + 1);
    this.total += 1;
    this.sentAt.push(now);
    if (this.joined) this.send(data);
    else if (this.queue.length < MAX_QUEUED) this.queue.push(data);
    else this.dropped += 1;
  }
}

function describe(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  if (typeof value === "string") return value;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
