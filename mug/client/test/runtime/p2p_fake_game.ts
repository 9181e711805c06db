// A stand-in for Pyodide in the Node tests of the P2P loop: a small JS game speaking bridge.py's
// batch protocol (Game.p2p_reset / execute / perturb), with the same rules — skip frames once the
// episode is over, checksums of canonical JSON, exports as text, imports checked. The real
// bridge.py runs in tests/runtime (CPython) and in the browser tests and the resim benchmark.
import type { RenderState } from "../../src/protocol";
import { EnvFailure } from "../../src/runtime/loop";
import type { HostRequest, P2PBatchResult, P2PGame, P2PLive, P2PStepResult } from "../../src/runtime/p2p_host";

interface State {
  live: P2PLive;
  /** Each human's position and a running mix of every input, so any input difference shows. */
  pos: number[];
  mix: number;
}

function fnv(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function copy(s: State): State {
  return { live: { ...s.live }, pos: [...s.pos], mix: s.mix };
}

export class FakeP2PGame implements P2PGame {
  state: State;
  readonly snapshots = new Map<number, State>();
  batches = 0;
  closed = false;
  /** Throw from advance at this (episode, step). */
  failAt: { episode: number; step: number } | null = null;

  constructor(
    readonly humans: string[],
    readonly seed: number,
    /** Steps per episode (the episode is over, terminated, after this many). */
    readonly stepsPerEpisode: number,
    readonly freezeFrames = 0,
  ) {
    this.state = { live: { episode: 0, step: 0, over: false, freeze: 0 }, pos: humans.map(() => 0), mix: seed };
  }

  private frame(): RenderState {
    return { objects: [{ id: "pos", type: "text", text: this.state.pos.join(","), step: this.state.live.step }], removed: [] } as unknown as RenderState;
  }

  reset(episode: number): { frame: RenderState; live: P2PLive } {
    this.state = {
      live: { episode, step: 0, over: false, freeze: episode > 1 ? this.freezeFrames : 0 },
      pos: this.humans.map(() => 0),
      mix: (this.seed + episode - 1) >>> 0,
    };
    return { frame: this.frame(), live: { ...this.state.live } };
  }

  execute(requests: HostRequest[]): P2PBatchResult {
    this.batches++;
    const out: P2PBatchResult = { checksums: [], exports: [], steps: [], frame: null, live: this.state.live };
    let changed = false;
    for (const r of requests) {
      switch (r.kind) {
        case "advance":
          out.steps.push(this.advance(r.frame, r.inputs));
          changed = true;
          break;
        case "save":
          this.snapshots.set(r.frame, copy(this.state));
          if (r.checksum) out.checksums.push([r.frame, fnv(JSON.stringify(this.state))]);
          break;
        case "load": {
          const s = this.snapshots.get(r.frame);
          if (!s) throw new EnvFailure("snapshot", `no saved state for frame ${r.frame} to load`, null);
          this.state = copy(s);
          changed = true;
          break;
        }
        case "discard":
          for (const f of [...this.snapshots.keys()]) if (f < r.before) this.snapshots.delete(f);
          break;
        case "exportState": {
          const s = this.snapshots.get(r.frame);
          if (!s) throw new EnvFailure("snapshot", `no saved state for frame ${r.frame} to export`, null);
          out.exports.push([r.frame, JSON.stringify(s)]);
          break;
        }
        case "importState": {
          let s: State;
          try {
            s = JSON.parse(r.state ?? "") as State;
          } catch {
            throw new EnvFailure("import_state", "the state received from a peer is not JSON", null);
          }
          if (!Array.isArray(s.pos) || s.pos.length !== this.humans.length) throw new EnvFailure("import_state", "the state received from a peer is unusable", null);
          this.snapshots.set(r.frame, s);
          break;
        }
      }
    }
    out.live = { ...this.state.live };
    if (changed) out.frame = this.frame();
    return out;
  }

  private advance(frame: number, inputs: number[][]): P2PStepResult {
    const s = this.state;
    if (s.live.over || s.live.freeze > 0) {
      if (s.live.freeze > 0) s.live.freeze--;
      return { frame, skip: true };
    }
    if (this.failAt && this.failAt.episode === s.live.episode && this.failAt.step === s.live.step) {
      throw new EnvFailure("step", "ZeroDivisionError: division by zero", 'Traceback...\n  File "<env_code>", line 3, in step\n');
    }
    const actions: Record<string, number> = {};
    const rewards: Record<string, number> = {};
    this.humans.forEach((agent, i) => {
      const a = inputs[i]?.[0] ?? 0;
      actions[agent] = a;
      s.pos[i] = (s.pos[i] as number) + (a === 1 ? -1 : a === 2 ? 1 : 0);
      s.mix = (Math.imul(s.mix ^ (a + 7 * i), 0x01000193) + frame) >>> 0;
      rewards[agent] = a === 2 ? 1 : 0;
    });
    s.live.step++;
    const over = s.live.step >= this.stepsPerEpisode;
    s.live.over = over;
    return {
      frame,
      episode: s.live.episode,
      step: s.live.step,
      actions,
      rewards,
      terminated: over,
      truncated: false,
      episode_over: over,
      over,
      infos: Object.fromEntries(this.humans.map((a, i) => [a, { pos: s.pos[i] as number }])),
      observations: null,
    };
  }

  perturb(): string {
    this.state.pos[0] = (this.state.pos[0] as number) + 1000;
    for (const s of this.snapshots.values()) s.pos[0] = (s.pos[0] as number) + 1000;
    return "pos";
  }

  close(): void {
    this.closed = true;
  }
}
