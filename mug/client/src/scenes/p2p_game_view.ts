// A P2P game scene (docs/p2p.md): every participant's browser runs the env in its Pyodide worker,
// which also runs the rollback netcode session and keeps the game's clock; this page matches
// through the server's waitroom, carries the session's packets between the worker and the peers
// (WebRTC DataChannels, or the server relay: src/p2p), draws the frames, tells the worker the keys
// held and whether the tab has focus, and sends the records through the outbox.

import { el } from "../dom";
import type { PageStatus } from "../harness";
import type { FillInGame, Json, Matched, P2PGame, P2PPeerBack, P2PPeerLeft, P2PProbe, SceneSpec, WaitroomStatus } from "../protocol";
import { PeerTransport, type TransportKind } from "../p2p";
import { runProbe } from "../p2p/probe";
import type { P2PEvent, P2PStats, RuntimeP2PSpec } from "../runtime";
import { BrowserGameView, finishGame, runtimeGameSpec } from "./browser_game_view";
import { GameAssets } from "./game_assets";
import { GameStage, gameIntro } from "./game_stage";
import { gameContainer } from "./gym_view";
import { Lobby } from "./lobby";
import type { SceneContext, SceneView } from "./view";

/** How often the page tells the server how its game goes (the monitor shows it). */
const STATUS_INTERVAL_MS = 2_000;
/** A page that comes back to its game waits this long at most for its outbox to send what the page
 * before it kept, so the server's count of its records is complete (docs/p2p.md, "Rejoining"). */
const OUTBOX_DRAIN_MS = 15_000;

/** What the server holds of this page's records of a game it comes back to (`start_game`'s `recorded`). */
interface Recorded {
  episode: number;
  step: number;
  closed: boolean;
}

export class P2PGameView implements SceneView {
  private readonly container: HTMLElement;
  private readonly lobby: Lobby;
  private readonly progress = el("div", { class: "mug-progress", "data-testid": "loading-progress" });
  private stage: GameStage | null = null;
  private game: P2PGame | null = null;
  private transport: PeerTransport | null = null;
  private running = false;
  private gone = false;
  private statusTimer: number | null = null;
  private lastStats: P2PStats | null = null;
  private readonly transports: Record<number, TransportKind> = {};
  private readonly unlisten: (() => void)[] = [];
  /** The AI fill-in game this scene became (nobody came): it runs as a client-side game. */
  private fillIn: BrowserGameView | null = null;
  private readonly assets: GameAssets;

  constructor(
    readonly spec: SceneSpec,
    private readonly ctx: SceneContext,
  ) {
    this.container = gameContainer(spec);
    this.lobby = new Lobby(ctx.harness, spec.hide_lobby_count === true);
    ctx.root.replaceChildren(this.container);
    this.container.append(this.progress);
    this.assets = new GameAssets(spec, ctx, this.container);
    void ctx.runtime().preload((fraction, label) => this.showProgress(fraction, label)).then(
      () => this.showProgress(1, "ready"),
      (err: Error) => this.fail(`The game could not be loaded: ${err.message}`),
    );
    if (spec.game) this.play();
    else {
      this.container.append(gameIntro(spec, () => this.play()));
      this.setStatus("waiting_start");
    }
  }

  private showProgress(fraction: number, label: string): void {
    this.ctx.harness.runtime = { progress: fraction, label };
    this.progress.textContent = fraction >= 1 ? "" : `Loading the game… ${Math.round(fraction * 100)}% (${label})`;
  }

  private play(): void {
    this.stage = new GameStage(this.container, this.spec, this.ctx.harness, (action) => this.act(action));
    this.setStatus("starting");
    void this.start();
  }

  private async start(): Promise<void> {
    if (!this.stage || !(await this.assets.attach(this.stage))) return this.setStatus("error");
    try {
      // A page that reloaded into its game: what the page before it recorded must reach the server
      // first, so that the server can say where its records stop (none is sent twice or left out).
      if (this.spec.game && (this.spec.game as Partial<P2PGame>).rejoin) await this.outboxDrained();
      const reply = await this.ctx.conn.request("start_game", { scene_id: this.spec.scene_id });
      if (reply.waitroom) this.waitroom(reply.waitroom);
      if (reply.game) this.begin(reply.game as P2PGame | FillInGame);
    } catch (err) {
      this.fail(`The game could not start: ${(err as Error).message}`);
    }
  }

