// The participant page: connect, join, and show whichever scene the server says the participant is in.

import "./app.css";
import { Connection, RequestError } from "./connection";
import { el } from "./dom";
import { createHarness, type Harness } from "./harness";
import type { Frame, GameStatus, Matched, P2PProbe, SceneSpec, WaitroomStatus } from "./protocol";
import { Outbox, type OutboxRecord } from "./outbox";
import { PageErrors } from "./page_errors";
import { PyodideRuntime } from "./runtime";
import { BrowserGameView } from "./scenes/browser_game_view";
import { GymView } from "./scenes/gym_view";
import { P2PGameView } from "./scenes/p2p_game_view";
import { StaticView } from "./scenes/static_view";
import { SurveyView } from "./scenes/survey_view";
import type { SceneContext, SceneView } from "./scenes/view";

const ID_PARAMS = ["participant", "participant_id", "PROLIFIC_PID", "workerId", "subject_id"];

/** A participant id in the page's path (`.../<id>`, as the links of the system MUG replaces had it;
 * docs/crowdsourcing.md): the last path segment, when it is one. */
function pathId(): string | null {
  let last: string;
  try {
    last = decodeURIComponent(window.location.pathname.split("/").pop() ?? "");
  } catch {
    return null;
  }
  return /^[A-Za-z0-9_.:@-]{1,128}$/.test(last) ? last : null;
}
const PING_INTERVAL_MS = 3000;
// In a waitroom the round trip is measured more often: a latency-aware matchmaker waits for a few
// measures before it groups a participant (docs/matchmaking.md).
const WAITING_PING_INTERVAL_MS = 500;
const STORAGE_KEY = `mug:participant:${window.location.pathname}`;
/** Where this browser keeps its session secret: made here before the first join, shared by the
 * browser's tabs, presented on every join (see mug/server/sessions/binding.py). */
const SECRET_KEY = `mug:secret:${window.location.pathname}`;

class App {
  private readonly harness: Harness = createHarness();
  private readonly conn = new Connection();
  private readonly root = document.getElementById("mug-root")!;
  private readonly banner = el("div", { class: "mug-connection", "data-testid": "connection" });
  private readonly warning = el("div", { class: "mug-connection", role: "alert", "data-testid": "monitor-warning" });
  private view: SceneView | null = null;
  private participantId: string | null = null;
  private replaced = false;
  private secret: string | null = null; // this page's copy, for when storage is blocked
  /** The last frame of a server-run game shown: sent on a rejoin so the server knows what was seen.
   * Kept in session storage too, so a reload while the server is away still reports it. */
  private seen: { game_id: string; episode: number; step: number } | null = readSeen();
  private seenSaved = 0;
  private outbox: Outbox | null = null;
  /** The outbox being opened: a second join (a quick reconnect) waits for it instead of opening
   * another, which would number its records from the same stored count as the first. */
  private outboxOpening: Promise<Outbox> | null = null;
  private runtime: PyodideRuntime | null = null;
  private readonly version: string = readConfig().version ?? "";
  /** The page's uncaught errors, reported to the server for the admin dashboard (docs/admin.md). */
  private readonly pageErrors = new PageErrors(this.conn);

  start(): void {
    this.harness.status = "connecting";
    this.harness.ping = () => this.conn.ping();
    this.pageErrors.install();
    document.body.prepend(this.banner);
    document.body.prepend(this.warning);
    const socket = this.conn.socket;
    socket.on("connect", () => void this.join());
    socket.on("disconnect", () => {
      this.conn.markLeft();
      this.pageErrors.setJoined(false);
      this.harness.connected = false;
      if (!this.replaced) this.banner.textContent = "Connection lost — reconnecting…";
    });
    socket.on("scene", (spec: SceneSpec) => this.show(spec));
    socket.on("frame", (frame: Frame) => {
      this.seen = { game_id: frame.game_id, episode: frame.episode, step: frame.step };
      this.view?.frame?.(frame);
    });
    // Saved when the page goes away and every second (not every frame: storage writes are synchronous).
    window.addEventListener("pagehide", () => saveSeen(this.seen));
    window.setInterval(() => {
      if (this.seen && this.seen.step !== this.seenSaved) {
        this.seenSaved = this.seen.step;
        saveSeen(this.seen);
      }
    }, 1000);
    socket.on("game_status", (status: GameStatus) => this.view?.status?.(status));
    socket.on("waitroom", (status: WaitroomStatus) => this.view?.waitroom?.(status));
    socket.on("matched", (info: Matched) => this.view?.matched?.(info));
    socket.on("p2p_probe", (req: P2PProbe) => this.view?.p2pProbe?.(req));
    // Continuous monitoring's warnings (a slow connection, a hidden tab): shown at the top, as text.
    socket.on("monitor_warning", (msg: { scene_id: string; message: string }) => {
      this.harness.warning = msg.message;
      this.warning.textContent = msg.message;
      window.setTimeout(() => {
        if (this.warning.textContent === msg.message) this.warning.textContent = "";
      }, 15_000);
    });
    socket.on("error", (err: { event: string; message: string }) => {
      this.harness.errors.push(err);
      console.warn(`mug: server rejected '${err.event}': ${err.message}`);
    });
    socket.on("session_replaced", (msg: { message: string }) => {
      this.replaced = true;
      socket.disconnect();
      this.view?.destroy(); // stops a client-side game running in this page
      this.view = null;
      // The newer page owns the outbox now: stop sending from this one (what is left in IndexedDB
      // is sent by the newer page) so two pages never number records at the same time.
      this.outbox?.close();
      this.runtime?.terminate();
      this.root.replaceChildren(el("div", { class: "mug-notice", "data-testid": "replaced", text: msg.message }));
      this.harness.status = "replaced";
    });
    document.addEventListener("visibilitychange", () =>
      this.conn.send("client_event", { kind: "visibility", data: { state: document.visibilityState } }),
    );
    window.addEventListener("blur", () => this.conn.send("client_event", { kind: "blur" }));
    window.addEventListener("focus", () => this.conn.send("client_event", { kind: "focus" }));
    // A ping every few seconds keeps the measured round trip fresh (shown to the researcher's monitor).
    window.setInterval(() => void this.measureRtt(), WAITING_PING_INTERVAL_MS);
  }

