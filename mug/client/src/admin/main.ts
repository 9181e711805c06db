// The admin dashboard (served at admin/ with the admin token; docs/admin.md).
//
// Everything it shows is pushed by the server over the `live` websocket (mug/server/web/admin.py):
// participants, games, waitrooms, exclusions and a problems feed, and the detail of the participant
// being looked at. Strings in it may come from participants (ids, user agents, query values, page
// error messages, answers): they only ever go into the page as text (textContent, attributes),
// never as HTML.

import "./admin.css";
import { h, shortTime, text } from "./dom";
import type { AdminConfig, Detail, Game, Participant, Problem, State, Waitroom } from "./types";

declare global {
  interface Window {
    /** What the dashboard has received, for tests: waited on instead of sleeps. */
    mugAdmin?: AdminHarness;
  }
}

interface AdminHarness {
  connected: boolean;
  updates: number;
  state: State | null;
  detail: Detail | null;
  lastAction: { ok: boolean; message: string } | null;
}

function readConfig(): AdminConfig {
  const node = document.getElementById("mug-admin-config");
  const parsed = JSON.parse(node?.textContent ?? "{}") as Partial<AdminConfig>;
  return {
    experiment_id: parsed.experiment_id ?? "",
    title: parsed.title ?? "",
    token: parsed.token ?? "",
    parquet: parsed.parquet ?? false,
  };
}

class Dashboard {
  private readonly harness: AdminHarness = { connected: false, updates: 0, state: null, detail: null, lastAction: null };
  private readonly status = h("span", { class: "adm-live", "data-testid": "live-status" }, ["connecting…"]);
  private readonly counts = h("div", { class: "adm-counts", "data-testid": "counts" });
  private readonly participants = h("tbody", { "data-testid": "participants" });
  private readonly games = h("tbody", { "data-testid": "games" });
  private readonly waitrooms = h("tbody", { "data-testid": "waitrooms" });
  private readonly exclusions = h("tbody", { "data-testid": "exclusions" });
  private readonly problems = h("ol", { class: "adm-problems", "data-testid": "problems" });
  private readonly detailPanel = h("section", { class: "adm-detail", "data-testid": "detail", hidden: "" });
  private readonly detailBody = h("div", { "data-testid": "detail-body" });
  private readonly detailTitle = h("h2", { "data-testid": "detail-title" });
  private readonly excludeMessage = h("textarea", {
    "data-testid": "exclude-message",
    rows: "3",
    placeholder: "The message the participant sees (e.g. why the study ended for them)",
  });
  private readonly actionResult = h("p", { class: "adm-result", "data-testid": "action-result" });
  private watching: string | null = null;
  private socket: WebSocket | null = null;
  private retryMs = 500;

  constructor(private readonly config: AdminConfig) {
    window.mugAdmin = this.harness;
  }

  start(): void {
    const root = document.getElementById("mug-admin")!;
    const downloads = h("div", { class: "adm-downloads" }, [
      this.downloadLink("csv", "Download data (CSV zip)"),
      ...(this.config.parquet ? [this.downloadLink("parquet", "Download data (Parquet zip)")] : []),
    ]);
    const excludeButton = h("button", { type: "button", "data-testid": "exclude-button" }, ["Exclude participant"]);
    excludeButton.addEventListener("click", () => void this.exclude());
    const close = h("button", { type: "button", class: "adm-secondary", "data-testid": "detail-close" }, ["Close"]);
    close.addEventListener("click", () => this.watch(null));
    this.detailPanel.append(
      h("div", { class: "adm-detail-head" }, [this.detailTitle, close]),
      h("div", { class: "adm-exclude" }, [this.excludeMessage, excludeButton, this.actionResult]),
      this.detailBody,
    );
    root.replaceChildren(
      h("header", {}, [
        h("h1", {}, [`MUG admin — ${this.config.title} (${this.config.experiment_id})`]),
        this.status,
        downloads,
      ]),
      this.counts,
      this.section("Participants", ["Participant", "Status", "Scene", "Connection", "Ping", "Focus", "Page errors",
        "Game / waitroom", "Updated", ""], this.participants),
      this.section("Games", ["Game", "Scene", "Mode", "Status", "Players", "Episode / step", "FPS", "Lateness"],
        this.games),
      this.section("Waitrooms", ["Scene", "Waiting", "Needed", "Seconds left"], this.waitrooms),
      this.section("Exclusions", ["Participant", "Scene", "Reason", "When"], this.exclusions),
      h("section", {}, [h("h2", {}, ["Problems"]), this.problems]),
      this.detailPanel,
    );
    this.connect();
  }

  private downloadLink(format: string, label: string): HTMLAnchorElement {
    const params = new URLSearchParams({ format, token: this.config.token });
    return h("a", { href: `download?${params.toString()}`, download: "", "data-testid": `download-${format}` }, [label]);
  }

  private section(title: string, columns: string[], body: HTMLTableSectionElement): HTMLElement {
    const head = h("tr", {}, columns.map((c) => h("th", {}, [c])));
    return h("section", {}, [h("h2", {}, [title]), h("table", {}, [h("thead", {}, [head]), body])]);
  }

