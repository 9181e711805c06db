import { test } from "node:test";
import assert from "node:assert/strict";
import { formatHud, formatScore, hudScore, hudText } from "../../src/runtime/hud";

test("scores show as the server shows them (mug/scenes/hud.py)", () => {
  assert.deepEqual([3, -1.5, 0.25, 1 / 3, 2.999, -0.001].map(formatScore), ["3", "-1.5", "0.25", "0.33", "3", "0"]);
});

test("HUD fields are filled in; doubled braces are braces; unknown names are left", () => {
  const v = { score: 2.5, episode: 2, numEpisodes: 3, step: 4, maxSteps: 9 };
  assert.equal(formatHud("S {score} E {episode}/{num_episodes} {step}/{max_steps} {{x}} {other}", v), "S 2.5 E 2/3 4/9 {x} {other}");
  assert.equal(hudScore({ human: 2, bot: 5 }, ["human"]), 2);
  assert.equal(hudScore({ a: 2, b: 5 }, []), 7);
});

test("with carry-over the score is the game's total so far", () => {
  const spec = { hud: "Score {score}", numEpisodes: 2, maxSteps: 10, policies: { p: { kind: "human" }, b: { kind: "random" } } };
  const at = { episode: 2, step: 1, returns: { p: 1, b: 4 }, carried: { p: 3, b: 1 } };
  assert.equal(hudText(spec, at), "Score 1");
  assert.equal(hudText({ ...spec, hudScoreCarryOver: true }, at), "Score 4");
  assert.equal(hudText({ ...spec, hud: null }, at), null);
});
