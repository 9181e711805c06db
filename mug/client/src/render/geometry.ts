// Pure helpers for drawing render-state objects: colors and normalised → pixel coordinates.

export interface Rgba {
  color: number; // 0xRRGGBB
  alpha: number; // 0..1
}

/** Parses "#rgb", "#rrggbb" or "#rrggbbaa"; null/undefined means "no color". */
export function parseColor(value: unknown): Rgba | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== "string" || !/^#([0-9a-f]{3}|[0-9a-f]{6}|[0-9a-f]{8})$/i.test(value)) {
    throw new Error(`invalid color ${JSON.stringify(value)}`);
  }
  let hex = value.slice(1);
  if (hex.length === 3) hex = hex.split("").map((c) => c + c).join("");
  const color = parseInt(hex.slice(0, 6), 16);
  const alpha = hex.length === 8 ? parseInt(hex.slice(6, 8), 16) / 255 : 1;
  return { color, alpha };
}

export class Viewport {
  constructor(
    readonly width: number,
    readonly height: number,
  ) {}

  x(v: unknown): number {
    return num(v) * this.width;
  }

  y(v: unknown): number {
    return num(v) * this.height;
  }

  /** Circle radii are fractions of the game width. */
  radius(v: unknown): number {
    return num(v) * this.width;
  }

  points(v: unknown): { x: number; y: number }[] {
    if (!Array.isArray(v)) throw new Error("points must be a list of [x, y]");
    return v.map((p) => {
      if (!Array.isArray(p) || p.length !== 2) throw new Error("each point must be [x, y]");
      return { x: this.x(p[0]), y: this.y(p[1]) };
    });
  }
}

export function num(v: unknown, fallback?: number): number {
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (v === undefined && fallback !== undefined) return fallback;
  throw new Error(`expected a finite number, got ${JSON.stringify(v)}`);
}
