// What every scene view offers the app.

import type { Connection } from "../connection";
import type { Harness } from "../harness";
import type { Frame, GameStatus, Matched, SceneSpec, WaitroomStatus } from "../protocol";

export interface SceneContext {
  conn: Connection;
  harness: Harness;
  root: HTMLElement;
  participantId: string;
  /** Moves the page to the scene the server says comes next. */
  show(spec: SceneSpec): void;
}

export interface SceneView {
  readonly spec: SceneSpec;
  /** The page re-joined (reload or reconnect) and the server says it is still in this scene. */
  rejoined(spec: SceneSpec): void;
  frame?(frame: Frame): void;
  status?(status: GameStatus): void;
  waitroom?(status: WaitroomStatus): void;
  matched?(info: Matched): void;
  destroy(): void;
}
