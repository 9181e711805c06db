// The sprite textures a scene declares (GymScene.assets, docs/assets.md) as the page receives them,
// and the pure rules for drawing them: which frame of a texture a sprite names (by name or index),
// which frame an animation shows after some time, and what is wrong with a sprite that cannot be
// drawn. No DOM and no Phaser here, so Node tests cover it (test/sprites.test.ts).

/** One declared texture: its URL (relative to the page), size, and frames. */
export interface TextureSpec {
  key: string;
  kind: "image" | "spritesheet" | "atlas";
  url: string;
  width: number;
  height: number;
  /** A sprite sheet's grid; its frames are numbered left to right, top to bottom. */
  sheet?: { frame_width: number; frame_height: number; margin: number; spacing: number; count: number };
  /** An atlas's frames in the order of its JSON: [name, x, y, w, h]. */
  frames?: [string, number, number, number, number][];
}

/** An animation: frames of one sprite sheet or atlas shown at `frame_rate` a second. */
export interface AnimationSpec {
  texture: string;
  frames: (string | number)[];
  frame_rate: number;
  repeat: boolean;
}

export interface AssetsSpec {
  textures: TextureSpec[];
  animations: Record<string, AnimationSpec>;
}

/** A frame as the renderer registers it: Phaser's frame name and its rectangle in the image. */
export interface FrameRect {
  name: string | number;
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Every frame of a texture, in index order (none for a plain image, which is drawn whole). */
export function textureFrames(t: TextureSpec): FrameRect[] {
  if (t.kind === "atlas") return (t.frames ?? []).map(([name, x, y, w, h]) => ({ name, x, y, w, h }));
  if (t.kind !== "spritesheet" || !t.sheet) return [];
  const { frame_width: fw, frame_height: fh, margin, spacing, count } = t.sheet;
  const columns = Math.floor((t.width - 2 * margin + spacing) / (fw + spacing));
  const out: FrameRect[] = [];
  for (let i = 0; i < count; i++) {
    const row = Math.floor(i / columns);
    const column = i % columns;
    out.push({ name: i, x: margin + column * (fw + spacing), y: margin + row * (fh + spacing), w: fw, h: fh });
  }
  return out;
}

/** Throws a participant-readable error naming the texture and frame when a sprite cannot be drawn. */
export class SpriteError extends Error {}

/** Looks up declared textures and animations by key. */
export class SpriteBook {
  readonly textures = new Map<string, TextureSpec>();
  private readonly frameNames = new Map<string, (string | number)[]>();
  readonly animations: Map<string, AnimationSpec>;

  constructor(readonly spec: AssetsSpec | null) {
    for (const t of spec?.textures ?? []) {
      this.textures.set(t.key, t);
      this.frameNames.set(t.key, textureFrames(t).map((f) => f.name));
    }
    this.animations = new Map(Object.entries(spec?.animations ?? {}));
  }

  get keys(): string[] {
    return [...this.textures.keys(), ...this.animations.keys()];
  }

  /** The Phaser frame name for `frame` of `texture` (undefined: the whole image). */
  frameName(texture: string, frame: unknown): string | number | undefined {
    const t = this.textures.get(texture);
    if (!t) {
      const declared = this.keys.map((k) => `'${k}'`).join(", ") || "none";
      throw new SpriteError(`sprite texture '${texture}' was not declared in GymScene.assets() (declared: ${declared})`);
    }
    if (frame === null || frame === undefined || t.kind === "image") return undefined;
    const names = this.frameNames.get(texture) ?? [];
    if (typeof frame === "number") {
      if (Number.isInteger(frame) && frame >= 0 && frame < names.length) return names[frame];
      throw new SpriteError(`sprite frame ${frame} of '${texture}' does not exist: it has frames 0 to ${names.length - 1}`);
    }
    if (typeof frame === "string" && names.includes(frame)) return frame;
    throw new SpriteError(`sprite frame ${JSON.stringify(frame)} is not a frame of '${texture}'`);
  }

  /** The texture and frame animation `key` shows `elapsedMs` after it started. */
  animationFrame(key: string, elapsedMs: number): { texture: string; frame: string | number | undefined } {
    const anim = this.animations.get(key)!;
    const index = animationIndex(anim, elapsedMs);
    return { texture: anim.texture, frame: this.frameName(anim.texture, anim.frames[index]) };
  }
}

/** Which of an animation's frames shows `elapsedMs` after it started: looping, or held at the last. */
export function animationIndex(anim: AnimationSpec, elapsedMs: number): number {
  const n = anim.frames.length;
  const step = Math.floor((Math.max(0, elapsedMs) * anim.frame_rate) / 1000);
  return anim.repeat ? step % n : Math.min(step, n - 1);
}