  // -- the live channel ----------------------------------------------------------------------

  private connect(): void {
    const url = new URL(`live?token=${encodeURIComponent(this.config.token)}`, window.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(url.href);
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.retryMs = 500;
      this.harness.connected = true;
      this.status.textContent = "live";
      this.status.dataset["state"] = "live";
      if (this.watching !== null) socket.send(JSON.stringify({ watch: this.watching }));
    });
    socket.addEventListener("message", (event: MessageEvent<string>) => this.receive(event.data));
    socket.addEventListener("close", () => {
      this.harness.connected = false;
      this.status.textContent = "disconnected — reconnecting…";
      this.status.dataset["state"] = "down";
      window.setTimeout(() => this.connect(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 10_000);
    });
  }

  private receive(raw: string): void {
    let message: { type?: string } & Record<string, unknown>;
    try {
      message = JSON.parse(raw) as { type?: string } & Record<string, unknown>;
    } catch {
      return;
    }
    if (message.type === "state") {
      const state = message as unknown as State;
      this.harness.state = state;
      this.harness.updates += 1;
      this.render(state);
    } else if (message.type === "detail") {
      if (message["participant_id"] === this.watching) this.renderDetail((message["participant"] ?? null) as Detail | null);
    } else if (message.type === "error") {
      this.actionResult.textContent = String(message["message"] ?? "error");
    }
  }

