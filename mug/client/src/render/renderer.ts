// Draws render states (docs/env.md) with Phaser. Objects with an id persist until changed or
// removed; objects without an id live for one frame. Sprites draw the textures the scene declared
// (docs/assets.md), which the page loaded before the game (asset_loader.ts) and hands over with
// `useSprites`; a sprite naming anything else is reported once through `onProblem`, never drawn blank.

import Phaser from "phaser";
import type { RenderObject, RenderState } from "../protocol";
import type { LoadedImages } from "./asset_loader";
import { num, parseColor, Viewport } from "./geometry";
import { SpriteBook, SpriteError, textureFrames } from "./sprites";

/** Phaser's key of a declared texture (apart from the renderer's own, e.g. "mug-image-3"). */
const spriteKey = (key: string): string => `sprite:${key}`;

type Drawn = Phaser.GameObjects.GameObject & {
  setDepth(d: number): unknown;
  setAlpha(a: number): unknown;
};

export interface RendererStats {
  objects: number;
  images: number;
  framesApplied: number;
  errors: number;
}

const COLOR_ALPHA = "mugColorAlpha";

/** Remembers the alpha part of a "#rrggbbaa" color for objects that only have a global alpha. */
function withColorAlpha<T extends Phaser.GameObjects.GameObject>(obj: T, alpha: number): T {
  obj.setData(COLOR_ALPHA, alpha);
  return obj;
}

function colorAlpha(obj: Phaser.GameObjects.GameObject): number {
  const value: unknown = obj.getData(COLOR_ALPHA);
  return typeof value === "number" ? value : 1;
}

class DrawScene extends Phaser.Scene {
  private readonly persistent = new Map<string, Drawn>();
  private transient: Drawn[] = [];
  private readonly queue: { state: RenderState; full: boolean }[] = [];
  private imageSerial = 0;
  view!: Viewport;
  stats: RendererStats = { objects: 0, images: 0, framesApplied: 0, errors: 0 };
  onReady: (() => void) | null = null;
  onProblem: ((message: string) => void) | null = null;
  private book = new SpriteBook(null);
  private images: LoadedImages | null = null;
  private readonly problems = new Set<string>();
  /** Animated sprites on screen, and when each persistent one's animation started (kept while it plays on). */
  private animated: { sprite: Phaser.GameObjects.Sprite; key: string; at: number }[] = [];
  private readonly animationStarts = new Map<string, { key: string; at: number }>();
  private readonly startedAt = performance.now();

  constructor() {
    super({ key: "mug-draw" });
  }

  create(): void {
    this.view = new Viewport(this.scale.width, this.scale.height);
    this.registerSprites();
    this.onReady?.();
  }

  /** The scene's declared textures and their loaded images (registered now, or once Phaser is ready). */
  useSprites(book: SpriteBook, images: LoadedImages): void {
    this.book = book;
    this.images = images;
    if (this.view) this.registerSprites();
  }

  private registerSprites(): void {
    if (!this.images) return;
    for (const t of this.book.textures.values()) {
      const img = this.images.get(t.key);
      if (!img || this.textures.exists(spriteKey(t.key))) continue;
      const texture = this.textures.addImage(spriteKey(t.key), img);
      if (!texture) continue;
      for (const f of textureFrames(t)) texture.add(f.name, 0, f.x, f.y, f.w, f.h);
    }
  }

  private problem(message: string): void {
    if (this.problems.has(message)) return;
    this.problems.add(message);
    this.onProblem?.(message);
  }

  enqueue(state: RenderState, full: boolean): void {
    if (full) this.queue.length = 0; // a full frame supersedes anything still pending
    this.queue.push({ state, full });
  }

  override update(): void {
    this.flush();
    this.animate();
  }

  /** Moves every animated sprite on screen to the frame its animation shows now. */
  private animate(): void {
    if (this.animated.length === 0) return;
    const now = performance.now();
    this.animated = this.animated.filter((a) => a.sprite.active);
    for (const a of this.animated) {
      const { frame } = this.book.animationFrame(a.key, now - a.at);
      if (frame !== undefined && String(a.sprite.frame.name) !== String(frame)) {
        const { displayWidth, displayHeight } = a.sprite;
        a.sprite.setFrame(frame).setDisplaySize(displayWidth, displayHeight);
      }
    }
  }

  /** Applies every pending frame in order (diffs build on each other). */
  flush(): void {
    if (!this.view) return;
    while (this.queue.length > 0) {
      const { state, full } = this.queue.shift()!;
      if (full) this.clearAll();
      this.apply(state);
    }
  }

