// Builds sessions: players (local or remote), action spaces and options, validated once, with
// documented defaults (see DEFAULT_OPTIONS and docs/netcode.md).
import { ActionCodec, type ActionSpace } from "./action-codec";
import { DEFAULT_OPTIONS, type PlayerSetup, type ResolvedConfig, type SessionOptions, type TimeSyncSettings } from "./config";
import { NetcodeUsageError } from "./errors";
import { P2PSession } from "./p2p-session";
import { SyncTestSession } from "./synctest-session";
import type { Action, PeerId, PlayerHandle } from "./types";
import { fnv1aString } from "./wire/bytes";

export const MIN_P2P_PLAYERS = 2;
export const MAX_PLAYERS = 4;

export interface PlayerOptions {
  /** Overrides the builder's action space for this player. */
  readonly actionSpace?: ActionSpace;
  /** Overrides the builder's default action for this player. */
  readonly defaultAction?: Action;
}

export interface RemotePlayerOptions extends PlayerOptions {
  /** The peer hosting this player: the lowest handle that peer hosts. Default: the player's handle. */
  readonly peer?: PeerId;
}

interface PlayerEntry {
  readonly local: boolean;
  readonly peer: PeerId | undefined;
  readonly options: PlayerOptions;
}

export type SessionOptionsInput = Partial<Omit<SessionOptions, "timeSync">> & { readonly timeSync?: Partial<TimeSyncSettings> };

export class SessionBuilder {
  private readonly players = new Map<PlayerHandle, PlayerEntry>();
  private actionSpace: ActionSpace | null = null;
  private defaultAction: Action | null = null;
  private options: SessionOptions = DEFAULT_OPTIONS;

  /** The action space of every player without its own. Required unless each player sets one. */
  withActionSpace(space: ActionSpace): this {
    this.actionSpace = space;
    return this;
  }

  /** Used for prediction ("default" mode), input-delay padding and disconnected players. Default: the space's lowest action. */
  withDefaultAction(action: Action): this {
    this.defaultAction = action;
    return this;
  }

  /** Overrides any subset of the options (see DEFAULT_OPTIONS for the defaults). */
  withOptions(options: SessionOptionsInput): this {
    this.options = { ...this.options, ...options, timeSync: { ...this.options.timeSync, ...(options.timeSync ?? {}) } };
    return this;
  }

  withFps(fps: number): this {
    return this.withOptions({ fps });
  }
  withInputDelay(frames: number): this {
    return this.withOptions({ inputDelay: frames });
  }
  withMaxPrediction(frames: number): this {
    return this.withOptions({ maxPrediction: frames });
  }
  withChecksumInterval(frames: number): this {
    return this.withOptions({ checksumInterval: frames });
  }
  withSessionTag(tag: number): this {
    return this.withOptions({ sessionTag: tag });
  }
  /** This session rejoins a game in progress as incarnation `id` (see SessionOptions.rejoinId). */
  withRejoin(id: number): this {
    return this.withOptions({ rejoinId: id });
  }

  addLocalPlayer(handle: PlayerHandle, options: PlayerOptions = {}): this {
    return this.addPlayer(handle, { local: true, peer: undefined, options });
  }

  addRemotePlayer(handle: PlayerHandle, options: RemotePlayerOptions = {}): this {
    return this.addPlayer(handle, { local: false, peer: options.peer ?? handle, options });
  }

  private addPlayer(handle: PlayerHandle, entry: PlayerEntry): this {
    if (!Number.isInteger(handle) || handle < 0 || handle >= MAX_PLAYERS) {
      throw new NetcodeUsageError(`player handles are integers 0..${MAX_PLAYERS - 1}, got ${handle}`);
    }
    if (this.players.has(handle)) throw new NetcodeUsageError(`player ${handle} was added twice`);
    this.players.set(handle, entry);
    return this;
  }

  startP2PSession(): P2PSession {
    const config = this.resolve();
    if (config.players.length < MIN_P2P_PLAYERS) throw new NetcodeUsageError(`a P2P session needs ${MIN_P2P_PLAYERS}..${MAX_PLAYERS} players`);
    if (!config.players.some((p) => p.local)) throw new NetcodeUsageError("a P2P session needs at least one local player");
    if (config.players.every((p) => p.local)) throw new NetcodeUsageError("a P2P session needs at least one remote player");
    return new P2PSession(config);
  }

  /** Every player must be local. `checkDistance`: frames rolled back every frame (default 2). */
  startSyncTestSession(checkDistance = 2): SyncTestSession {
    const config = this.resolve();
    if (config.players.some((p) => !p.local)) throw new NetcodeUsageError("a synctest session has local players only");
    if (!Number.isInteger(checkDistance) || checkDistance < 1 || checkDistance > config.options.maxPrediction) {
      throw new NetcodeUsageError(`checkDistance must be an integer in 1..maxPrediction (${config.options.maxPrediction})`);
    }
    return new SyncTestSession({
      codecs: config.players.map((p) => p.codec),
      defaultInputs: config.players.map((p) => p.defaultInput),
      checkDistance,
      inputDelay: config.options.inputDelay,
    });
  }

