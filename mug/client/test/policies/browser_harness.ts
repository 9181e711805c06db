// Browser entry for tests/policies/test_policies_parity.py: bundled by the test with esbuild and
// served with dist/vendor/ort and the test's models. Exposes window.mugPolicyHarness.
import { createPolicy, FrameSkipPolicy, OnnxPolicy, type Policy, type PolicyAction } from "../../src/policies";

export interface EpisodeRequest {
  seed: number;
  observations: number[][];
}

export interface RunRequest {
  spec: unknown;
  agentId: string;
  episodes: EpisodeRequest[];
}

export interface RunResult {
  createMs: number;
  episodes: { actions: PolicyAction[]; logits: (number[] | null)[] }[];
}

export interface BenchResult {
  steps: number;
  totalMs: number;
}

function onnxOf(policy: Policy): OnnxPolicy | null {
  if (policy instanceof OnnxPolicy) return policy;
  if (policy instanceof FrameSkipPolicy) return onnxOf(policy.policy);
  return null;
}

async function run(request: RunRequest): Promise<RunResult> {
  const started = performance.now();
  const policy = await createPolicy(request.spec, request.agentId);
  const createMs = performance.now() - started;
  const onnx = onnxOf(policy);
  const episodes: RunResult["episodes"] = [];
  for (const episode of request.episodes) {
    policy.reset(episode.seed);
    const actions: PolicyAction[] = [];
    const logits: (number[] | null)[] = [];
    for (const observation of episode.observations) {
      actions.push(await policy.act(observation));
      logits.push(onnx?.lastLogits ? [...onnx.lastLogits] : null);
    }
    episodes.push({ actions, logits });
  }
  return { createMs, episodes };
}

async function bench(spec: unknown, observation: number[], steps: number): Promise<BenchResult> {
  const policy = await createPolicy(spec, "bench");
  policy.reset(0);
  await policy.act(observation); // warm-up
  const started = performance.now();
  for (let i = 0; i < steps; i++) await policy.act(observation);
  return { steps, totalMs: performance.now() - started };
}

declare global {
  interface Window {
    mugPolicyHarness?: { ready: boolean; run: typeof run; bench: typeof bench };
  }
}

window.mugPolicyHarness = { ready: true, run, bench };
