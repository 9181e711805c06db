// The live monitor of a running MUG server: counts, participants (scene, connection, ping), games,
// waitrooms and exclusions. The kernel pushes a snapshot about twice a second from the server's own
// thread; this module only draws it.

import { h, injectStyle, listen, type RenderProps, serverUrl } from "./_anywidget";
import { episodeText, type Link, linksText } from "./monitor_games";

interface Participant {
  participant_id: string;
  status: string;
  scene_index: number;
  scene_id: string | null;
  completion_code: string | null;
  updated_at: number;
  connected: boolean;
  rtt_ms: number | null;
  game_id: string | null;
  waitroom: string | null;
  idle?: boolean; // opened the page and has done nothing yet
}

interface Game {
  game_id: string;
  scene_id: string;
  /** "p2p" for a peer-to-peer game (absent: run by the server). */
  mode?: string;
  status: string;
  episode: number | null;
  num_episodes: number | null;
  step: number;
  players: Record<string, { agent_id: string; connected: boolean; dropped: boolean }>;
  tick_lateness_ms: number | null;
  /** A P2P game: each pair of peers' transport and round trip. */
  links?: Link[];
}

interface Waitroom {
  scene_id: string;
  waiting: string[];
  needed: number;
  seconds_left: Record<string, number>;
}

interface Snapshot {
  time?: number;
  running?: boolean;
  scenes?: string[];
  participants?: Participant[];
  games?: Game[];
  waitrooms?: Waitroom[];
  exclusions?: { participant_id: string; scene_id: string | null; reason: string | null; t: number }[];
  counts?: Record<string, number>;
}

interface MonitorState {
  title: string;
  direct_url: string;
  proxy_path: string;
  snapshot: Snapshot;
}

const CSS = `
.mugw-monitor { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2230; font-size: 13px; }
.mugw-monitor .mugw-head { display: flex; gap: 14px; align-items: baseline; flex-wrap: wrap; margin-bottom: 8px; }
.mugw-monitor .mugw-live { display: inline-block; width: 9px; height: 9px; border-radius: 50%; background: #2e7d32; }
.mugw-monitor .mugw-live.mugw-off { background: #b3261e; }
.mugw-monitor .mugw-count { background: #eef0f8; border-radius: 4px; padding: 2px 8px; }
.mugw-monitor .mugw-muted { color: #596079; }
.mugw-monitor h4 { margin: 10px 0 4px; font-size: 13px; }
.mugw-monitor table { border-collapse: collapse; }
.mugw-monitor th, .mugw-monitor td { text-align: left; padding: 2px 10px 2px 0; border-bottom: 1px solid #e3e6f0; }
.mugw-monitor th { color: #596079; font-weight: 600; }
.mugw-monitor .mugw-on { color: #2e7d32; }
.mugw-monitor .mugw-offline { color: #9aa3c4; }
.mugw-monitor .mugw-bar { display: inline-block; height: 8px; background: #3451d1; border-radius: 2px; vertical-align: middle; }
`;

const cell = (text: string | number | null | undefined, cls = "") =>
  h("td", cls ? { class: cls } : {}, [text === null || text === undefined ? "" : String(text)]);

function table(testid: string, headers: string[], rows: HTMLTableRowElement[], empty: string): HTMLElement {
  if (!rows.length) return h("div", { class: "mugw-muted", "data-testid": testid, text: empty });
  const head = h("tr", {}, headers.map((name) => h("th", { text: name })));
  return h("table", { "data-testid": testid }, [h("thead", {}, [head]), h("tbody", {}, rows)]);
}