  /** Resolves once the outbox has nothing left to send (or after OUTBOX_DRAIN_MS). */
  private async outboxDrained(): Promise<void> {
    const until = performance.now() + OUTBOX_DRAIN_MS;
    while (performance.now() < until && !this.gone) {
      const box = this.ctx.outbox();
      if (box && box.pending === 0) return;
      await new Promise((resolve) => window.setTimeout(resolve, 100));
    }
  }

  waitroom(status: WaitroomStatus): void {
    if (status.scene_id !== this.spec.scene_id || this.game) return;
    this.lobby.show(this.container, status);
    this.setStatus("waitroom");
  }

  matched(info: Matched): void {
    if (info.scene_id !== this.spec.scene_id) return;
    this.begin(info as unknown as P2PGame | FillInGame);
  }

  /** Nobody came and the waitroom has a timeout_policy: this page plays alone against it (docs/matchmaking.md). */
  private playAlone(game: FillInGame): void {
    if (this.game || this.fillIn || this.gone || !this.spec.runtime) return;
    this.lobby.close();
    this.stage?.destroy();
    const spec: SceneSpec = { ...this.spec, runtime: { ...this.spec.runtime, policies: game.policies } };
    this.fillIn = new BrowserGameView(spec, this.ctx, { game_id: game.game_id, seed: game.seed, page_html: game.page_html ?? null });
  }

  /** The server proposed a group: measure the round trips to its other pages and report them. */
  p2pProbe(req: P2PProbe): void {
    if (req.scene_id !== this.spec.scene_id || this.game || this.gone) return;
    const harness = this.ctx.harness;
    harness.p2pProbe = { probeId: req.probe_id, state: "measuring", rttMs: null };
    void (async () => {
      try {
        const rtt = await runProbe(this.ctx.conn, req);
        if (harness.p2pProbe?.probeId === req.probe_id) harness.p2pProbe = { probeId: req.probe_id, state: "done", rttMs: rtt };
        const peers = Object.entries(rtt).map(([peer, ms]) => ({ peer: Number(peer), rtt_ms: ms }));
        await this.ctx.conn.request("p2p_probe_result", { game_id: req.probe_id, peers });
      } catch (err) {
        // (The server ends the probe without this page's figures after its timeout.)
        console.warn(`mug: the P2P probe failed: ${(err as Error).message}`);
      }
    })();
  }

  private act(action: Json): void {
    if (this.running) this.ctx.runtime().setAction(action);
  }

  /** The partners are known: connect to them and run the game in the worker. */
  private begin(game: P2PGame | FillInGame): void {
    if (game.mode === "client") {
      this.playAlone(game);
      return;
    }
    if (this.game || this.gone || game.mode !== "p2p") return;
    this.game = game;
    this.lobby.close();
    this.stage?.showPage(game);
    const harness = this.ctx.harness;
    const me = game.peers.find((p) => p.peer === game.peer);
    harness.agentId = me?.agent ?? null;
    harness.p2p = {
      gameId: game.game_id,
      peer: game.peer,
      transports: {},
      candidateTypes: {},
      rttMs: {},
      frame: 0,
      confirmedFrame: 0,
      rollbacks: 0,
      maxRollback: 0,
      replayedFrames: 0,
      predictedFrames: 0,
      desyncs: 0,
      resyncs: 0,
      peerLeft: [],
      peerBack: [],
      outcome: null,
    };
    const runtime = this.ctx.runtime();
    this.transport = new PeerTransport({
      conn: this.ctx.conn,
      gameId: game.game_id,
      me: game.peer,
      peers: game.peers.map((p) => p.peer).filter((p) => p !== game.peer),
      iceServers: game.ice_servers,
      forceRelay: game.force_relay,
      connectTimeoutS: game.connect_timeout_s,
      testHooks: game.test_hooks,
      onPacket: (from, bytes) => runtime.netIn(from, bytes),
      onTransport: (peer, transport, detail) => this.onTransport(peer, transport, detail),
    });
    const socket = this.ctx.conn.socket;
    const onLeft = (msg: P2PPeerLeft) => this.peerLeft(msg);
    const onBack = (msg: P2PPeerBack) => this.peerBack(msg);
    socket.on("p2p_peer_left", onLeft);
    socket.on("p2p_peer_back", onBack);
    this.unlisten.push(() => {
      socket.off("p2p_peer_left", onLeft);
      socket.off("p2p_peer_back", onBack);
    });
    this.listenFocus();
    this.statusTimer = window.setInterval(() => void this.reportStatus(), STATUS_INTERVAL_MS);
    void this.run(game);
  }