  private clearAll(): void {
    for (const obj of this.persistent.values()) obj.destroy();
    this.persistent.clear();
    for (const obj of this.transient) obj.destroy();
    this.transient = [];
  }

  private apply(state: RenderState): void {
    for (const obj of this.transient) obj.destroy();
    this.transient = [];
    for (const id of state.removed) {
      this.persistent.get(id)?.destroy();
      this.persistent.delete(id);
      this.animationStarts.delete(id);
    }
    for (const spec of state.objects) {
      let drawn: Drawn | null = null;
      try {
        if (spec.id !== null && spec.type === "image") {
          const existing = this.persistent.get(spec.id);
          if (existing instanceof Phaser.GameObjects.Image) {
            this.updateImage(existing, spec);
            continue;
          }
        }
        drawn = this.create_(spec);
      } catch (err) {
        this.stats.errors++;
        if (err instanceof SpriteError) this.problem(err.message);
        else console.warn("mug: cannot draw object", spec, err);
        continue;
      }
      drawn.setDepth(num(spec.depth, 0));
      drawn.setAlpha(num(spec.alpha, 1) * colorAlpha(drawn));
      if (spec.id !== null) {
        this.persistent.get(spec.id)?.destroy();
        this.persistent.set(spec.id, drawn);
      } else {
        this.transient.push(drawn);
      }
    }
    this.stats.framesApplied++;
    this.stats.objects = this.persistent.size + this.transient.length;
  }

  private create_(o: RenderObject): Drawn {
    const v = this.view;
    switch (o.type) {
      case "rect": {
        // Rotation is about the centre (docs/env.md), so the origin is the centre.
        const fill = parseColor(o.fill);
        const w = v.x(o.w);
        const h = v.y(o.h);
        const r = this.add.rectangle(v.x(o.x) + w / 2, v.y(o.y) + h / 2, w, h, fill?.color ?? 0, fill?.alpha ?? 0);
        r.setAngle(num(o.angle, 0));
        this.stroke(r, o);
        return r;
      }
      case "circle": {
        const fill = parseColor(o.fill);
        const c = this.add.circle(v.x(o.x), v.y(o.y), v.radius(o.radius), fill?.color ?? 0, fill?.alpha ?? 0);
        this.stroke(c, o);
        return c;
      }
      case "ellipse": {
        const fill = parseColor(o.fill);
        const e = this.add.ellipse(v.x(o.x), v.y(o.y), v.x(o.w), v.y(o.h), fill?.color ?? 0, fill?.alpha ?? 0);
        this.stroke(e, o);
        return e;
      }
      case "arc": {
        // Fill paints the pie slice; stroke draws only the curved edge (docs/env.md).
        const g = this.add.graphics();
        const cx = v.x(o.x);
        const cy = v.y(o.y);
        const radius = v.radius(o.radius);
        const start = Phaser.Math.DegToRad(num(o.start_angle));
        const end = Phaser.Math.DegToRad(num(o.end_angle));
        const fill = parseColor(o.fill);
        if (fill) {
          g.fillStyle(fill.color, fill.alpha);
          g.slice(cx, cy, radius, start, end, false);
          g.fillPath();
        }
        const stroke = parseColor(o.stroke);
        if (stroke && num(o.stroke_width, 0) > 0) {
          g.lineStyle(num(o.stroke_width), stroke.color, stroke.alpha);
          g.beginPath();
          g.arc(cx, cy, radius, start, end, false);
          g.strokePath();
        }
        return g;
      }
      case "line": {
        const color = parseColor(o.color) ?? { color: 0, alpha: 1 };
        const g = this.add.graphics();
        g.lineStyle(num(o.width, 1), color.color, color.alpha);
        g.strokePoints(v.points(o.points), false);
        return g;
      }
      case "polygon": {
        const g = this.add.graphics();
        const points = v.points(o.points);
        const fill = parseColor(o.fill);
        if (fill) {
          g.fillStyle(fill.color, fill.alpha);
          g.fillPoints(points, true);
        }
        const stroke = parseColor(o.stroke);
        if (stroke && num(o.stroke_width, 0) > 0) {
          g.lineStyle(num(o.stroke_width), stroke.color, stroke.alpha);
          g.strokePoints(points, true);
        }
        return g;
      }
      case "text": {
        const color = parseColor(o.color) ?? { color: 0, alpha: 1 };
        const align = o.align === "center" || o.align === "right" ? o.align : "left";
        const t = this.add.text(v.x(o.x), v.y(o.y), String(o.text ?? ""), {
          fontFamily: typeof o.font === "string" ? o.font : "sans-serif",
          fontSize: `${num(o.size, 16)}px`,
          color: `#${color.color.toString(16).padStart(6, "0")}`,
          align,
        });
        t.setOrigin(align === "center" ? 0.5 : align === "right" ? 1 : 0, 0);
        return withColorAlpha(t, color.alpha);
      }
      case "sprite": {
        // Rotation is about the centre, as for rects.
        const key = String(o.texture);
        const w = v.x(o.w);
        const h = v.y(o.h);
        const animation = this.book.animations.has(key);
        let at = this.startedAt;
        if (animation && typeof o.id === "string") {
          const started = this.animationStarts.get(o.id);
          at = started?.key === key ? started.at : performance.now();
          this.animationStarts.set(o.id, { key, at });
        }
        const { texture, frame } = animation
          ? this.book.animationFrame(key, performance.now() - at)
          : { texture: key, frame: this.book.frameName(key, o.frame) };
        if (!this.textures.exists(spriteKey(texture))) throw new SpriteError(`the image of texture '${texture}' is not loaded`);
        const s = this.add.sprite(v.x(o.x) + w / 2, v.y(o.y) + h / 2, spriteKey(texture), frame);
        s.setDisplaySize(w, h).setAngle(num(o.angle, 0));
        if (animation) this.animated.push({ sprite: s, key, at });
        return s;
      }
      case "image": {
        const img = this.add.image(v.x(o.x ?? 0), v.y(o.y ?? 0), "__DEFAULT");
        img.setOrigin(0, 0);
        this.updateImage(img, o);
        return img;
      }
      default:
        throw new Error(`unknown object type ${JSON.stringify((o as { type: unknown }).type)}`);
    }
  }

