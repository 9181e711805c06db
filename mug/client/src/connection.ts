// The page's Socket.IO connection: same origin, relative path (works under any URL prefix),
// websocket transport only, acknowledgements with timeouts.

import { io, type Socket } from "socket.io-client";
import type { AckedEvent, ClientMessages, UnackedEvent } from "./messages";
import type { Ack, Replies } from "./protocol";

export class Connection {
  readonly socket: Socket;
  private joined = false;
  private whenJoined: Promise<void>;
  private markReady: () => void = () => undefined;

  constructor() {
    this.whenJoined = new Promise((resolve) => (this.markReady = resolve));
    // Resolving against the page keeps a path prefix (e.g. /proxy/8888/) in the Socket.IO path.
    const path = new URL("socket.io", window.location.href).pathname;
    this.socket = io({ path, transports: ["websocket"], reconnectionDelayMax: 2000 });
  }

  /** The server knows this page's participant again (after every (re)connect's `join`). */
  markJoined(): void {
    this.joined = true;
    this.markReady();
  }

  /** The connection dropped: requests wait for the next join (Socket.IO would otherwise send
   * buffered events before the page could say who it is, and the server would refuse them). */
  markLeft(): void {
    if (!this.joined) return;
    this.joined = false;
    this.whenJoined = new Promise((resolve) => (this.markReady = resolve));
  }

  /** Emits an event and resolves with the server's acknowledgement; rejects on error or timeout.
   * Anything but `join` waits until the page has joined. */
  async request<E extends AckedEvent>(event: E, payload: ClientMessages[E], timeoutMs = 10_000): Promise<Replies[E]> {
    if (event !== "join") await this.whenJoined;
    const reply = (await this.socket.timeout(timeoutMs).emitWithAck(event, payload)) as Replies[E] | Ack;
    if (!reply || reply.ok !== true) throw new RequestError(event, reply as Ack | undefined);
    return reply as Replies[E];
  }

  /** Fire-and-forget (actions, focus changes): dropped while the page has not joined. */
  send<E extends UnackedEvent>(event: E, payload: ClientMessages[E]): void {
    if (this.joined) this.socket.emit(event, payload);
  }

  /** Round trip to the server in milliseconds; `lastRtt` reports the previous one for monitoring. */
  async ping(lastRtt: number | null = null): Promise<number> {
    const start = performance.now();
    await this.request("ping", lastRtt === null ? { t: start } : { t: start, rtt: lastRtt });
    return performance.now() - start;
  }
}

/** The server answered a request with an error; `reply` is its whole answer (e.g. `retry_after_s`). */
export class RequestError extends Error {
  constructor(
    readonly event: string,
    readonly reply: (Ack & Record<string, unknown>) | undefined,
  ) {
    super(reply?.error ?? `no reply to ${event}`);
  }
}