  private async run(game: P2PGame): Promise<void> {
    const spec: RuntimeP2PSpec = {
      ...runtimeGameSpec(this.spec, game, this.ctx.participantId),
      peer: game.peer,
      peers: game.peers,
      inputDelay: game.input_delay,
      maxPrediction: game.max_prediction,
      sessionTag: game.session_tag,
      testHooks: game.test_hooks,
      reconnectGraceS: game.reconnect_grace_s,
      rejoin: game.rejoin ? { id: randomU32(), recorded: (game as P2PGame & { recorded?: Recorded }).recorded ?? { episode: 1, step: 0, closed: false } } : null,
    };
    const harness = this.ctx.harness;
    if (game.test_hooks) {
      // Tests provoke a desync on this peer through the page (docs/p2p.md, "Testing").
      window.mugTest = {
        ...(window.mugTest ?? {}),
        desync: () => this.ctx.runtime().testDesync(),
        freeze: (seconds) => {
          this.ctx.runtime().testFreeze(seconds * 1000);
          const until = Date.now() + seconds * 1000;
          while (Date.now() < until) {
            // the page blocks too: no packet, timer or event is handled meanwhile
          }
        },
      };
    }
    this.running = true;
    const outcome = await this.ctx.runtime().runP2P(spec, {
      onProgress: (fraction, label) => this.showProgress(fraction, label),
      onFrame: (frame) => this.stage?.frame({ ...frame, game_id: game.game_id }),
      onStatus: (status, info) => {
        if (status === "done") this.played = true;
        if (!this.stage) return;
        const shown = this.stage.status({
          status,
          episode: info.episode,
          num_episodes: info.numEpisodes,
          freeze_s: info.freezeS,
          message: info.message,
        });
        if (!this.endedByPartner) this.setStatus(status === "loading" ? "starting" : shown);
      },
      onRecord: (record) => this.ctx.outbox()?.add(record.kind, record.payload as unknown as Record<string, unknown>),
      onError: (message, traceback) => {
        console.error(`mug: the game failed: ${message}\n${traceback ?? ""}`);
        this.stage?.say("The game stopped because of an error. Your data so far is saved.");
      },
      onNetOut: (packets) => {
        for (const p of packets) this.transport?.send(p.to, p.bytes);
        this.transport?.flush();
      },
      onP2PEvent: (event) => this.onP2PEvent(event),
      onP2PStats: (stats) => {
        this.lastStats = stats;
        const view = harness.p2p;
        if (!view) return;
        view.frame = stats.frame;
        view.confirmedFrame = stats.confirmedFrame;
        view.rollbacks = stats.rollbacks;
        view.maxRollback = stats.maxRollback;
        view.replayedFrames = stats.replayedFrames;
        view.predictedFrames = stats.predictedFrames;
        view.desyncs = Math.max(view.desyncs, stats.desyncs); // (events count them sooner)
        view.resyncs = Math.max(view.resyncs, stats.resyncs);
        for (const [peer, rtt] of Object.entries(stats.rttMs)) view.rttMs[Number(peer)] = rtt;
      },
    });
    this.running = false;
    if (harness.p2p) harness.p2p.outcome = outcome;
    this.recordStats();
    await this.reportStatus();
    this.close();
    if (this.gone || this.endedByPartner) return;
    await finishGame(this.ctx, this.spec, game.game_id, outcome, () => this.gone, (text) => this.stage?.say(text), (m) => this.fail(m));
  }

  private endedByPartner = false;
  private statsRecorded = false;
  /** The last episode is over: the links' ends as partners close are not part of the game's record. */
  private played = false;

  private onTransport(peer: number, transport: TransportKind, detail: { candidateType?: string | null }): void {
    if (!this.played) this.transports[peer] = transport;
    const view = this.ctx.harness.p2p;
    if (view) {
      view.transports[peer] = transport;
      if (detail.candidateType) view.candidateTypes[peer] = detail.candidateType;
    }
    const game = this.game;
    if (!game || this.played) return;
    // Which way each pair's packets travel, over time, is part of the data.
    this.ctx.outbox()?.add("event", {
      scene_id: this.spec.scene_id,
      kind: "p2p_transport",
      data: { game_id: game.game_id, peers: [game.peer, peer], transport, candidate_type: detail.candidateType ?? null },
      t: Date.now() / 1000,
    });
    void this.reportStatus();
  }

  private onP2PEvent(event: P2PEvent): void {
    const view = this.ctx.harness.p2p;
    if (view && event.type === "desync") view.desyncs++;
    if (view && event.type === "resynced") view.resyncs++;
  }

