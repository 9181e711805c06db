import { test } from "node:test";
import assert from "node:assert/strict";
import { ActionResolver, sameAction } from "../src/input";

const mapping = [
  { keys: ["ArrowLeft"], action: 1 },
  { keys: ["ArrowRight"], action: 2 },
  { keys: ["ArrowUp"], action: 3 },
  { keys: ["ArrowLeft", "ArrowUp"], action: 4 },
  { keys: ["w"], action: [0, 1] },
];

test("no key held gives the default action", () => {
  const r = new ActionResolver(mapping, 0);
  assert.equal(r.current(), 0);
});

test("the latest held mapped key wins", () => {
  const r = new ActionResolver(mapping, 0);
  r.press("ArrowLeft");
  assert.equal(r.current(), 1);
  r.press("ArrowRight");
  assert.equal(r.current(), 2);
  r.release("ArrowRight");
  assert.equal(r.current(), 1);
  r.release("ArrowLeft");
  assert.equal(r.current(), 0);
});

test("a held chord maps to its composite action in any press order", () => {
  const r = new ActionResolver(mapping, 0);
  r.press("ArrowUp");
  r.press("ArrowLeft");
  assert.equal(r.current(), 4);
  r.release("ArrowUp");
  assert.equal(r.current(), 1);
});

test("unmapped keys are ignored and single characters ignore case", () => {
  const r = new ActionResolver(mapping, 0);
  r.press("x");
  assert.equal(r.current(), 0);
  assert.equal(r.isMapped("x"), false);
  r.press("W");
  assert.deepEqual(r.current(), [0, 1]);
  assert.equal(r.isMapped("ArrowUp"), true);
  r.releaseAll();
  assert.equal(r.current(), 0);
});

test("actions compare by value", () => {
  assert.ok(sameAction([0, 1], [0, 1]));
  assert.ok(!sameAction([0, 1], [1, 0]));
  assert.ok(!sameAction(1, "1"));
});
