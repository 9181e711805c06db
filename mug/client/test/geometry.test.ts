import { test } from "node:test";
import assert from "node:assert/strict";
import { parseColor, Viewport } from "../src/render/geometry";

test("colors parse with and without alpha", () => {
  assert.deepEqual(parseColor("#ff0000"), { color: 0xff0000, alpha: 1 });
  assert.deepEqual(parseColor("#0f0"), { color: 0x00ff00, alpha: 1 });
  assert.deepEqual(parseColor("#00000080"), { color: 0, alpha: 128 / 255 });
  assert.equal(parseColor(null), null);
  assert.throws(() => parseColor("red"), /invalid color/);
});

test("normalised coordinates scale to the game size; radii to its width", () => {
  const v = new Viewport(600, 400);
  assert.equal(v.x(0.5), 300);
  assert.equal(v.y(0.5), 200);
  assert.equal(v.radius(0.1), 60);
  assert.deepEqual(v.points([[0, 0], [1, 1]]), [{ x: 0, y: 0 }, { x: 600, y: 400 }]);
  assert.throws(() => v.x("1"), /finite number/);
  assert.throws(() => v.points([[0]]), /\[x, y\]/);
});
