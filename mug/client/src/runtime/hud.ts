// The HUD text of a client-side game: the scene's fixed string with its fields filled in
// ({score}, {episode}, {num_episodes}, {step}, {max_steps}; "{{" and "}}" are braces), exactly as
// the server fills them in for server-run games (mug/scenes/hud.py, checked at definition).
// {score} is the human agents' summed return (every agent's when none is human): this episode's,
// or the whole game's so far with rendering(hud_score_carry_over=True).

export interface HudValues {
  score: number;
  episode: number;
  numEpisodes: number;
  step: number;
  maxSteps: number;
}

/** A score as the HUD shows it: at most 2 decimals, no trailing zeros (as Python's format_score). */
export function formatScore(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const rounded = Math.round(value * 100) / 100;
  if (Number.isInteger(rounded)) return String(rounded === 0 ? 0 : rounded);
  return rounded.toFixed(2).replace(/0+$/, "");
}

/** The human agents' summed return; every agent's when none is human. */
export function hudScore(returns: Record<string, number>, humans: string[]): number {
  const agents = humans.filter((a) => a in returns);
  return (agents.length ? agents : Object.keys(returns)).reduce((sum, a) => sum + (returns[a] ?? 0), 0);
}

/** Adds `returns` into `total` (the carried score of earlier episodes). */
export function addReturns(total: Record<string, number>, returns: Record<string, number>): void {
  for (const [agent, value] of Object.entries(returns)) total[agent] = (total[agent] ?? 0) + value;
}

export function formatHud(text: string, v: HudValues): string {
  const fields: Record<string, string> = {
    score: formatScore(v.score),
    episode: String(v.episode),
    num_episodes: String(v.numEpisodes),
    step: String(v.step),
    max_steps: String(v.maxSteps),
  };
  return text.replace(/\{\{|\}\}|\{([a-z_]+)\}/g, (match, name: string | undefined) =>
    match === "{{" ? "{" : match === "}}" ? "}" : (fields[name ?? ""] ?? match),
  );
}

/** The HUD of a frame: null without HUD text; the game's score so far with carry-over. */
export function hudText(
  spec: {
    hud: string | null;
    hudScoreCarryOver?: boolean | undefined;
    numEpisodes: number;
    maxSteps?: number | undefined;
    policies?: Record<string, { kind: string }> | undefined;
  },
  at: { episode: number; step: number; returns: Record<string, number>; carried: Record<string, number> },
): string | null {
  if (spec.hud === null) return null;
  const returns = { ...at.returns };
  if (spec.hudScoreCarryOver) addReturns(returns, at.carried);
  const policies = spec.policies ?? {};
  const humans = Object.keys(policies).filter((a) => policies[a]?.kind === "human");
  const values = { score: hudScore(returns, humans), episode: at.episode, numEpisodes: spec.numEpisodes, step: at.step, maxSteps: spec.maxSteps ?? 0 };
  return formatHud(spec.hud, values);
}