function ago(seconds: number): string {
  if (seconds < 60) return `${Math.max(0, Math.round(seconds))} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

function draw(snap: Snapshot, now: number): HTMLElement[] {
  const counts = snap.counts ?? {};
  const participants = snap.participants ?? [];
  const pills = [
    ["participants", counts.total ?? 0],
    ["connected", counts.connected ?? 0],
    ["active", counts.active ?? 0],
    ["completed", counts.completed ?? 0],
    ["excluded", counts.excluded ?? 0],
    ["games", counts.games ?? 0],
    ["waiting", counts.waiting ?? 0],
    ["opened only", counts.idle ?? 0],
  ].map(([name, n]) => h("span", { class: "mugw-count", "data-testid": `count-${name}`, text: `${n} ${name}` }));

  // Where participants are: a bar per scene.
  const perScene = new Map<string, number>();
  for (const p of participants) if (p.status === "active" && !p.idle && p.scene_id) perScene.set(p.scene_id, (perScene.get(p.scene_id) ?? 0) + 1);
  const most = Math.max(1, ...perScene.values());
  const sceneRows = (snap.scenes ?? []).map((scene) => {
    const n = perScene.get(scene) ?? 0;
    const bar = h("span", { class: "mugw-bar" });
    bar.style.width = `${Math.round((n / most) * 120)}px`;
    return h("tr", {}, [cell(scene), h("td", {}, [bar, ` ${n}`])]);
  });

  const participantRows = participants.map((p) =>
    h("tr", { "data-participant": p.participant_id }, [
      cell(p.participant_id),
      cell(p.connected ? "● online" : "○ offline", p.connected ? "mugw-on" : "mugw-offline"),
      cell(p.status),
      cell(p.waitroom ? `${p.scene_id} (waiting)` : p.scene_id),
      cell(p.rtt_ms === null || p.rtt_ms === undefined ? "" : `${p.rtt_ms.toFixed(1)} ms`),
      cell(p.game_id ? p.game_id.slice(0, 8) : ""),
      cell(ago(now - p.updated_at), "mugw-muted"),
    ]),
  );

  const gameRows = (snap.games ?? []).map((g) =>
    h("tr", { "data-game": g.game_id }, [
      cell(g.game_id.slice(0, 8)),
      cell(g.scene_id),
      cell(g.mode === "p2p" ? `${g.status} (P2P)` : g.status),
      cell(episodeText(g.episode, g.num_episodes)),
      cell(g.step),
      cell(
        Object.entries(g.players)
          .map(([pid, info]) => `${info.agent_id}: ${pid}${info.dropped ? " (dropped)" : info.connected ? "" : " (away)"}`)
          .join(", "),
      ),
      cell(g.tick_lateness_ms === null ? "" : `${g.tick_lateness_ms} ms`),
      cell(linksText(g.links)),
    ]),
  );

  const roomRows = (snap.waitrooms ?? []).map((r) =>
    h("tr", {}, [
      cell(r.scene_id),
      cell(`${r.waiting.length} of ${r.needed}`),
      cell(r.waiting.map((pid) => `${pid} (${Math.round(r.seconds_left[pid] ?? 0)} s left)`).join(", ")),
    ]),
  );

  const exclusionRows = (snap.exclusions ?? []).map((x) =>
    h("tr", {}, [cell(x.participant_id), cell(x.scene_id), cell(x.reason), cell(ago(now - x.t), "mugw-muted")]),
  );

  return [
    h("div", { class: "mugw-head" }, pills),
    h("h4", { text: "Where participants are" }),
    table("monitor-scenes", ["scene", "active participants"], sceneRows, "no scenes"),
    h("h4", { text: "Participants" }),
    table(
      "monitor-participants",
      ["participant", "connection", "status", "scene", "ping", "game", "last change"],
      participantRows,
      "nobody yet: share the participant URL",
    ),
    h("h4", { text: "Games" }),
    table("monitor-games", ["game", "scene", "status", "episode", "step", "players", "tick late (max)", "P2P links"], gameRows, "no game running"),
    h("h4", { text: "Waitrooms" }),
    table("monitor-waitrooms", ["scene", "waiting", "who"], roomRows, "nobody waiting"),
    h("h4", { text: "Exclusions" }),
    table("monitor-exclusions", ["participant", "scene", "reason", "when"], exclusionRows, "none"),
  ];
}

function render({ model, el }: RenderProps<MonitorState>): () => void {
  injectStyle("mugw-monitor-style", CSS);
  const root = h("div", { class: "mugw-monitor", "data-testid": "mug-monitor" });
  const live = h("span", { class: "mugw-live" });
  const state = h("span", { "data-testid": "monitor-state" });
  const link = h("a", { target: "_blank", rel: "noopener", "data-testid": "monitor-link" });
  const body = h("div");
  root.append(h("div", { class: "mugw-head" }, [live, h("strong", { text: model.get("title") }), state, link]), body);
  el.append(root);

  const update = () => {
    const snap = model.get("snapshot") ?? {};
    const url = serverUrl(model.get("proxy_path"), model.get("direct_url"));
    link.href = url;
    link.textContent = url;
    body.replaceChildren(...draw(snap, Date.now() / 1000));
    refresh();
  };
  const refresh = () => {
    const snap = model.get("snapshot") ?? {};
    const running = snap.running !== false;
    live.classList.toggle("mugw-off", !running);
    const age = snap.time ? Date.now() / 1000 - snap.time : null;
    state.textContent = running ? `live · updated ${age === null ? "—" : ago(age)}` : "server stopped";
    state.dataset.running = String(running);
  };
  update();
  const clock = window.setInterval(refresh, 1000);
  const unlisten = listen(model, { "change:snapshot": update, "change:proxy_path": update });
  return () => {
    unlisten();
    window.clearInterval(clock);
  };
}

export default { render };
