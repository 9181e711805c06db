// Action repeat, the twin of mug/policies/frame_skip.py: the wrapped policy is queried at steps
// 0, k, 2k... of each episode (counted from reset) and its last action is returned in between.
import type { Policy, PolicyAction } from "./onnx_policy";
import { PolicyError } from "./spec";

export interface FrameSkipSnapshot<S> {
  step: number;
  last: PolicyAction | undefined;
  inner: S | undefined;
}

interface Snapshotting<S> {
  snapshot(): S;
  restore(snapshot: S): void;
}

function snapshotting<S>(p: unknown): p is Snapshotting<S> {
  const o = p as Partial<Snapshotting<S>>;
  return typeof o.snapshot === "function" && typeof o.restore === "function";
}

export class FrameSkipPolicy<P extends Policy = Policy> implements Policy {
  readonly policy: P;
  readonly frameSkip: number;
  /** Steps acted in this episode. */
  step = 0;
  private last: Promise<PolicyAction> | null = null;
  private lastValue: PolicyAction | undefined = undefined;

  constructor(policy: P, frameSkip: number) {
    if (!Number.isInteger(frameSkip) || frameSkip < 1) throw new PolicyError(`frame_skip must be an int >= 1, got ${frameSkip}`);
    this.policy = policy;
    this.frameSkip = frameSkip;
  }

  reset(seed: number | bigint | null): void {
    this.policy.reset(seed);
    this.step = 0;
    this.last = null;
    this.lastValue = undefined;
  }

  /** Whether the wrapped policy is asked at a (0-based) step of an episode. */
  queried(step: number): boolean {
    return step % this.frameSkip === 0;
  }

  act(observation: unknown): Promise<PolicyAction> {
    if (this.step % this.frameSkip === 0 || this.last === null) {
      const pending = this.policy.act(observation);
      this.last = pending;
      pending.then(
        (v) => {
          if (this.last === pending) this.lastValue = v;
        },
        () => {
          if (this.last === pending) this.lastValue = undefined;
        },
      );
    }
    this.step++;
    return this.last;
  }

  /** Step counter, last action and the wrapped policy's snapshot (call between settled act()s). */
  snapshot(): FrameSkipSnapshot<unknown> {
    return {
      step: this.step,
      last: this.lastValue,
      inner: snapshotting<unknown>(this.policy) ? this.policy.snapshot() : undefined,
    };
  }

  restore(snapshot: FrameSkipSnapshot<unknown>): void {
    this.step = snapshot.step;
    this.lastValue = snapshot.last;
    this.last = snapshot.last === undefined ? null : Promise.resolve(snapshot.last);
    if (snapshot.inner !== undefined && snapshotting<unknown>(this.policy)) this.policy.restore(snapshot.inner);
  }
}
