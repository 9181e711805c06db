// The "random" policy of a client-side scene: uniform over the env's Discrete(n, start) action
// space, drawn from the agent's PCG32 stream (the generator and seeding of the ONNX sampling,
// docs/policies.md), so a random bot is reproducible from the episode seed and the agent id.
import { agentRng, type Pcg32 } from "../policies/sampling";
import type { Bot } from "./loop";

export class RandomBot implements Bot {
  private rng: Pcg32 | null = null;

  constructor(
    readonly agentId: string,
    readonly n: number,
    readonly start = 0,
  ) {
    if (!Number.isInteger(n) || n < 1) throw new Error(`random policy for agent '${agentId}': action space size must be an int >= 1, got ${n}`);
  }

  reset(seed: number): void {
    this.rng = agentRng(seed, this.agentId);
  }

  /** start + floor(u * n) with u = the agent's next PCG32 uniform in [0, 1). */
  act(): Promise<number> {
    if (this.rng === null) return Promise.reject(new Error(`random policy for agent '${this.agentId}': act() before reset()`));
    return Promise.resolve(this.start + Math.floor(this.rng.uniform() * this.n));
  }
}
