import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { RenderObject, RenderState } from "../../src/protocol";
import { divergentPositions, fullStates } from "../../src/widgets/_replay_frames";

const rect = (id: string | null, x: number): RenderObject => ({ type: "rect", id, depth: 0, alpha: 1, x, y: 0, w: 1, h: 1 });
const text = (t: string): RenderObject => ({ type: "text", id: null, depth: 1, alpha: 1, x: 0, y: 0, text: t });
const diff = (objects: RenderObject[], removed: string[] = []): RenderState => ({ objects, removed });
const shape = (state: RenderState) => state.objects.map((o) => `${o.id ?? o.text}@${o.x}`);

describe("a replay's frames, drawn whole when the researcher jumps or scrubs", () => {
  const diffs = [
    diff([rect("bg", 0), rect("dot", 0.5), text("t=0")]), // the first frame is whole
    diff([rect("dot", 0.6), text("t=1")]), // the dot moved; the background is still on screen
    diff([text("t=2")], ["dot"]), // the dot went away
    diff([rect("dot", 0.1), rect("bg", 0.2)]), // back, and the background changed: redrawn last
  ];

  it("holds what is on screen after each diff: persistent objects kept, one-frame objects only in theirs", () => {
    const states = fullStates(diffs);
    assert.deepEqual(states.map(shape), [
      ["bg@0", "dot@0.5", "t=0@0"],
      ["bg@0", "dot@0.6", "t=1@0"],
      ["bg@0", "t=2@0"],
      ["dot@0.1", "bg@0.2"],
    ]);
    assert.ok(states.every((s) => s.removed.length === 0));
  });

  it("marks the positions whose step differs from the record", () => {
    const steps = [{ divergences: [] }, { divergences: [] }, { divergences: ["step 2: rewards.a"] }, { divergences: [] }];
    assert.deepEqual(divergentPositions(steps), [2]);
  });
});
