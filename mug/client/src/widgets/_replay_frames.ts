// Full render states from the diffs a replay widget holds, so any frame can be drawn at once (a jump
// or a scrub) with the same renderer that draws diffs one after another while playing.
//
// A diff is what the participants' page received (mug/env/differ.py): every id'd object that is new
// or changed, every object without an id, and the ids removed. The full state after diff i is the
// id'd objects still on screen plus diff i's objects without an id, in the order the renderer would
// have them after applying the diffs one by one (a changed object is redrawn last, on top of equals).
import type { RenderObject, RenderState } from "../protocol";

export function fullStates(diffs: readonly RenderState[]): RenderState[] {
  const states: RenderState[] = [];
  let onScreen = new Map<string, RenderObject>();
  for (const diff of diffs) {
    const next = new Map(onScreen);
    for (const id of diff.removed ?? []) next.delete(id);
    const transient: RenderObject[] = [];
    for (const obj of diff.objects ?? []) {
      if (obj.id === null || obj.id === undefined) {
        transient.push(obj);
      } else {
        next.delete(obj.id); // re-inserted at the end: the renderer destroys and recreates it
        next.set(obj.id, obj);
      }
    }
    onScreen = next;
    states.push({ objects: [...onScreen.values(), ...transient], removed: [] });
  }
  return states;
}

/** Steps the scrub bar marks: the positions whose step differs from the record. */
export function divergentPositions(steps: readonly { divergences: readonly string[] }[]): number[] {
  const found: number[] = [];
  steps.forEach((step, i) => {
    if (step.divergences.length > 0) found.push(i);
  });
  return found;
}
