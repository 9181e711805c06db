// What every scene view offers the app.

import type { Connection } from "../connection";
import type { Outbox } from "../outbox";
import type { PyodideRuntime } from "../runtime";
import type { Harness } from "../harness";
import type { Frame, GameStatus, Matched, P2PProbe, SceneSpec, WaitroomStatus } from "../protocol";

export interface SceneContext {
  conn: Connection;
  harness: Harness;
  root: HTMLElement;
  participantId: string;
  /** Moves the page to the scene the server says comes next. */
  show(spec: SceneSpec): void;
  /** The participant's outbox (null until the first join). */
  outbox(): Outbox | null;
  /** The browser runtime for client-side games (created on first use). */
  runtime(): PyodideRuntime;
}

export interface SceneView {
  readonly spec: SceneSpec;
  /** The page re-joined (reload or reconnect) and the server says it is still in this scene. */
  rejoined(spec: SceneSpec): void;
  frame?(frame: Frame): void;
  status?(status: GameStatus): void;
  waitroom?(status: WaitroomStatus): void;
  matched?(info: Matched): void;
  /** A P2P scene's proposed group measures its round trips before it plays. */
  p2pProbe?(req: P2PProbe): void;
  destroy(): void;
}