  private stroke(shape: Phaser.GameObjects.Shape, o: RenderObject): void {
    const stroke = parseColor(o.stroke);
    const width = num(o.stroke_width, 0);
    if (stroke && width > 0) shape.setStrokeStyle(width, stroke.color, stroke.alpha);
  }

  /** Decodes a PNG data URL into a texture of its own and shows it on `img` when ready. */
  private updateImage(img: Phaser.GameObjects.Image, o: RenderObject): void {
    const v = this.view;
    const src = String(o.src);
    const x = v.x(o.x ?? 0);
    const y = v.y(o.y ?? 0);
    const w = v.x(o.w ?? 1);
    const h = v.y(o.h ?? 1);
    const decoded = new Image();
    const key = `mug-image-${++this.imageSerial}`;
    decoded.onload = () => {
      if (!img.active) return;
      const previous = img.texture.key;
      this.textures.addImage(key, decoded);
      img.setTexture(key).setPosition(x, y).setDisplaySize(w, h);
      if (previous.startsWith("mug-image-")) this.textures.remove(previous);
      this.stats.images++;
    };
    decoded.src = src;
  }
}

/** A Phaser game sized to the scene that draws the frames it is given. */
export class Renderer {
  private readonly game: Phaser.Game;
  private readonly scene: DrawScene;
  readonly ready: Promise<void>;

  constructor(parent: HTMLElement, width: number, height: number, background: string) {
    this.scene = new DrawScene();
    this.ready = new Promise((resolve) => {
      this.scene.onReady = resolve;
    });
    this.game = new Phaser.Game({
      // Canvas, not WebGL: render states are a few dozen 2D shapes, and on machines without a GPU
      // (software WebGL) the WebGL path kept the main thread busy enough to push the p99 Socket.IO
      // round trip from ~3 ms to ~36 ms and server tick lateness p99 from ~1.6 ms to ~10 ms.
      type: Phaser.CANVAS,
      parent,
      width,
      height,
      backgroundColor: background,
      banner: false,
      audio: { noAudio: true },
      input: { keyboard: false, mouse: false, touch: false, gamepad: false },
      scene: this.scene,
    });
  }

  /** The scene's declared textures, with the images the page loaded (before its first frame);
   * `onProblem` hears of each sprite that cannot be drawn, once. */
  useSprites(book: SpriteBook, images: LoadedImages, onProblem: (message: string) => void): void {
    this.scene.onProblem = onProblem;
    this.scene.useSprites(book, images);
  }

  draw(state: RenderState, full: boolean): void {
    this.scene.enqueue(state, full);
  }

  get stats(): RendererStats {
    return this.scene.stats;
  }

  destroy(): void {
    this.game.destroy(true);
  }
}