  private watch(pid: string | null): void {
    this.watching = pid;
    this.harness.detail = null;
    this.detailPanel.hidden = pid === null;
    this.detailTitle.textContent = pid === null ? "" : `Participant ${pid}`;
    this.detailBody.replaceChildren(pid === null ? "" : "Loading…");
    this.actionResult.textContent = "";
    this.excludeMessage.value = "";
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify({ watch: pid }));
    if (pid !== null) this.detailPanel.scrollIntoView({ block: "nearest" });
  }

  // -- actions ---------------------------------------------------------------------------------

  private async exclude(): Promise<void> {
    const pid = this.watching;
    const message = this.excludeMessage.value.trim();
    if (pid === null) return;
    if (!message) {
      this.result(false, "Write the message the participant will see first.");
      return;
    }
    try {
      const response = await fetch("api/exclude", {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${this.config.token}` },
        body: JSON.stringify({ participant_id: pid, message }),
      });
      const reply = (await response.json()) as { ok: boolean; error?: string; completion_code?: string | null };
      if (reply.ok) this.result(true, `Excluded ${pid}` + (reply.completion_code ? ` (code ${reply.completion_code})` : ""));
      else this.result(false, `Could not exclude ${pid}: ${reply.error ?? response.statusText}`);
    } catch (err) {
      this.result(false, `Could not exclude ${pid}: ${(err as Error).message}`);
    }
  }

  private result(ok: boolean, message: string): void {
    this.harness.lastAction = { ok, message };
    this.actionResult.textContent = message;
    this.actionResult.dataset["ok"] = String(ok);
  }

  // -- rendering (text only) -----------------------------------------------------------------

  private render(state: State): void {
    const c = state.counts;
    this.counts.replaceChildren(
      ...[
        ["connected", c["connected"]],
        ["active", c["active"]],
        ["completed", c["completed"]],
        ["excluded", c["excluded"]],
        ["opened only", c["idle"]],
        ["games", c["games"]],
        ["waiting", c["waiting"]],
      ].map(([label, value]) => h("span", { class: "adm-count" }, [h("b", {}, [text(value ?? 0)]), ` ${label}`])),
    );
    this.participants.replaceChildren(...state.participants.map((p) => this.participantRow(p)));
    this.games.replaceChildren(...state.games.map((g) => gameRow(g)));
    this.waitrooms.replaceChildren(...state.waitrooms.map((w) => waitroomRow(w)));
    this.exclusions.replaceChildren(
      ...state.exclusions.map((e) =>
        h("tr", { "data-participant": e.participant_id }, [
          h("td", {}, [e.participant_id]),
          h("td", {}, [text(e.scene_id)]),
          h("td", {}, [text(e.reason)]),
          h("td", {}, [shortTime(e.t)]),
        ]),
      ),
    );
    this.problems.replaceChildren(...state.problems.map((p) => problemItem(p)));
  }

  private participantRow(p: Participant): HTMLTableRowElement {
    const open = h("button", { type: "button", class: "adm-secondary", "data-testid": "open-participant" }, ["Details"]);
    open.addEventListener("click", () => this.watch(p.participant_id));
    const where = p.game_id ? `game ${p.game_id.slice(0, 8)}` : p.waitroom ? `waitroom ${p.waitroom}` : "";
    return h("tr", { "data-testid": "participant-row", "data-participant": p.participant_id, "data-status": p.status }, [
      h("td", { class: "adm-id", title: p.user_agent ?? "" }, [p.participant_id]),
      h("td", { "data-testid": "participant-status" }, [p.idle ? `${p.status} (opened only)` : p.status]),
      h("td", { "data-testid": "participant-scene" }, [text(p.scene_id)]),
      h("td", {}, [p.connected ? "connected" : "away"]),
      h("td", {}, [p.rtt_ms === null || p.rtt_ms === undefined ? "" : `${Math.round(p.rtt_ms)} ms`]),
      h("td", { "data-testid": "participant-focus" }, [text(p.focus)]),
      h("td", {}, [p.page_errors ? String(p.page_errors) : ""]),
      h("td", {}, [where]),
      h("td", {}, [shortTime(p.updated_at)]),
      h("td", {}, [open]),
    ]);
  }

  private renderDetail(detail: Detail | null): void {
    this.harness.detail = detail;
    if (detail === null) {
      this.detailBody.replaceChildren("This participant is not in the data.");
      return;
    }
    const facts: [string, string][] = [
      ["Status", detail.status],
      ["Scene", `${text(detail.scene_id)} (#${detail.scene_index})`],
      ["Completion code", text(detail.completion_code)],
      ["Connected", detail.connected ? "yes" : "no"],
      ["User agent", text(detail.user_agent)],
      ["First seen", shortTime(detail.created_at)],
      ...Object.entries(detail.query ?? {}).map(([k, v]): [string, string] => [`Link: ${k}`, text(v)]),
    ];
    const errors = detail.events.filter((e) => e.kind === "client_log");
    this.detailBody.replaceChildren(
      h("dl", { "data-testid": "detail-facts" }, facts.flatMap(([k, v]) => [h("dt", {}, [k]), h("dd", {}, [v])])),
      h("h3", {}, [`Console errors (${errors.length})`]),
      h(
        "ol",
        { class: "adm-errors", "data-testid": "detail-errors" },
        errors.map((e) => h("li", {}, [`${shortTime(e.t)} `, text(field(e.data, "message")), stackOf(e.data)])),
      ),
      h("h3", {}, ["Scenes"]),
      h(
        "ol",
        { "data-testid": "detail-visits" },
        detail.visits.map((v) =>
          h("li", {}, [`${v.scene_id} (${v.scene_type}) ${shortTime(v.entered_at)}` + (v.exited_at ? ` → ${shortTime(v.exited_at)}` : " (now)")]),
        ),
      ),
      h("h3", {}, ["Answers"]),
      h(
        "ol",
        { "data-testid": "detail-forms" },
        detail.forms.map((f) => h("li", {}, [`${f.scene_id}: `, h("code", {}, [JSON.stringify(f.answers)])])),
      ),
      h("h3", {}, ["Timeline"]),
      h(
        "ol",
        { class: "adm-timeline", "data-testid": "detail-timeline" },
        detail.events.map((e) =>
          h("li", { "data-kind": e.kind }, [
            `${shortTime(e.t)} `,
            h("b", {}, [e.kind]),
            e.scene_id ? ` [${e.scene_id}] ` : " ",
            h("code", {}, [JSON.stringify(e.data)]),
          ]),
        ),
      ),
    );
  }
}

function gameRow(g: Game): HTMLTableRowElement {
  const players = Object.entries(g.players ?? {}).map(
    ([pid, p]) => `${pid} (${p.agent_id ?? "?"}${p.connected === false ? ", away" : ""}${p.dropped ? ", dropped" : ""})`,
  );
  return h("tr", { "data-testid": "game-row" }, [
    h("td", { title: g.game_id }, [g.game_id.slice(0, 8)]),
    h("td", {}, [text(g.scene_id)]),
    h("td", {}, [text(g.mode)]),
    h("td", {}, [text(g.status)]),
    h("td", {}, [players.join(", ")]),
    h("td", {}, [`${text(g.episode)} / ${text(g.step)}`]),
    h("td", {}, [text(g.fps)]),
    h("td", {}, [g.tick_lateness_ms === null || g.tick_lateness_ms === undefined ? "" : `${g.tick_lateness_ms} ms`]),
  ]);
}

function waitroomRow(w: Waitroom): HTMLTableRowElement {
  const left = Object.entries(w.seconds_left ?? {}).map(([pid, s]) => `${pid}: ${Math.round(s)} s`);
  return h("tr", { "data-testid": "waitroom-row" }, [
    h("td", {}, [w.scene_id]),
    h("td", {}, [w.waiting.join(", ")]),
    h("td", {}, [String(w.needed)]),
    h("td", {}, [left.join(", ")]),
  ]);
}

function problemItem(p: Problem): HTMLLIElement {
  return h("li", { "data-testid": "problem", "data-kind": p.kind }, [
    `${shortTime(p.t)} `,
    h("b", {}, [p.kind]),
    ` ${text(p.participant_id)}${p.scene_id ? ` [${p.scene_id}]` : ""}: `,
    h("span", { class: "adm-message" }, [p.message]),
  ]);
}

function field(data: unknown, name: string): unknown {
  return data && typeof data === "object" ? (data as Record<string, unknown>)[name] : undefined;
}

function stackOf(data: unknown): Node {
  const stack = field(data, "stack");
  return typeof stack === "string" && stack ? h("pre", {}, [stack]) : document.createTextNode("");
}

new Dashboard(readConfig()).start();