  private peerLeft(msg: P2PPeerLeft): void {
    const game = this.game;
    if (!game || msg.game_id !== game.game_id) return;
    this.ctx.harness.p2p?.peerLeft.push({ peer: msg.peer, final: msg.final });
    if (!msg.final) {
      this.stage?.say("Your partner's connection was lost; waiting for them to come back…");
      return;
    }
    if (msg.game_over) {
      // The server ends this participant's game (on_player_drop="end_game"): its scene follows.
      this.endedByPartner = true;
      this.ctx.runtime().stop();
    } else {
      this.stage?.say("");
    }
  }

  private peerBack(msg: P2PPeerBack): void {
    const game = this.game;
    if (!game || msg.game_id !== game.game_id) return;
    this.ctx.harness.p2p?.peerBack.push(msg.peer);
    this.stage?.say("");
  }

  /** The game's figures for this peer (transport and RTT per partner, rollbacks, predicted frames,
   * desyncs), recorded once as it ends: `results()["p2p"]` (docs/data.md). */
  private recordStats(): void {
    const game = this.game;
    const stats = this.lastStats;
    if (!game || !stats || this.statsRecorded) return;
    this.statsRecorded = true;
    const transport: Record<string, string> = {};
    const rtt: Record<string, number | null> = {};
    for (const peer of game.peers) {
      if (peer.peer === game.peer) continue;
      transport[peer.peer] = this.transports[peer.peer] ?? "connecting";
      rtt[peer.peer] = stats.rttMs[peer.peer] ?? null;
    }
    this.ctx.outbox()?.add("event", {
      scene_id: this.spec.scene_id,
      kind: "p2p_stats",
      data: {
        game_id: game.game_id,
        peer: game.peer,
        transport,
        rtt_ms: rtt,
        frames: stats.frames,
        rollbacks: stats.rollbacks,
        max_rollback_depth: stats.maxRollback,
        predicted_frames: stats.predictedFrames,
        replayed_frames: stats.replayedFrames,
        desyncs: stats.desyncs,
        resyncs: stats.resyncs,
        catch_ups: stats.catchUps,
        max_batch_frames: stats.maxBatchFrames,
      },
      t: Date.now() / 1000,
    });
  }

  private async reportStatus(): Promise<void> {
    const game = this.game;
    const transport = this.transport;
    if (!game || !transport) return;
    const pairs = await transport.stats().catch(() => []);
    const stats = this.lastStats;
    this.ctx.conn.send("p2p_status", {
      game_id: game.game_id,
      frame: stats?.frame ?? 0,
      peers: pairs.map((p) => ({ peer: p.peer, transport: p.transport, rtt_ms: stats?.rttMs[p.peer] ?? p.rttMs })),
      rollbacks: stats?.rollbacks ?? 0,
      max_rollback: stats?.maxRollback ?? 0,
      predicted_frames: stats?.predictedFrames ?? 0,
      frames: stats?.frame ?? 0,
      desyncs: stats?.desyncs ?? 0,
    });
  }

  /** The worker learns whether this tab is seen: it is part of every player's confirmed input. */
  private listenFocus(): void {
    const update = () => this.ctx.runtime().setFocus(document.visibilityState === "visible" && document.hasFocus());
    for (const [target, type] of [
      [document, "visibilitychange"],
      [window, "focus"],
      [window, "blur"],
    ] as const) {
      target.addEventListener(type, update);
      this.unlisten.push(() => target.removeEventListener(type, update));
    }
    update();
  }

  private close(): void {
    if (this.statusTimer !== null) window.clearInterval(this.statusTimer);
    this.statusTimer = null;
    for (const off of this.unlisten.splice(0)) off();
    this.transport?.close();
    this.transport = null;
  }

  private fail(message: string): void {
    if (this.stage) this.stage.say(message);
    else this.progress.textContent = message;
    this.setStatus("error");
  }

  private setStatus(status: PageStatus): void {
    this.ctx.harness.status = status;
    this.container.dataset.status = status;
  }

  rejoined(): void {
    // The game runs in this page and its peers; the reconnected socket carries signaling, relay and the outbox.
    // (A reloaded page is a new view: its worker rejoins the game, docs/p2p.md "Rejoining".)
  }

  destroy(): void {
    this.gone = true;
    this.fillIn?.destroy();
    this.recordStats(); // (a game ended by the server: the page still says how its session went)
    if (this.running) this.ctx.runtime().stop();
    this.close();
    this.lobby.close();
    this.stage?.destroy();
    this.container.remove();
  }
}

/** The netcode's rejoinId for this page's new session: random, never 0. */
function randomU32(): number {
  const value = new Uint32Array(1);
  do crypto.getRandomValues(value);
  while (value[0] === 0);
  return value[0]!;
}
