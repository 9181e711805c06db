// Messages between the main-thread API (index.ts) and the runtime worker (worker.ts).
// Every message about a game carries its runId, so late messages of a stopped game are ignored.
import type { Json } from "../protocol";
import type {
  RuntimeFrame,
  RuntimeGameSpec,
  RuntimeLoadInfo,
  RuntimeMarks,
  RuntimeRecord,
  RuntimeStats,
  RuntimeStatus,
  RuntimeStatusInfo,
  RuntimeUrls,
} from "./types";

export type ToWorker =
  | { type: "preload"; urls: RuntimeUrls; memorySnapshot: boolean }
  | { type: "run"; runId: number; spec: RuntimeGameSpec }
  | { type: "action"; runId: number; action: Json }
  | { type: "stop"; runId: number };

export type FromWorker =
  | { type: "progress"; runId: number | null; fraction: number; label: string }
  | { type: "ready"; info: RuntimeLoadInfo }
  | { type: "loaded"; runId: number; marks: RuntimeMarks }
  /** The snapshot this preload made was stored (or not). */
  | { type: "snapshot_saved"; ok: boolean; error: string | null }
  | { type: "preload_failed"; message: string; traceback: string | null }
  | { type: "frame"; runId: number; frame: RuntimeFrame }
  | { type: "status"; runId: number; status: RuntimeStatus; info: RuntimeStatusInfo }
  | { type: "record"; runId: number; record: RuntimeRecord }
  | { type: "error"; runId: number; message: string; traceback: string | null }
  | { type: "stats"; runId: number; stats: RuntimeStats }
  /** fatal: the Python runtime is unusable (a Pyodide fatal error); the page should start a new worker. */
  | { type: "end"; runId: number; result: "done" | "error" | "stopped"; fatal: boolean };
