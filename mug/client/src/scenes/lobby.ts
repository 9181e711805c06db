// The waitroom shown while a multiplayer game waits for partners: how many are here (unless the
// scene hides it) and a countdown to the waitroom's timeout. Shared by server-run and P2P games.

import { el } from "../dom";
import type { Harness } from "../harness";
import type { WaitroomStatus } from "../protocol";

export class Lobby {
  readonly element = el("div", { class: "mug-waitroom", "data-testid": "waitroom" });
  private timer: number | null = null;

  constructor(
    private readonly harness: Harness,
    private readonly hideCount: boolean,
  ) {}

  /** Shows (or updates) the waitroom at the top of `container`. */
  show(container: HTMLElement, status: WaitroomStatus): void {
    const harness = this.harness;
    harness.waitroom = { waiting: status.waiting, needed: status.needed, secondsLeft: status.seconds_left };
    const until = performance.now() + status.seconds_left * 1000;
    const count = this.hideCount
      ? []
      : [el("div", { "data-testid": "waitroom-count", text: `${status.waiting} of ${status.needed} players here` })];
    const clock = el("div", { "data-testid": "waitroom-countdown" });
    const tick = () => {
      const left = Math.max(0, Math.ceil((until - performance.now()) / 1000));
      clock.textContent = `Time left: ${left} s`;
      if (harness.waitroom) harness.waitroom.secondsLeft = left;
    };
    tick();
    this.stopTimer();
    this.timer = window.setInterval(tick, 250);
    this.element.replaceChildren(el("div", { text: "Waiting for other players…" }), ...count, clock);
    if (!this.element.isConnected) container.prepend(this.element);
  }

  get shown(): boolean {
    return this.element.isConnected;
  }

  /** The game was matched (or the scene is left): take the waitroom down. */
  close(): void {
    this.stopTimer();
    this.element.remove();
    this.harness.waitroom = null;
  }

  private stopTimer(): void {
    if (this.timer !== null) window.clearInterval(this.timer);
    this.timer = null;
  }
}
