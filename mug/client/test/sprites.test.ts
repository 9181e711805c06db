import { test } from "node:test";
import assert from "node:assert/strict";
import { animationIndex, SpriteBook, SpriteError, textureFrames, type AssetsSpec } from "../src/render/sprites";

const spec: AssetsSpec = {
  textures: [
    { key: "chef", kind: "image", url: "assets/s/chef", width: 4, height: 4 },
    {
      key: "tiles", kind: "spritesheet", url: "assets/s/tiles", width: 21, height: 12,
      sheet: { frame_width: 8, frame_height: 4, margin: 1, spacing: 2, count: 4 },
    },
    { key: "kitchen", kind: "atlas", url: "assets/s/kitchen", width: 16, height: 16, frames: [["red", 0, 0, 8, 8], ["green", 8, 0, 8, 8]] },
  ],
  animations: {
    blink: { texture: "tiles", frames: [0, 3], frame_rate: 4, repeat: true },
    once: { texture: "kitchen", frames: ["red", "green"], frame_rate: 10, repeat: false },
  },
};

test("sprite sheet frames are a grid numbered left to right, top to bottom (margin and spacing)", () => {
  const frames = textureFrames(spec.textures[1]!);
  assert.deepEqual(frames.map((f) => [f.name, f.x, f.y]), [[0, 1, 1], [1, 11, 1], [2, 1, 7], [3, 11, 7]]);
  assert.deepEqual(textureFrames(spec.textures[0]!), []);
});

test("frames by name or index; an undeclared texture or missing frame names what exists", () => {
  const book = new SpriteBook(spec);
  assert.equal(book.frameName("chef", 3), undefined); // a plain image is drawn whole
  assert.equal(book.frameName("tiles", 2), 2);
  assert.equal(book.frameName("kitchen", 1), "green");
  assert.equal(book.frameName("kitchen", "red"), "red");
  assert.throws(() => book.frameName("cook", null), (e: Error) => e instanceof SpriteError && /'cook' was not declared in GymScene.assets\(\) \(declared: 'chef', 'tiles', 'kitchen', 'blink', 'once'\)/.test(e.message));
  assert.throws(() => book.frameName("tiles", 4), /frames 0 to 3/);
  assert.throws(() => book.frameName("kitchen", "blue"), /"blue" is not a frame of 'kitchen'/);
});

test("animations loop at their frame rate, or hold the last frame", () => {
  const book = new SpriteBook(spec);
  assert.deepEqual([0, 249, 250, 500, 750].map((t) => book.animationFrame("blink", t).frame), [0, 0, 3, 0, 3]);
  assert.deepEqual([0, 100, 1000].map((t) => book.animationFrame("once", t).frame), ["red", "green", "green"]);
  assert.equal(animationIndex(spec.animations.blink!, -5), 0);
});