  private lastPingMs = Number.NEGATIVE_INFINITY;

  private async measureRtt(): Promise<void> {
    if (!this.conn.socket.connected || !this.harness.connected) return;
    const now = performance.now();
    if (this.harness.status !== "waitroom" && now - this.lastPingMs < PING_INTERVAL_MS) return;
    this.lastPingMs = now;
    try {
      this.harness.rttMs = await this.conn.ping(this.harness.rttMs);
    } catch {
      // a lost ping is not an error worth showing; the next one tries again
    }
  }

  /** Round trips measured one after the other (the server screens the participant by them: docs/screening.md). */
  private async measurePings(count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      try {
        this.harness.rttMs = await this.conn.ping(this.harness.rttMs);
      } catch {
        return; // (asked again at the next join)
      }
    }
  }

  private async join(): Promise<void> {
    const params = new URLSearchParams(window.location.search);
    const query: Record<string, string> = {};
    params.forEach((value, key) => {
      query[key] = value;
    });
    let stored: string | null = null;
    try {
      stored = window.localStorage.getItem(STORAGE_KEY);
    } catch {
      stored = null; // storage can be blocked; the id in the URL still resumes the session
    }
    // Made and kept before it is ever sent: a join whose reply is lost cannot leave this browser
    // without the secret its session was bound to.
    this.secret ??= readStorage(SECRET_KEY) ?? newSecret();
    writeStorage(SECRET_KEY, this.secret);
    const secret = this.secret;
    try {
      const reply = await this.conn.request("join", {
        participant_id: this.participantId ?? pathId() ?? stored,
        query,
        secret,
        ...(this.seen ? { seen: this.seen } : {}),
      });
      this.participantId = reply.participant_id;
      if (reply.secret) {
        this.secret = reply.secret; // (the server makes one only for a client that sent none)
        writeStorage(SECRET_KEY, reply.secret);
      }
      this.remember(reply.participant_id, params);
      this.harness.participantId = reply.participant_id;
      this.harness.connected = true;
      this.conn.markJoined();
      this.pageErrors.setJoined(true);
      this.banner.textContent = "";
      await this.openOutbox(reply.participant_id);
      if (reply.preload_runtime) void this.getRuntime().preload().catch(() => undefined); // errors show in the game scene
      if (reply.measure_pings) void this.measurePings(reply.measure_pings); // entry screening by round trip
      // A scene that comes with a notice (e.g. its game was interrupted) is shown afresh.
      const same = this.view && this.view.spec.scene_id === reply.scene.scene_id && !reply.scene.notice;
      if (same) this.view!.rejoined(reply.scene);
      else this.show(reply.scene);
    } catch (err) {
      if (err instanceof RequestError && err.reply?.refused === "open_elsewhere") {
        this.elsewhere(err.message);
        return;
      }
      this.banner.textContent = `Could not join the study: ${(err as Error).message}`;
      this.harness.status = "error";
    }
  }

  /** Another browser holds this participant's session: say so, and stop trying. */
  private elsewhere(message: string): void {
    this.replaced = true;
    this.conn.socket.disconnect();
    this.view?.destroy();
    this.view = null;
    this.outbox?.close();
    this.runtime?.terminate();
    this.banner.textContent = "";
    this.root.replaceChildren(el("div", { class: "mug-notice", "data-testid": "elsewhere", text: message }));
    this.harness.status = "elsewhere";
  }

  /** Opens the outbox once (after the first join) and sends what an earlier page left unsent. */
  private async openOutbox(participantId: string): Promise<void> {
    const send = async (
      source: string,
      records: OutboxRecord[],
    ): Promise<{ committed: number[]; refused: number[] }> =>
      await this.conn.request("client_records", {
        source,
        records,
      });
    this.outboxOpening ??= Outbox.open(participantId, send).then((box) => {
      this.outbox = box;
      this.harness.outbox = {
        get pending() {
          return box.pending;
        },
        get acked() {
          return box.acked;
        },
      };
      return box;
    });
    const box = await this.outboxOpening;
    void box.flushSome();
  }

  private getRuntime(): PyodideRuntime {
    if (!this.runtime) {
      const page = window.location.href;
      const v = this.version ? `?v=${this.version}` : "";
      // Pyodide and onnxruntime-web build their files' URLs from a base, so the build version goes
      // into the path (static/v/<build>/...: cached without revalidation, see mug/server/web/app.py).
      const vendor = this.version ? `static/v/${this.version}/vendor/` : "static/vendor/";
      this.runtime = new PyodideRuntime({
        workerUrl: new URL(`static/worker.js${v}`, page).href,
        pyodideBase: new URL(`${vendor}pyodide/`, page).href,
        packageIndexUrl: null,
        mugEnvZipUrl: new URL("runtime/mug-env.zip", page).href,
        ortWasmBase: new URL(`${vendor}ort/`, page).href,
      });
    }
    return this.runtime;
  }

  /** Keeps the id in the URL and in storage so a reload resumes the same participant. */
  private remember(id: string, params: URLSearchParams): void {
    try {
      window.localStorage.setItem(STORAGE_KEY, id);
    } catch {
      // ignored: the URL below is enough
    }
    if (!ID_PARAMS.some((name) => params.get(name)) && pathId() === null) {
      params.set("participant", id);
      window.history.replaceState(null, "", `${window.location.pathname}?${params.toString()}`);
    }
  }

  show(spec: SceneSpec): void {
    this.view?.destroy();
    this.harness.sceneId = spec.scene_id;
    this.harness.sceneType = spec.scene_type;
    this.harness.episode = 0;
    this.harness.step = 0;
    this.harness.agentId = null;
    this.harness.waitroom = null;
    this.harness.gameMessage = null;
    const ctx: SceneContext = {
      conn: this.conn,
      harness: this.harness,
      root: this.root,
      participantId: this.participantId ?? "",
      show: (next) => this.show(next),
      outbox: () => this.outbox,
      runtime: () => this.getRuntime(),
    };
    if (spec.scene_type === "survey") this.view = new SurveyView(spec, ctx);
    else if (spec.scene_type !== "gym") this.view = new StaticView(spec, ctx);
    else if (spec.runtime && spec.multiplayer_mode === "p2p") this.view = new P2PGameView(spec, ctx);
    else if (spec.runtime) this.view = new BrowserGameView(spec, ctx);
    else this.view = new GymView(spec, ctx);
    window.scrollTo(0, 0);
  }
}

