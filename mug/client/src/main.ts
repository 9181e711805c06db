// The participant page: connect, join, and show whichever scene the server says the participant is in.

import "./app.css";
import { Connection } from "./connection";
import { el } from "./dom";
import { createHarness, type Harness } from "./harness";
import type { Frame, GameStatus, Matched, SceneSpec, WaitroomStatus } from "./protocol";
import { GymView } from "./scenes/gym_view";
import { StaticView } from "./scenes/static_view";
import type { SceneContext, SceneView } from "./scenes/view";

const ID_PARAMS = ["participant", "participant_id", "PROLIFIC_PID", "workerId", "subject_id"];
const PING_INTERVAL_MS = 3000;
const STORAGE_KEY = `mug:participant:${window.location.pathname}`;

class App {
  private readonly harness: Harness = createHarness();
  private readonly conn = new Connection();
  private readonly root = document.getElementById("mug-root")!;
  private readonly banner = el("div", { class: "mug-connection", "data-testid": "connection" });
  private view: SceneView | null = null;
  private participantId: string | null = null;
  private replaced = false;

  start(): void {
    this.harness.status = "connecting";
    this.harness.ping = () => this.conn.ping();
    document.body.prepend(this.banner);
    const socket = this.conn.socket;
    socket.on("connect", () => void this.join());
    socket.on("disconnect", () => {
      this.harness.connected = false;
      if (!this.replaced) this.banner.textContent = "Connection lost — reconnecting…";
    });
    socket.on("scene", (spec: SceneSpec) => this.show(spec));
    socket.on("frame", (frame: Frame) => this.view?.frame?.(frame));
    socket.on("game_status", (status: GameStatus) => this.view?.status?.(status));
    socket.on("waitroom", (status: WaitroomStatus) => this.view?.waitroom?.(status));
    socket.on("matched", (info: Matched) => this.view?.matched?.(info));
    socket.on("error", (err: { event: string; message: string }) => {
      this.harness.errors.push(err);
      console.warn(`mug: server rejected '${err.event}': ${err.message}`);
    });
    socket.on("session_replaced", (msg: { message: string }) => {
      this.replaced = true;
      socket.disconnect();
      this.view?.destroy();
      this.view = null;
      this.root.replaceChildren(el("div", { class: "mug-notice", "data-testid": "replaced", text: msg.message }));
      this.harness.status = "replaced";
    });
    document.addEventListener("visibilitychange", () =>
      this.conn.send("client_event", { kind: "visibility", data: { state: document.visibilityState } }),
    );
    window.addEventListener("blur", () => this.conn.socket.connected && this.conn.send("client_event", { kind: "blur" }));
    window.addEventListener("focus", () => this.conn.socket.connected && this.conn.send("client_event", { kind: "focus" }));
    // A ping every few seconds keeps the measured round trip fresh (shown to the researcher's monitor).
    window.setInterval(() => void this.measureRtt(), PING_INTERVAL_MS);
  }

  private async measureRtt(): Promise<void> {
    if (!this.conn.socket.connected || !this.harness.connected) return;
    try {
      this.harness.rttMs = await this.conn.ping(this.harness.rttMs);
    } catch {
      // a lost ping is not an error worth showing; the next one tries again
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
    try {
      const reply = await this.conn.request<{ ok: true; participant_id: string; scene: SceneSpec }>("join", {
        participant_id: this.participantId ?? stored,
        query,
      });
      this.participantId = reply.participant_id;
      this.remember(reply.participant_id, params);
      this.harness.participantId = reply.participant_id;
      this.harness.connected = true;
      this.banner.textContent = "";
      if (this.view && this.view.spec.scene_id === reply.scene.scene_id) this.view.rejoined(reply.scene);
      else this.show(reply.scene);
    } catch (err) {
      this.banner.textContent = `Could not join the study: ${(err as Error).message}`;
      this.harness.status = "error";
    }
  }

  /** Keeps the id in the URL and in storage so a reload resumes the same participant. */
  private remember(id: string, params: URLSearchParams): void {
    try {
      window.localStorage.setItem(STORAGE_KEY, id);
    } catch {
      // ignored: the URL below is enough
    }
    if (!ID_PARAMS.some((name) => params.get(name))) {
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
    };
    this.view = spec.scene_type === "gym" ? new GymView(spec, ctx) : new StaticView(spec, ctx);
    window.scrollTo(0, 0);
  }
}

new App().start();
