// Turns keyboard state into actions according to a scene's action_mapping.
// Pure logic (no DOM) so it is unit-tested in Node.

import type { ActionBinding, Json } from "./protocol";

/** Key names compare case-insensitively for single characters ("a" and "A" are one key). */
export function normalizeKey(key: string): string {
  return key.length === 1 ? key.toLowerCase() : key;
}

export class ActionResolver {
  private readonly singles = new Map<string, Json>();
  private readonly composites: { keys: string[]; action: Json }[] = [];
  private readonly held: string[] = []; // in press order

  constructor(
    mapping: ActionBinding[],
    readonly defaultAction: Json,
  ) {
    for (const binding of mapping) {
      const keys = binding.keys.map(normalizeKey);
      if (keys.length === 1) this.singles.set(keys[0]!, binding.action);
      else this.composites.push({ keys, action: binding.action });
    }
    // Larger chords win over their subsets.
    this.composites.sort((a, b) => b.keys.length - a.keys.length);
  }

  /** True when the key takes part in any mapping (the page then keeps it from scrolling). */
  isMapped(key: string): boolean {
    const k = normalizeKey(key);
    return this.singles.has(k) || this.composites.some((c) => c.keys.includes(k));
  }

  press(key: string): void {
    const k = normalizeKey(key);
    if (!this.held.includes(k)) this.held.push(k);
  }

  release(key: string): void {
    const k = normalizeKey(key);
    const i = this.held.indexOf(k);
    if (i >= 0) this.held.splice(i, 1);
  }

  releaseAll(): void {
    this.held.length = 0;
  }

  /** The action for the keys held now: the largest held chord, else the latest held mapped key. */
  current(): Json {
    for (const chord of this.composites) {
      if (chord.keys.every((k) => this.held.includes(k))) return chord.action;
    }
    for (let i = this.held.length - 1; i >= 0; i--) {
      const action = this.singles.get(this.held[i]!);
      if (action !== undefined) return action;
    }
    return this.defaultAction;
  }
}

/** Compares two actions by value (actions may be numbers, strings or arrays). */
export function sameAction(a: Json, b: Json): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