/** 32 random bytes as URL-safe text (the server accepts 16-128 of A-Z a-z 0-9 _ -). */
function newSecret(): string {
  const bytes = new Uint8Array(32);
  crypto.getRandomValues(bytes);
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

const SEEN_KEY = `mug:seen:${window.location.pathname}`;

function readSeen(): { game_id: string; episode: number; step: number } | null {
  try {
    const seen = JSON.parse(window.sessionStorage.getItem(SEEN_KEY) ?? "null") as unknown;
    if (seen && typeof seen === "object") {
      const s = seen as { game_id?: unknown; episode?: unknown; step?: unknown };
      if (typeof s.game_id === "string" && Number.isInteger(s.episode) && Number.isInteger(s.step)) {
        return { game_id: s.game_id, episode: s.episode as number, step: s.step as number };
      }
    }
  } catch {
    // unreadable or blocked: nothing seen
  }
  return null;
}

function saveSeen(seen: { game_id: string; episode: number; step: number } | null): void {
  try {
    if (seen) window.sessionStorage.setItem(SEEN_KEY, JSON.stringify(seen));
  } catch {
    // blocked: the page's memory still has it until a reload
  }
}

function readStorage(key: string): string | null {
  try {
    return window.localStorage.getItem(key);
  } catch {
    return null; // storage can be blocked: this page keeps its own copy
  }
}

function writeStorage(key: string, value: string): void {
  try {
    window.localStorage.setItem(key, value);
  } catch {
    // blocked: a reload of this page will be refused as another browser (documented)
  }
}

function readConfig(): { title?: string; version?: string } {
  try {
    return JSON.parse(document.getElementById("mug-config")?.textContent ?? "{}") as { version?: string };
  } catch {
    return {};
  }
}

new App().start();
