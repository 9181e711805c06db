// Which path one peer pair's packets take, decided by a pure state machine: the WebRTC glue feeds
// it what happened (channel open, connection failed) and the time; it answers with the path and
// what to do (ask for an ICE restart). No timers or browser objects inside, so every decision is
// tested in Node with a virtual clock (test/p2p/fallback.test.ts).
//
//   connecting ──open──► open ──failed──► restarting ──open──► open
//        │                                     │
//        └──no open within timeout──► relay ◄──┘ no open within timeout after the failure
//                                       │
//                                       └──open (late ICE success)──► open
//
// While not open, packets go through the server relay, so the game never waits for ICE: at the
// start the first packets travel by the server until the DataChannel opens. The timeout decides
// when the pair stops counting as "connecting"/"restarting" and is reported as relayed, and when
// the glue stops asking for ICE restarts. A channel that opens later is used again (switching
// back costs nothing: the peer connection stays up; see docs/p2p.md#transport).

export type LinkState = "connecting" | "open" | "restarting" | "relay";
export type Path = "channel" | "relay";

export type LinkEvent =
  | { type: "open" } // the DataChannel is open and ICE connected
  | { type: "failed"; reason: string } // ICE disconnected/failed or the channel closed
  | { type: "tick" }; // time passed

export type LinkAction =
  | { kind: "restart"; reason: string } // ask for an ICE restart (the offerer restarts, the answerer asks it to)
  | { kind: "state"; state: LinkState; reason: string };

export class LinkPolicy {
  private current: LinkState = "connecting";
  private deadline: number;
  private everOpen = false;

  constructor(
    /** Seconds the pair may spend connecting (or restarting after a failure) before it counts as relayed. */
    readonly timeoutMs: number,
    now: number,
  ) {
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw new RangeError(`LinkPolicy: the connect timeout must be a positive number of ms, got ${timeoutMs}`);
    }
    this.deadline = now + timeoutMs;
  }

  get state(): LinkState {
    return this.current;
  }

  /** The path for the next packet: the DataChannel only while it is open. */
  get path(): Path {
    return this.current === "open" ? "channel" : "relay";
  }

  /** Whether the channel was open at least once (a failure then is a restart, not a first connect). */
  get wasOpen(): boolean {
    return this.everOpen;
  }

  handle(event: LinkEvent, now: number): LinkAction[] {
    switch (event.type) {
      case "open":
        if (this.current === "open") return [];
        this.everOpen = true;
        return [this.enter("open", "DataChannel open")];
      case "failed":
        if (this.current === "open") {
          this.deadline = now + this.timeoutMs;
          return [this.enter("restarting", event.reason), { kind: "restart", reason: event.reason }];
        }
        // Before the first open, ICE may fail outright (e.g. the first candidates were lost): ask for a
        // restart, keeping the original deadline. Once relayed, the pair stays relayed and quiet.
        if (this.current === "connecting" || this.current === "restarting") {
          return [{ kind: "restart", reason: event.reason }];
        }
        return [];
      case "tick":
        if ((this.current === "connecting" || this.current === "restarting") && now >= this.deadline) {
          const why =
            this.current === "connecting"
              ? `no DataChannel opened within ${this.timeoutMs / 1000} s`
              : `the ICE restart did not recover the DataChannel within ${this.timeoutMs / 1000} s`;
          return [this.enter("relay", why)];
        }
        return [];
    }
  }

  private enter(state: LinkState, reason: string): LinkAction {
    this.current = state;
    return { kind: "state", state, reason };
  }
}
