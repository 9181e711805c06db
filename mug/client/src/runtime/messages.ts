// Messages between the main-thread API (index.ts) and the runtime worker (worker.ts).
// Every message about a game carries its runId, so late messages of a stopped game are ignored.
import type { Json } from "../protocol";
import type {
  P2PEvent,
  P2PPacket,
  P2PStats,
  RuntimeFrame,
  RuntimeGameSpec,
  RuntimeLoadInfo,
  RuntimeMarks,
  RuntimeP2PSpec,
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
  | { type: "stop"; runId: number }
  // P2P games (docs/p2p.md, "The worker")
  | { type: "run_p2p"; runId: number; spec: RuntimeP2PSpec }
  /** Netcode bytes that arrived from peer `from` (DataChannel or server relay). */
  | { type: "net_in"; runId: number; from: number; bytes: Uint8Array }
  /** The participant's page is visible and focused (recorded with every step). */
  | { type: "focus"; runId: number; focused: boolean }
  /** Test hook (only honoured when spec.testHooks): perturb the local state once. */
  | { type: "test_desync"; runId: number }
  /** Test hook (only honoured when spec.testHooks): block this worker for `ms`, as a frozen tab's is. */
  | { type: "test_freeze"; runId: number; ms: number };

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
  | { type: "end"; runId: number; result: "done" | "error" | "stopped"; fatal: boolean }
  | { type: "net_out"; runId: number; packets: P2PPacket[] }
  | { type: "p2p_event"; runId: number; event: P2PEvent }
  | { type: "p2p_stats"; runId: number; stats: P2PStats };