  private resolve(): ResolvedConfig {
    const o = this.options;
    validateOptions(o);
    const n = this.players.size;
    if (n === 0) throw new NetcodeUsageError("no players were added");
    for (let h = 0; h < n; h++) if (!this.players.has(h)) throw new NetcodeUsageError(`player handles must be 0..${n - 1}; ${h} is missing`);
    const localHandles = [...this.players].filter(([, e]) => e.local).map(([h]) => h);
    const localPeer = localHandles.length > 0 ? Math.min(...localHandles) : 0;
    const players: PlayerSetup[] = [];
    for (let h = 0; h < n; h++) {
      const e = this.players.get(h)!;
      const space = e.options.actionSpace ?? this.actionSpace;
      if (!space) throw new NetcodeUsageError(`player ${h} has no action space (use withActionSpace)`);
      const codec = new ActionCodec(space);
      const defaultAction = e.options.defaultAction ?? this.defaultAction ?? lowestAction(space);
      const defaultInput = codec.encode(defaultAction);
      players.push({ handle: h, local: e.local, peer: e.local ? localPeer : e.peer!, codec, defaultAction, defaultInput });
    }
    for (const p of players) {
      if (p.local) continue;
      if (p.peer === localPeer && localHandles.length > 0) throw new NetcodeUsageError(`remote player ${p.handle} is mapped to the local peer ${localPeer}`);
      const hosted = players.filter((q) => !q.local && q.peer === p.peer).map((q) => q.handle);
      if (Math.min(...hosted) !== p.peer) {
        throw new NetcodeUsageError(`peer id ${p.peer} must be the lowest handle it hosts (${Math.min(...hosted)})`);
      }
    }
    const layout = players.map((p) => `${p.handle}@${p.peer}:${p.codec.describe()}`).join("|");
    const configHash = fnv1aString(`mug-netcode|${layout}|ck${o.checksumInterval}`);
    return { options: o, players, localPeer, configHash };
  }
}

function lowestAction(space: ActionSpace): Action {
  if (space.kind === "discrete") return space.start ?? 0;
  return space.nvec.map((_, i) => space.start?.[i] ?? 0);
}

function validateOptions(o: SessionOptions): void {
  const int = (name: string, v: number, min: number, max = Number.MAX_SAFE_INTEGER): void => {
    if (!Number.isInteger(v) || v < min || v > max) throw new NetcodeUsageError(`${name} must be an integer in ${min}..${max}, got ${v}`);
  };
  const pos = (name: string, v: number): void => {
    if (!(typeof v === "number" && v > 0 && Number.isFinite(v))) throw new NetcodeUsageError(`${name} must be a positive number, got ${v}`);
  };
  pos("fps", o.fps);
  int("inputDelay", o.inputDelay, 0, 30);
  int("maxPrediction", o.maxPrediction, 0, 600);
  if (o.prediction !== "repeatLast" && o.prediction !== "default") throw new NetcodeUsageError(`prediction must be "repeatLast" or "default"`);
  int("checksumInterval", o.checksumInterval, 0);
  if (o.interruptTimeoutMs !== null) pos("interruptTimeoutMs", o.interruptTimeoutMs);
  pos("disconnectTimeoutMs", o.disconnectTimeoutMs);
  int("syncRoundtrips", o.syncRoundtrips, 1, 100);
  pos("syncRetryMs", o.syncRetryMs);
  pos("pingIntervalMs", o.pingIntervalMs);
  pos("resendIntervalMs", o.resendIntervalMs);
  int("sessionTag", o.sessionTag, 0, 0xffffffff);
  int("inputHistoryFrames", o.inputHistoryFrames, 0);
  int("stateChunkBytes", o.stateChunkBytes, 64, 16 * 1024);
  int("stateWindowChunks", o.stateWindowChunks, 1, 1024);
  int("maxStateBytes", o.maxStateBytes, 0, 0xffffffff);
  pos("resyncRetryMs", o.resyncRetryMs);
  int("rejoinId", o.rejoinId, 0, 0xffffffff);
  const t = o.timeSync;
  pos("timeSync.correctionFrames", t.correctionFrames);
  if (!(t.deadbandFrames >= 0)) throw new NetcodeUsageError("timeSync.deadbandFrames must be >= 0");
  if (!(t.maxSlowdown >= 0 && t.maxSlowdown < 1)) throw new NetcodeUsageError("timeSync.maxSlowdown must be in [0, 1)");
  if (!(t.maxSpeedup >= 0)) throw new NetcodeUsageError("timeSync.maxSpeedup must be >= 0");
  int("timeSync.maxFramesPerPoll", t.maxFramesPerPoll, 1, 1000);
  if (!(t.smoothing > 0 && t.smoothing <= 1)) throw new NetcodeUsageError("timeSync.smoothing must be in (0, 1]");
}
